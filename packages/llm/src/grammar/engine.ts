// Grammars of one model, seen from the model worker: a grammar thread (grammar-thread.ts) holds xgrammar with the
// model's vocabulary, compiles grammars and runs the matchers; each constrained request has a shared slot its masks
// are written to. A request sits out of the steps until its grammar is compiled and its first mask written; after it
// samples a token, its next mask is computed on the grammar thread while the model runs the next forward pass, and
// read from the slot when that pass's logits are sampled (waiting only if the grammar thread is behind).
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { readJsonFile } from "../json-file.js";
import { LlmError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import type { GrammarSpec } from "./spec.js";
import {
  SLOT_MASK, SLOT_MASK_US, SLOT_STATUS, SLOT_VERSION, STATUS_FAILED, slotBytes,
  type FromGrammarThread, type ToGrammarThread,
} from "./protocol.js";

/** Longest the model worker waits for a mask before failing the request (the grammar thread is stuck or gone). */
const MASK_TIMEOUT_MS = 30_000;

/** How xgrammar must decode the vocabulary strings of tokenizer.json into bytes. */
export type VocabType = "byte_level" | "byte_fallback" | "raw";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether a tokenizer.json component (or a Sequence of them) is of `type`. */
function has(component: unknown, type: string): boolean {
  if (!isObject(component)) return false;
  if (component.type === type) return true;
  const parts = component.pretokenizers ?? component.decoders ?? component.normalizers;
  return Array.isArray(parts) && parts.some((p) => has(p, type));
}

/**
 * The vocabulary type of a tokenizer.json: `byte_level` for GPT-2-style byte-level BPE (Llama 3, Qwen, the embedded
 * model), `byte_fallback` for SentencePiece-style vocabularies (`▁` for spaces, `<0x0A>` byte tokens: Gemma,
 * Mistral, Llama 2), `raw` otherwise.
 */
export function vocabType(tokenizerJson: unknown): VocabType {
  if (!isObject(tokenizerJson)) return "raw";
  if (has(tokenizerJson.decoder, "ByteLevel") || has(tokenizerJson.pre_tokenizer, "ByteLevel")) return "byte_level";
  const model = tokenizerJson.model;
  if ((isObject(model) && model.byte_fallback === true) || has(tokenizerJson.decoder, "ByteFallback") || has(tokenizerJson.decoder, "Metaspace")) return "byte_fallback";
  return "raw";
}

/** Whether tokenizing prepends a space to the text (SentencePiece's `▁` prefix). */
function prependsSpace(tokenizerJson: unknown): boolean {
  if (!isObject(tokenizerJson)) return false;
  return has(tokenizerJson.normalizer, "Prepend") || (isObject(tokenizerJson.pre_tokenizer) && tokenizerJson.pre_tokenizer.type === "Metaspace" && tokenizerJson.pre_tokenizer.prepend_scheme !== "never");
}

/** The compile cache's counters (for benchmarks and tests). */
export interface GrammarStats {
  /** Grammars compiled against the vocabulary so far (on the grammar thread), and the milliseconds that took in all. */
  readonly compiled: number;
  readonly compileMs: number;
  /** Requests whose grammar was found compiled. */
  readonly cacheHits: number;
  /** Next-token masks used so far. */
  readonly masks: number;
  /** What a mask took on the grammar thread: median and 99th percentile of the last 4096, ms. */
  readonly maskP50Ms: number;
  readonly maskP99Ms: number;
  /**
   * How long the model worker waited for a mask the grammar thread had not written yet when the logits were
   * sampled (0 when it was ready): median and 99th percentile of the last 4096, ms. This is what masks cost the batch.
   */
  readonly waitP50Ms: number;
  readonly waitP99Ms: number;
  /** The last 4096 masks' times and waits (ms, oldest first; `masks` says how many there were in all). */
  readonly recentMaskMs: number[];
  readonly recentWaitMs: number[];
}

/** Mask timings kept for the percentiles. */
const MASK_TIMES = 4096;

/** The p-th percentile (nearest rank) of `values`; 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A ring of the last MASK_TIMES values, oldest first on read. */
class Ring {
  readonly #values: number[] = [];
  #count = 0;
  push(v: number): void {
    this.#values[this.#count++ % MASK_TIMES] = v;
  }
  get count(): number {
    return this.#count;
  }
  list(): number[] {
    const at = this.#count % MASK_TIMES;
    return this.#values.length < MASK_TIMES ? [...this.#values] : [...this.#values.slice(at), ...this.#values.slice(0, at)];
  }
}

/**
 * The grammars of one model: its grammar thread (started on first use, with the vocabulary as xgrammar must see it)
 * and a {@link SequenceGrammar} for each constrained request.
 */
export class GrammarEngine {
  #thread: Worker | undefined;
  #nextId = 1;
  readonly #live = new Map<number, SequenceGrammar>();
  #stats = { compiled: 0, compileMs: 0, cacheHits: 0 };
  readonly #maskMs = new Ring();
  readonly #waitMs = new Ring();

  /** Grammars for the model in `dir` with `tokenizer`, whose logits rows have `logitsSize` entries. */
  constructor(
    private readonly dir: string,
    private readonly tokenizer: Tokenizer,
    private readonly logitsSize: number,
  ) {}

  /**
   * A matcher for `spec` (checked): EBNF is compiled as is, any other spec converted on the grammar thread first. It
   * is {@link SequenceGrammar.ready} once compiled and its first mask written.
   */
  start(spec: GrammarSpec): SequenceGrammar {
    const id = this.#nextId++;
    const slot = new SharedArrayBuffer(slotBytes(this.logitsSize));
    const grammar = new SequenceGrammar(slot, this.tokenizer.eosIds, {
      accept: (token) => this.#post({ type: "accept", id, token }),
      dispose: () => {
        this.#live.delete(id);
        this.#post({ type: "dispose", id });
      },
      timed: (maskMs, waitMs) => {
        this.#maskMs.push(maskMs);
        this.#waitMs.push(waitMs);
      },
    });
    this.#live.set(id, grammar);
    const start = spec.type === "ebnf" ? { ebnf: spec.grammar } : { spec: JSON.stringify(spec) };
    this.#post({ type: "start", id, slot, ...start });
    return grammar;
  }

  /** Counters of the compile cache, and what the masks cost. */
  stats(): GrammarStats {
    const masks = this.#maskMs.list();
    const waits = this.#waitMs.list();
    return {
      ...this.#stats,
      masks: this.#maskMs.count,
      maskP50Ms: percentile(masks, 50),
      maskP99Ms: percentile(masks, 99),
      waitP50Ms: percentile(waits, 50),
      waitP99Ms: percentile(waits, 99),
      recentMaskMs: masks,
      recentWaitMs: waits,
    };
  }

  #post(message: ToGrammarThread): void {
    if (this.#thread !== undefined) return this.#thread.postMessage(message); // at once: the next forward runs meanwhile
    this.#threadOf().then((thread) => thread.postMessage(message), (error: unknown) => {
      if (message.type === "start") this.#live.get(message.id)?.fail(error);
    });
  }

  #starting: Promise<Worker> | undefined;

  /** The grammar thread, started (and given the vocabulary) on first use; unref'ed, so it never keeps a process alive. */
  #threadOf(): Promise<Worker> {
    this.#starting ??= (async () => {
      const json = await readJsonFile(join(this.dir, "tokenizer.json"));
      const vocab: string[] = [];
      for (let id = 0; id < this.logitsSize; id++) {
        // special tokens (and ids past the tokenizer) are "": xgrammar never allows them inside the text, so
        // `<|im_start|>` cannot appear in a JSON string; eos is allowed where the grammar may end.
        vocab.push(this.tokenizer.isSpecial(id) || this.tokenizer.isEos(id) ? "" : this.tokenizer.idToToken(id) ?? "");
      }
      const thread = new Worker(new URL("./grammar-thread.js", import.meta.url), { name: "actorlm:grammar" });
      thread.unref();
      thread.on("message", (message: FromGrammarThread) => this.#onMessage(message));
      thread.on("error", (error) => {
        for (const grammar of this.#live.values()) grammar.fail(error);
      });
      thread.postMessage({ type: "init", vocab, vocabType: vocabType(json), prependSpace: prependsSpace(json), logitsSize: this.logitsSize, stopIds: [...this.tokenizer.eosIds] } satisfies ToGrammarThread);
      this.#thread = thread;
      return thread;
    })();
    return this.#starting;
  }

  #onMessage(message: FromGrammarThread): void {
    const grammar = this.#live.get(message.id);
    if (message.compileMs !== undefined) {
      this.#stats.compiled++;
      this.#stats.compileMs += message.compileMs;
    } else if (message.error === undefined) this.#stats.cacheHits++;
    if (grammar === undefined) return;
    if (message.error !== undefined) grammar.fail(new LlmError("VALIDATION", message.error.message, { field: message.error.field ?? "grammar" }));
    else grammar.started();
  }
}

