/**
 * A GGUF file's tokenizer metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`) as the Hugging Face files the
 * engine's tokenizer and chat template read: tokenizer.json, tokenizer_config.json, and the ids config.json gives.
 *
 * - `tokenizer.ggml.model` "gpt2": byte-level BPE over `tokens` and `merges`; the pre-tokenizer from
 *   `tokenizer.ggml.pre` (gpt-2, llama-bpe / llama3, qwen2, smollm: each the regex llama.cpp applies).
 * - "llama": SentencePiece-style BPE — "▁" for spaces (and one prepended unless `add_space_prefix` is false), merges
 *   made from the `scores` (a pair merges at the rank of the score of the token it makes, highest first, which is the
 *   order llama.cpp's SPM tokenizer merges in), bytes not in the vocabulary as `<0xXX>` tokens.
 * - Tokens of type CONTROL (3) and UNKNOWN (2) become special added tokens, USER_DEFINED (4) ordinary added tokens.
 *   Their literal text in a prompt is matched as that one token, which is llama.cpp's `parse_special = true`
 *   (what llama-server does with prompts).
 * - bos / eos from `bos_token_id` / `eos_token_id` (and `eot_token_id`, `eom_token_id`, which also end generation
 *   in llama.cpp); bos is prepended when `add_bos_token` says so (default: true for "llama", false for "gpt2"), eos
 *   appended when `add_eos_token` is true.
 */
import type { GgufValue } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import type { Metadata } from "./architectures.js";

/** The Hugging Face files a GGUF's tokenizer metadata stands for. */
export interface TokenizerFiles {
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
  /** `bos_token_id` / `eos_token_id` as config.json would give them. */
  readonly modelConfig: Record<string, unknown>;
}

const TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER = 4, TYPE_BYTE = 6;

/** Pre-tokenizer regexes by `tokenizer.ggml.pre` (the ones llama.cpp's llama-vocab.cpp applies). */
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevel = (useRegex: boolean) => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string) => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });

const PRE_TOKENIZERS: Readonly<Record<string, unknown>> = {
  "gpt-2": byteLevel(true),
  default: byteLevel(true),
  "llama-bpe": { type: "Sequence", pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] },
  llama3: { type: "Sequence", pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] },
  qwen2: { type: "Sequence", pretokenizers: [split(QWEN2_REGEX), byteLevel(false)] },
  smollm: { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel(true)] },
};

