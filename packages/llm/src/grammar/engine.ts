// Grammars in the model worker: the model's vocabulary as xgrammar sees it, a compile cache keyed by EBNF text, and one
// matcher per constrained request. The matcher's next-token bitmask is computed as soon as a token is accepted (a
// microtask after the step that sampled it), so it is ready when the next step samples; a request whose mask is
// not ready yet sits that step out instead of holding the batch.
import { join } from "node:path";
import { readJsonFile } from "../json-file.js";
import { LlmError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import { grammarToEbnf } from "./convert.js";
import type { GrammarSpec } from "./spec.js";
import type * as Xg from "@mlc-ai/web-xgrammar";
import { xgCall, xgrammar } from "./xgrammar.js";

type CompiledGrammar = Xg.CompiledGrammar;
type GrammarCompiler = Xg.GrammarCompiler;
type GrammarMatcher = Xg.GrammarMatcher;

/** Compiled grammars kept per model (least recently used disposed first). */
const COMPILED_ENTRIES = 64;

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
  /** Grammars compiled against the vocabulary so far, and the milliseconds that took in all. */
  readonly compiled: number;
  readonly compileMs: number;
  /** Requests whose grammar was found compiled. */
  readonly cacheHits: number;
  /** Next-token masks computed so far. */
  readonly masks: number;
  /**
   * How long the masks of one step held the model worker (every constrained request's, computed together after the
   * step that sampled their tokens): median and 99th percentile over the last 4096 steps, ms.
   */
  readonly maskStepP50Ms: number;
  readonly maskStepP99Ms: number;
  /** Steps whose masks were timed so far, and the last 4096 of those times (ms, oldest first). */
  readonly maskSteps: number;
  readonly recentMaskStepMs: number[];
}

/** Mask timings kept for the percentiles. */
const MASK_TIMES = 4096;

/** The p-th percentile (nearest rank) of `values`; 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * The grammars of one model: the vocabulary prepared for xgrammar (on first use), compiled grammars by EBNF text,
 * and a {@link SequenceGrammar} for each constrained request.
 */
export class GrammarEngine {
  #compiler: Promise<GrammarCompiler> | undefined;
  readonly #compiled = new Map<string, Promise<CompiledGrammar>>();
  #stats = { compiled: 0, compileMs: 0, cacheHits: 0, masks: 0, maskSteps: 0 };
  readonly #maskTimes: number[] = [];
  /** Masks being computed now, and when the first of them started. */
  #inFlight = 0;
  #batchStart = 0;
  readonly #timing = {
    started: () => {
      if (this.#inFlight++ === 0) this.#batchStart = performance.now();
    },
    done: () => {
      this.#stats.masks++;
      if (--this.#inFlight === 0) this.#maskTimes[this.#stats.maskSteps++ % MASK_TIMES] = performance.now() - this.#batchStart;
    },
  };

  /** Grammars for the model in `dir` with `tokenizer`, whose logits rows have `logitsSize` entries. */
  constructor(
    private readonly dir: string,
    private readonly tokenizer: Tokenizer,
    private readonly logitsSize: number,
  ) {}

  /** A matcher for `spec` (checked), ready once compiled; EBNF is compiled as is, any other spec converted here first. */
  start(spec: GrammarSpec): SequenceGrammar {
    return new SequenceGrammar(this.compile(spec), this.tokenizer.eosIds, this.#timing);
  }

  /** Counters of the compile cache, and what the masks cost. */
  stats(): GrammarStats {
    const { compiled, compileMs, cacheHits, masks, maskSteps } = this.#stats;
    const at = maskSteps % MASK_TIMES;
    const recentMaskStepMs = this.#maskTimes.length < MASK_TIMES ? [...this.#maskTimes] : [...this.#maskTimes.slice(at), ...this.#maskTimes.slice(0, at)];
    return { compiled, compileMs, cacheHits, masks, maskStepP50Ms: percentile(this.#maskTimes, 50), maskStepP99Ms: percentile(this.#maskTimes, 99), maskSteps, recentMaskStepMs };
  }

  /** The compiled grammar of `spec`, from the cache when its EBNF text was compiled before. */
  private async compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    const ebnf = spec.type === "ebnf" ? spec.grammar : await grammarToEbnf(spec);
    const hit = this.#compiled.get(ebnf);
    if (hit !== undefined) {
      this.#stats.cacheHits++;
      this.#compiled.delete(ebnf);
      this.#compiled.set(ebnf, hit);
      return hit;
    }
    const compiled = this.compiler().then((compiler) => {
      const t0 = performance.now();
      return xgCall(() => compiler.compileGrammar(ebnf, "root")).then(
        (grammar) => {
          this.#stats.compiled++;
          this.#stats.compileMs += performance.now() - t0;
          return grammar;
        },
        (error: unknown) => {
          throw new LlmError("VALIDATION", `grammar: ${error instanceof Error ? error.message : String(error)}`, { field: "grammar" }, { cause: error });
        },
      );
    });
    this.#compiled.set(ebnf, compiled);
    compiled.catch(() => this.#compiled.delete(ebnf));
    if (this.#compiled.size > COMPILED_ENTRIES) {
      const [oldest, evicted] = this.#compiled.entries().next().value as [string, Promise<CompiledGrammar>];
      this.#compiled.delete(oldest);
      evicted.then((g) => g.dispose(), () => undefined); // matchers made from it keep their own reference
    }
    return compiled;
  }

  /** The compiler over this model's vocabulary, built on first use. */
  private compiler(): Promise<GrammarCompiler> {
    this.#compiler ??= (async () => {
      const json = await readJsonFile(join(this.dir, "tokenizer.json"));
      const xg = xgrammar();
      const vocab: string[] = [];
      for (let id = 0; id < this.logitsSize; id++) {
        // special tokens (and ids past the tokenizer) are "": xgrammar never allows them inside the text, so
        // `<|im_start|>` cannot appear in a JSON string; eos is allowed where the grammar may end.
        vocab.push(this.tokenizer.isSpecial(id) || this.tokenizer.isEos(id) ? "" : this.tokenizer.idToToken(id) ?? "");
      }
      const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, vocabType(json), prependsSpace(json), this.logitsSize, [...this.tokenizer.eosIds]);
      return xg.GrammarCompiler.createGrammarCompiler(info, false);
    })();
    return this.#compiler;
  }
}

/**
 * One request's matcher: not {@link SequenceGrammar.ready} until its grammar is compiled and its first mask computed,
 * then again after each accepted token until the next mask is. `onReady` is called each time it becomes ready.
 */
export class SequenceGrammar {
  #matcher: GrammarMatcher | undefined;
  #mask: Int32Array | undefined;
  #failure: unknown;
  #disposed = false;
  /** Called when a mask (or a failure) becomes available. */
  onReady: (() => void) | undefined;

