import { describe, expect, it } from "vitest";
import { StopMatcher } from "../../packages/llm/src/generation/stop.js";
import { Rng } from "../../packages/llm/src/sampling/rng.js";

/** Push every delta; returns the emitted pieces, the index of the delta that stopped (or -1) and the flush. */
function run(stops: string[], deltas: string[]): { emits: string[]; stoppedAt: number; out: string; m: StopMatcher } {
  const m = new StopMatcher(stops);
  const emits: string[] = [];
  let stoppedAt = -1;
  deltas.forEach((d, i) => {
    const r = m.push(d);
    emits.push(r.emit);
    if (r.stopped && stoppedAt < 0) stoppedAt = i;
  });
  const tail = m.flush();
  return { emits, stoppedAt, out: emits.join("") + tail, m };
}

/** Reference: the text before the earliest stop occurrence, or all of it. */
function expected(stops: string[], text: string): string {
  const hits = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
  return hits.length > 0 ? text.slice(0, Math.min(...hits)) : text;
}

/**
 * Streaming reference: generation stops at the first delta after which some stop string occurs in the text so far;
 * the output is that text up to the earliest occurrence (later text would never have been generated).
 */
function expectedStreaming(stops: string[], deltas: string[]): string {
  let text = "";
  for (const d of deltas) {
    text += d;
    if (stops.some((s) => text.includes(s))) return expected(stops, text);
  }
  return text;
}

describe("StopMatcher", () => {
  it("passes text through when there are no stops", () => {
    expect(run([], ["a", "b"]).emits).toEqual(["a", "b"]);
  });

  it("stops inside one delta and never emits the stop or what follows", () => {
    const r = run(["Amen"], ["In the beginning. Amen and more", " after"]);
    expect(r.emits).toEqual(["In the beginning. ", ""]);
    expect(r.stoppedAt).toBe(0);
    expect(r.out).toBe("In the beginning. ");
    expect(r.m.matched).toBe("Amen");
  });

  it("stops on a string spanning several deltas", () => {
    const r = run(["\n\nAnd"], ["God said", ".\n", "\nA", "nd it was", " so"]);
    expect(r.emits).toEqual(["God said", ".", "", "", ""]);
    expect(r.stoppedAt).toBe(3);
    expect(r.out).toBe("God said.");
  });

  it("holds a partial prefix, then releases it when the text diverges", () => {
    const r = run(["LORD God"], ["the LO", "RD", " said"]);
    expect(r.emits).toEqual(["the ", "", "LORD said"]);
    expect(r.stoppedAt).toBe(-1);
    expect(r.out).toBe("the LORD said");
  });

  it("holds only the longest suffix that can still become a stop", () => {
    const m = new StopMatcher(["abcd", "cx"]);
    expect(m.push("zzabc")).toEqual({ emit: "zz", stopped: false }); // "abc" may become "abcd"
    expect(m.push("x")).toEqual({ emit: "ab", stopped: true }); // "cx" completes first
    expect(m.matched).toBe("cx");
  });

  it("stops at the first stop completed, even if a longer one starting earlier might still complete", () => {
    // " " completes while "a b" is still a prefix: generation ends there, "b" is never produced
    expect(run([" ", "a b"], ["a", " ", "b"]).out).toBe("a");
  });

  it("picks the earliest of several stops", () => {
    expect(run(["world", "lo"], ["hello world"]).out).toBe("hel");
    expect(run(["o w", "wor"], ["hello ", "world"]).out).toBe("hell");
    const tie = run(["ab", "abc"], ["xabc"]);
    expect(tie.out).toBe("x");
    expect(tie.m.matched).toBe("abc");
  });

  it("stops at the very start", () => {
    const r = run(["In"], ["In the beginning"]);
    expect(r.emits).toEqual([""]);
    expect(r.stoppedAt).toBe(0);
    expect(r.out).toBe("");
    expect(run(["\n"], ["", "\n", "x"]).out).toBe("");
  });

  it("emits nothing after stopping, flush included", () => {
    const m = new StopMatcher(["."]);
    expect(m.push("a.b")).toEqual({ emit: "a", stopped: true });
    expect(m.push("more")).toEqual({ emit: "", stopped: true });
    expect(m.flush()).toBe("");
    expect(m.stopped).toBe(true);
  });

  it("releases held text on flush (length stop)", () => {
    const m = new StopMatcher(["Amen."]);
    expect(m.push("so be it. Ame")).toEqual({ emit: "so be it. ", stopped: false });
    expect(m.flush()).toBe("Ame");
    expect(m.stopped).toBe(false);
  });

  it("handles repeated-character stops and overlapping prefixes", () => {
    expect(run(["aab"], ["a", "a", "a", "b", "c"]).out).toBe("a");
    expect(run(["aab"], ["a", "a", "a", "c"]).out).toBe("aaac");
    expect(run(["😀😀"], ["x😀", "y😀", "😀z"]).out).toBe("x😀y");
  });

  it("matches a reference on random texts split at random points", () => {
    const rng = new Rng(31337);
    const alphabet = "ab \n";
    for (let trial = 0; trial < 2000; trial++) {
      const len = rng.nextU32() % 20;
      let text = "";
      for (let i = 0; i < len; i++) text += alphabet[rng.nextU32() % alphabet.length];
      const stops = Array.from({ length: 1 + (rng.nextU32() % 3) }, () => {
        let s = "";
        for (let i = 0, n = 1 + (rng.nextU32() % 4); i < n; i++) s += alphabet[rng.nextU32() % alphabet.length];
        return s;
      });
      const deltas: string[] = [];
      for (let i = 0; i < text.length; ) {
        const step = rng.nextU32() % 4; // empty deltas too
        deltas.push(text.slice(i, i + step));
        i += step;
      }
      const r = run(stops, deltas);
      const want = expectedStreaming(stops, deltas);
      expect(r.out).toBe(want);
      // every emitted prefix is a prefix of the answer: nothing emitted is ever taken back
      let acc = "";
      for (const e of r.emits) {
        acc += e;
        expect(want.startsWith(acc)).toBe(true);
      }
      // one character per delta is the finest streaming; then the answer is what an offline scan up to the
      // first completed stop gives
      expect(run(stops, [...text]).out).toBe(expectedStreaming(stops, [...text]));
    }
  });
});
