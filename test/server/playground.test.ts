/**
 * The playground in headless Chromium (Debian's chromium, driven by playwright-core): type a prompt, see the answer
 * stream in with a tokens/s readout, press stop — the server cancels the generation; chat mode keeps a conversation.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REF } from "../generation/helpers.js";
import { MODEL, nextRequest, startServer, type Running } from "./helpers.js";

const CHROMIUM = process.env.ACTORLM_CHROMIUM ?? "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "actorlm-chromium-"));
let running: Running;
let browser: BrowserContext;
let page: Page;
beforeAll(async () => {
  running = await startServer();
  // a fresh profile directory (playwright passes it as --user-data-dir)
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(running.url);
  await page.locator("#model option").first().waitFor({ state: "attached" });
  expect(errors, errors.join("\n")).toEqual([]);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await running?.close();
  rmSync(profile, { recursive: true, force: true });
});

const [P0] = REF.prompts;

/** The little of the browser's DOM the page functions below use (the test compiles without the DOM library). */
interface Dom {
  document: { querySelector(selector: string): { textContent: string | null } | null; getElementById(id: string): object };
  MutationObserver: new (callback: () => void) => { observe(target: object, options: object): void };
  updates: number;
}

/** Waits until the text of `selector` matches `re` (Playwright re-checks as the page changes). */
async function until(selector: string, re: RegExp): Promise<string> {
  await page.waitForFunction(
    ([sel, source, flags]) => new RegExp(source, flags).test((globalThis as unknown as Dom).document.querySelector(sel)?.textContent ?? ""),
    [selector, re.source, re.flags] as const,
    { timeout: 20_000 },
  );
  return (await page.textContent(selector)) ?? "";
}

describe("the playground", () => {
  it("streams a greedy completion with a tokens/s readout", async () => {
    await page.fill("#temperature", "0");
    await page.fill("#max-tokens", "40");
    await page.fill("#prompt", P0.prompt);
    // count the answer's visible updates: streamed text arrives in many steps, not once at the end
    await page.evaluate(() => {
      const w = globalThis as unknown as Dom;
      w.updates = 0;
      new w.MutationObserver(() => w.updates++).observe(w.document.getElementById("output"), { childList: true, characterData: true, subtree: true });
    });
    await page.click("#send");
    await until("#status", /^done \(length\)$/);
    expect(await page.evaluate(() => (globalThis as unknown as Dom).updates)).toBeGreaterThan(10);
    expect(await page.textContent("#output")).toBe(P0.greedy_text);
    expect(await page.textContent("#count")).toBe("40 tokens");
    expect(await page.textContent("#rate")).toMatch(/^\d+(\.\d)? tokens\/s$/);
    expect(await page.inputValue("#model")).toBe(MODEL);
  });

  it("stop cancels the generation on the server", async () => {
    await page.fill("#max-tokens", "900");
    await page.fill("#prompt", "And it came to pass");
    const ended = nextRequest(running.server, (log) => log.path === "/v1/completions");
    await page.click("#send");
    await until("#output", /.{21}/s);
    expect(await page.isEnabled("#stop-button")).toBe(true);
    await page.click("#stop-button");
    const log = await ended;
    expect(log.outcome).toBe("cancelled");
    expect(log.completionTokens).toBeLessThan(900);
    await until("#status", /^stopped$/);
    expect(await page.isEnabled("#send")).toBe(true);
    expect(await running.server.models.get(MODEL).host.call("activeSequences")).toBe(0);
  });

  it("chat mode keeps the conversation and sends it whole", async () => {
    await page.check('input[name="mode"][value="chat"]');
    await page.fill("#max-tokens", "6");
    await page.fill("#prompt", "Who made the heaven and the earth?");
    await page.click("#send");
    await until("#status", /^done/);
    await page.fill("#prompt", "And the sea?");
    const second = nextRequest(running.server, (log) => log.path === "/v1/chat/completions");
    await page.click("#send");
    await until("#status", /^done/);
    expect(await page.locator("#conversation .user").allTextContents()).toEqual(["Who made the heaven and the earth?", "And the sea?"]);
    expect(await page.locator("#conversation .assistant").count()).toBe(2);
    expect((await second).promptTokens).toBeGreaterThan(20); // the whole conversation, not just the last line
  });
});