/** The tokenizer files for a GGUF file's metadata; MODEL_LOAD naming the key that is missing or not supported. */
export function ggufTokenizerFiles(m: Metadata): TokenizerFiles {
  const refuse = (key: string, why: string): never => {
    throw new LlmError("MODEL_LOAD", `${m.path}: metadata key "${key}" ${why}`, { file: m.path });
  };
  const model = m.get("tokenizer.ggml.model");
  if (model === undefined) refuse("tokenizer.ggml.model", "is missing");
  if (model !== "gpt2" && model !== "llama") refuse("tokenizer.ggml.model", `is ${JSON.stringify(model)}: not supported (gpt2, llama)`);
  const tokens = strings(m.get("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens", refuse);
  const types = numbers(m.get("tokenizer.ggml.token_type"), "tokenizer.ggml.token_type", tokens.length, refuse);
  const id = (key: string): number | undefined => {
    const v = m.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= tokens.length) return refuse(key, `must be a token id below ${tokens.length}, got ${JSON.stringify(v)}`);
    return v;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = m.get(key);
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") return refuse(key, `must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  const spm = model === "llama";
  const bos = id("tokenizer.ggml.bos_token_id"), eos = id("tokenizer.ggml.eos_token_id");
  const enders = [eos, id("tokenizer.ggml.eot_token_id"), id("tokenizer.ggml.eom_token_id")].filter((x): x is number => x !== undefined);
  const addBos = flag("tokenizer.ggml.add_bos_token", spm) && bos !== undefined;
  const addEos = flag("tokenizer.ggml.add_eos_token", false) && eos !== undefined;

  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!Object.hasOwn(vocab, t)) vocab[t] = i;
  });
  const added = tokens.flatMap((content, i) => {
    const type = types?.[i] ?? 1;
    if (type !== TYPE_CONTROL && type !== TYPE_UNKNOWN && type !== TYPE_USER) return [];
    return [{ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: type === TYPE_USER && spm, special: type !== TYPE_USER }];
  });
  const template = (seq: string) => [
    ...(addBos ? [{ SpecialToken: { id: tokens[bos!], type_id: 0 } }] : []),
    { Sequence: { id: seq, type_id: 0 } },
    ...(addEos ? [{ SpecialToken: { id: tokens[eos!], type_id: 0 } }] : []),
  ];
  const specials: Record<string, unknown> = {};
  for (const x of [addBos ? bos : undefined, addEos ? eos : undefined]) {
    if (x !== undefined) specials[tokens[x]] = { id: tokens[x], ids: [x], tokens: [tokens[x]] };
  }
  const postProcessor = addBos || addEos ? { type: "TemplateProcessing", single: template("A"), pair: [...template("A"), ...template("B")], special_tokens: specials } : null;

  let tokenizerJson: Record<string, unknown>;
  if (!spm) {
    const pre = m.get("tokenizer.ggml.pre") ?? "default";
    const preTokenizer = typeof pre === "string" ? PRE_TOKENIZERS[pre] : undefined;
    if (preTokenizer === undefined) refuse("tokenizer.ggml.pre", `is ${JSON.stringify(pre)}: not supported (${Object.keys(PRE_TOKENIZERS).join(", ")})`);
    const merges = strings(m.get("tokenizer.ggml.merges"), "tokenizer.ggml.merges", refuse);
    tokenizerJson = {
      version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
      pre_tokenizer: preTokenizer, post_processor: postProcessor,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
    };
  } else {
    const scores = numbers(m.get("tokenizer.ggml.scores"), "tokenizer.ggml.scores", tokens.length, refuse) ?? refuse("tokenizer.ggml.scores", "is missing");
    const unk = id("tokenizer.ggml.unknown_token_id");
    const prefix = flag("tokenizer.ggml.add_space_prefix", true);
    tokenizerJson = {
      version: "1.0", truncation: null, padding: null, added_tokens: added,
      normalizer: { type: "Sequence", normalizers: [...(prefix ? [{ type: "Prepend", prepend: "▁" }] : []), { type: "Replace", pattern: { String: " " }, content: "▁" }] },
      pre_tokenizer: null, post_processor: postProcessor,
      decoder: {
        type: "Sequence", decoders: [
          { type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" },
          ...(prefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: "BPE", dropout: null, unk_token: unk === undefined ? null : tokens[unk], continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: mergesFromScores(tokens, scores, types),
      },
    };
  }
  const tokenizerConfig: Record<string, unknown> = { clean_up_tokenization_spaces: false };
  if (bos !== undefined) tokenizerConfig.bos_token = tokens[bos];
  if (eos !== undefined) tokenizerConfig.eos_token = tokens[eos];
  const chat = m.get("tokenizer.chat_template");
  if (chat !== undefined) {
    if (typeof chat !== "string") refuse("tokenizer.chat_template", "must be a string");
    tokenizerConfig.chat_template = chat;
  }
  return { tokenizerJson, tokenizerConfig, modelConfig: { bos_token_id: bos ?? null, eos_token_id: enders } };
}

/**
 * BPE merges for a SentencePiece vocabulary: every split of a normal token into two tokens of the vocabulary, ranked
 * by the score of the token the pair makes (highest first; ties by its id), as transformers' converter does.
 */
function mergesFromScores(tokens: readonly string[], scores: readonly number[], types: readonly number[] | undefined): string[][] {
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!ids.has(t)) ids.set(t, i);
  });
  const merges: { pair: string[]; score: number; id: number; left: number }[] = [];
  tokens.forEach((t, i) => {
    const type = types?.[i] ?? 1;
    if (type !== 1) return;
    const chars = [...t];
    let at = 0;
    for (let k = 1; k < chars.length; k++) {
      at += chars[k - 1].length;
      const a = t.slice(0, at), b = t.slice(at);
      const ia = ids.get(a), ib = ids.get(b);
      if (ia !== undefined && ib !== undefined) merges.push({ pair: [a, b], score: scores[i], id: i, left: ia });
    }
  });
  merges.sort((x, y) => y.score - x.score || x.id - y.id || x.left - y.left);
  return merges.map((x) => x.pair);
}

function strings(v: GgufValue | undefined, key: string, refuse: (key: string, why: string) => never): string[] {
  if (!Array.isArray(v)) return refuse(key, v === undefined ? "is missing" : "must be an array of strings");
  if (!v.every((s) => typeof s === "string")) return refuse(key, "must be an array of strings");
  return v as string[];
}

function numbers(v: GgufValue | undefined, key: string, length: number, refuse: (key: string, why: string) => never): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) return refuse(key, "must be an array of numbers");
  if (v.length !== length) return refuse(key, `holds ${v.length} entries for ${length} tokens`);
  return v as number[];
}
