// Tool calls in a streamed completion: text passes through until it may be the start of a call (the format's marker,
// or a prefix of it at the end of what arrived); from there it is held until the call is complete, then reported as
// OpenAI streams calls: a delta with the call's index, id, type and name (arguments ""), then one with its arguments.
// Held text that never becomes a call is released as text. Joined, the deltas equal `parseToolCalls` of the whole text.
import type { ToolCallFormat } from "./formats.js";

/** One piece of a streamed call, as OpenAI's `delta.tool_calls[i]`. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

/** What a piece of streamed text becomes: text to show, and call deltas. */
export interface ToolStreamEvent {
  content: string;
  toolCalls: ToolCallDelta[];
}

/** Splits a streamed completion into text and tool-call deltas for one format. */
export class ToolCallStream {
  #held = "";
  #calls = 0;
  /** Released whitespace not yet emitted: dropped if a call follows it, emitted before the next text otherwise. */
  #space = "";
  /** True right after a call: whitespace is dropped until text comes. */
  #afterCall = false;

  /** A stream over `format`'s syntax; `id` names each call (`call_…` by default, see `toolCallId`). */
  constructor(private readonly format: ToolCallFormat, private readonly id: () => string) {}

  /** Calls reported so far. */
  get calls(): number {
    return this.#calls;
  }

  /** The text and call deltas `delta` (the next piece of the completion) releases. */
  push(delta: string): ToolStreamEvent {
    this.#held += delta;
    return this.#drain(false);
  }

  /** The end of the stream: the last calls, and held text that did not become a call (text after all). */
  flush(): ToolStreamEvent {
    const out = this.#drain(true);
    this.#text(out, this.#held);
    out.content += this.#space;
    this.#held = "";
    this.#space = "";
    return out;
  }

  /**
   * Report the complete calls in the held text and release the text before them; hold from the first possible
   * marker on. A call ending exactly where the text ends waits for the next piece (unless `final`): what follows
   * may still belong to it (Llama 3.1's `; ` separator).
   */
  #drain(final: boolean): ToolStreamEvent {
    const out: ToolStreamEvent = { content: "", toolCalls: [] };
    for (;;) {
      const found = this.format.find(this.#held);
      if (found !== undefined && (final || found.end < this.#held.length)) {
        this.#text(out, this.#held.slice(0, found.start));
        this.#space = "";
        this.#afterCall = true;
        for (const call of found.calls) {
          const index = this.#calls++;
          out.toolCalls.push({ index, id: this.id(), type: "function", function: { name: call.name, arguments: "" } });
          out.toolCalls.push({ index, function: { arguments: call.arguments } });
        }
        this.#held = this.#held.slice(found.end);
        continue;
      }
      if (found !== undefined || final) return out;
      const marker = this.#held.indexOf(this.format.marker);
      const hold = marker >= 0 ? marker : this.#partialMarker();
      this.#text(out, this.#held.slice(0, hold));
      this.#held = this.#held.slice(hold);
      return out;
    }
  }

  /** Release text; whitespace next to a call is dropped, as `ToolCallFormat.parse` drops it. */
  #text(out: ToolStreamEvent, text: string): void {
    let t = text;
    if (this.#afterCall) {
      t = t.trimStart();
      if (t === "") return;
      this.#afterCall = false;
    }
    const all = this.#space + t;
    const body = all.trimEnd();
    out.content += body;
    this.#space = all.slice(body.length);
  }

  /** Where a suffix of the held text that is a prefix of the marker starts (the held length when none). */
  #partialMarker(): number {
    const m = this.format.marker;
    for (let k = Math.min(m.length - 1, this.#held.length); k > 0; k--) if (this.#held.endsWith(m.slice(0, k))) return this.#held.length - k;
    return this.#held.length;
  }
}