  /** A matcher once `compiled` is; `timing` is told when each mask starts and ends. */
  constructor(
    compiled: Promise<CompiledGrammar>,
    stopIds: readonly number[],
    private readonly timing: { started(): void; done(): void } = { started: () => undefined, done: () => undefined },
  ) {
    const xg = xgrammar();
    compiled
      .then((grammar) => xg.GrammarMatcher.createGrammarMatcher(grammar, stopIds.length > 0 ? [...stopIds] : undefined))
      .then((matcher) => {
        if (this.#disposed) return matcher.dispose();
        this.#matcher = matcher;
        this.#fill(matcher);
      })
      .catch((error: unknown) => this.#fail(error));
  }

  /** True when the next token's mask is known (or the grammar failed: then {@link SequenceGrammar.mask} throws). */
  get ready(): boolean {
    return this.#mask !== undefined || this.#failure !== undefined;
  }

  /**
   * The allowed next tokens: bit `id & 31` of word `id >> 5` set for each (bits past the vocabulary may be set: the
   * caller reads only its logits row). Throws the grammar's failure (a refused grammar, an xgrammar error).
   */
  mask(): Int32Array {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#mask === undefined) throw new LlmError("VALIDATION", "grammar mask requested before it was ready");
    return this.#mask;
  }

  /**
   * Advance past `tokenId` (which the mask allowed) and start computing the next mask. Returns true when the grammar
   * is complete: it accepted a stop token, or nothing may follow.
   */
  accept(tokenId: number): boolean {
    const matcher = this.#matcher;
    if (matcher === undefined) throw new LlmError("VALIDATION", "grammar token accepted before the grammar was ready");
    this.#mask = undefined;
    if (!matcher.acceptToken(tokenId)) throw new LlmError("VALIDATION", `the grammar refused token ${tokenId}, which its mask allowed`);
    if (matcher.isTerminated()) return true;
    this.#fill(matcher);
    return false;
  }

  /** Frees the matcher (a finished, failed or cancelled request). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#matcher?.dispose();
    this.#matcher = undefined;
  }

  /** Compute the next mask once the current task (the step) is done, timed with the other masks of that step. */
  #fill(matcher: GrammarMatcher): void {
    queueMicrotask(() => {
      this.timing.started();
      matcher.getNextTokenBitmask().then(
        (mask: Int32Array) => {
          this.timing.done();
          if (this.#disposed || this.#matcher !== matcher) return;
          this.#mask = mask;
          this.onReady?.();
        },
        (error: unknown) => {
          this.timing.done();
          this.#fail(error);
        },
      );
    });
  }

  #fail(error: unknown): void {
    this.#failure = error;
    this.onReady?.();
  }
}