/** What a {@link SequenceGrammar} tells its engine. */
interface GrammarLink {
  accept(token: number): void;
  dispose(): void;
  timed(maskMs: number, waitMs: number): void;
}

/**
 * One request's matcher, run on the grammar thread: {@link SequenceGrammar.ready} once its grammar is compiled and
 * its first mask written (`onReady` is called then, or when it failed); from then on each mask is read from the
 * shared slot when the logits are sampled.
 */
export class SequenceGrammar {
  readonly #view: Int32Array;
  readonly #mask: Int32Array;
  /** Masks the slot must hold before the next one may be read. */
  #expected = 1;
  #started = false;
  #failure: unknown;
  #disposed = false;
  /** Called when the first mask (or a failure) becomes available. */
  onReady: (() => void) | undefined;

  constructor(slot: SharedArrayBuffer, private readonly stopIds: readonly number[], private readonly link: GrammarLink) {
    this.#view = new Int32Array(slot);
    this.#mask = this.#view.subarray(SLOT_MASK);
  }

  /** True once the first mask is written (or the grammar failed: then {@link SequenceGrammar.mask} throws). */
  get ready(): boolean {
    return this.#started || this.#failure !== undefined;
  }

  /**
   * The allowed next tokens: bit `id & 31` of word `id >> 5` set for each. Waits (blocking, bounded) when the grammar
   * thread has not written it yet; throws the grammar's failure.
   */
  mask(): Int32Array {
    if (this.#failure !== undefined) throw this.#failure;
    const t0 = performance.now();
    for (;;) {
      const version = Atomics.load(this.#view, SLOT_VERSION);
      if (version >= this.#expected) break;
      const left = MASK_TIMEOUT_MS - (performance.now() - t0);
      if (left <= 0) throw new LlmError("VALIDATION", `grammar: no mask from the grammar thread within ${MASK_TIMEOUT_MS} ms`, { field: "grammar" });
      Atomics.wait(this.#view, SLOT_VERSION, version, left);
    }
    const waited = performance.now() - t0;
    if (Atomics.load(this.#view, SLOT_STATUS) === STATUS_FAILED) {
      this.#failure ??= new LlmError("VALIDATION", "grammar: the matcher failed on the grammar thread", { field: "grammar" });
      throw this.#failure;
    }
    this.link.timed(Atomics.load(this.#view, SLOT_MASK_US) / 1000, waited);
    return this.#mask;
  }

  /**
   * Advance past `tokenId` (which the mask allowed): the grammar thread computes the next mask meanwhile. Returns
   * true when the grammar is complete (it accepted a stop token).
   */
  accept(tokenId: number): boolean {
    if (this.stopIds.includes(tokenId)) return true;
    this.#expected++;
    this.link.accept(tokenId);
    return false;
  }

  /** Frees the matcher (a finished, failed or cancelled request). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.link.dispose();
  }

  /** The first mask is written (the engine saw the grammar thread's word). */
  started(): void {
    this.#started = true;
    this.onReady?.();
  }

  /** The grammar failed: the request fails when it samples next. */
  fail(error: unknown): void {
    this.#failure ??= error;
    this.onReady?.();
  }
}
