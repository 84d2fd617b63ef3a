// Tokenizer: a thin wrapper over @huggingface/tokenizers that knows the model's bos / eos ids.
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { LlmError } from "./errors.js";
import { ggufModelTokenizer, isGgufModel } from "./gguf/model-file.js";
import { isObject, readJsonFile } from "./json-file.js";

/** Options for {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Apply the post-processor's template (e.g. prepend bos). Default true. */
  addSpecialTokens?: boolean;
}

/** Options for {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens (bos, eos, …) from the text. Default true. */
  skipSpecialTokens?: boolean;
  /** Apply transformers' `clean_up_tokenization` (" ." → "." …). Default: tokenizer_config's value, else false. */
  cleanUpSpaces?: boolean;
}

/** The optional configs that may name bos / eos ids, as parsed JSON. */
export interface TokenizerExtras {
  /** Parsed generation_config.json. */
  generationConfig?: unknown;
  /** Parsed config.json. */
  modelConfig?: unknown;
}

type Json = Record<string, unknown>;

/** A token's content from a tokenizer_config entry (a string or an AddedToken-like `{ content }`). */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** Ids from a config field that holds one id or a list of ids. */
function idList(v: unknown): number[] {
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is number => Number.isSafeInteger(x) && (x as number) >= 0);
}

/** Whether a pre-tokenizer (or a Sequence of them) maps text to bytes first (GPT-2's byte-level BPE). */
function isByteLevel(preTokenizer: unknown): boolean {
  if (!isObject(preTokenizer)) return false;
  if (preTokenizer.type === "ByteLevel") return true;
  return preTokenizer.type === "Sequence" && Array.isArray(preTokenizer.pretokenizers) && preTokenizer.pretokenizers.some(isByteLevel);
}

/**
 * Most bytes of input text one token can stand for, from tokenizer.json; Infinity when no bound holds. A BPE
 * that is byte-level (each vocabulary character is one byte) or falls back to byte tokens covers every input
 * byte by some token's own bytes, so the longest token (or added token) bounds it; at least 4, one whole
 * character. A normalizer may shrink text before that (NFKC maps a 4-byte character to a 1-byte one), hence
 * ×4 when there is one. Any other model may fuse unknown characters into one unk token: no bound.
 */
function maxTokenBytes(json: Json): number {
  const model = json.model;
  if (!isObject(model) || model.type !== "BPE") return Infinity;
  const byteLevel = isByteLevel(json.pre_tokenizer);
  if (!byteLevel && model.byte_fallback !== true) return Infinity;
  let max = 4;
  for (const token of Object.keys(isObject(model.vocab) ? model.vocab : {})) {
    max = Math.max(max, byteLevel ? [...token].length : Buffer.byteLength(token));
  }
  for (const added of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
    const content = tokenContent(added);
    if (content !== undefined) max = Math.max(max, Buffer.byteLength(content));
  }
  return json.normalizer === null || json.normalizer === undefined ? max : 4 * max;
}

/** Encodes text to token ids and decodes ids to text, with the model's special token ids. */
export class Tokenizer {
  /** Id of the beginning-of-sequence token, or null when the model has none. */
  readonly bosId: number | null;
  /** Ids that end generation (generation_config first, then config.json, then tokenizer_config). */
  readonly eosIds: readonly number[];
  /** One past the largest token id (size of the embedding table the tokenizer expects). */
  readonly vocabSize: number;
  /**
   * Most bytes of input text one token stands for (Infinity when the tokenizer gives no bound): a text of more
   * than `maxTokenBytes × n` UTF-8 bytes has more than `n` tokens, which is known without tokenizing it.
   */
  readonly maxTokenBytes: number;

  private readonly specialIds: ReadonlySet<number>;
  private readonly cleanUpDefault: boolean;

  private constructor(
    private readonly hf: HfTokenizer,
    tokenizerJson: Json,
    config: Json,
    extras: TokenizerExtras,
  ) {
    this.maxTokenBytes = maxTokenBytes(tokenizerJson);
    const gen = isObject(extras.generationConfig) ? extras.generationConfig : {};
    const model = isObject(extras.modelConfig) ? extras.modelConfig : {};
    const lookup = (v: unknown): number[] => {
      const content = tokenContent(v);
      const id = content === undefined ? undefined : hf.token_to_id(content);
      return id === undefined ? [] : [id];
    };

    const bos = [...lookup(config.bos_token), ...idList(gen.bos_token_id), ...idList(model.bos_token_id)];
    this.bosId = bos.length > 0 ? bos[0] : null;
    const eos = [...idList(gen.eos_token_id), ...idList(model.eos_token_id), ...lookup(config.eos_token)];
    this.eosIds = [...new Set(eos)];

    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const special = new Set<number>();
    for (const [id, token] of hf.get_added_tokens_decoder()) if (token.special) special.add(id);
    const extra = Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : [];
    for (const t of extra) for (const id of lookup(t)) special.add(id);
    this.specialIds = special;
    this.cleanUpDefault = config.clean_up_tokenization_spaces === true;
  }

  /**
   * Load tokenizer.json (required), tokenizer_config.json, generation_config.json and config.json from a model
   * folder; a config the caller already parsed (`extras`) is used instead of reading its file again. `dir` may be a
   * GGUF file: its tokenizer metadata stands for those files.
   */
  static async fromDir(dir: string, extras: TokenizerExtras = {}): Promise<Tokenizer> {
    if (isGgufModel(dir)) {
      const gguf = ggufModelTokenizer(dir);
      return Tokenizer.build(gguf.tokenizerJson, gguf.tokenizerConfig, { modelConfig: extras.modelConfig ?? gguf.modelConfig }, { tokenizer: dir, config: dir });
    }
    const optional = { optional: true };
    const tokenizerJson = await readJsonFile(join(dir, "tokenizer.json"));
    const config = await readJsonFile(join(dir, "tokenizer_config.json"), optional);
    const generationConfig = extras.generationConfig ?? await readJsonFile(join(dir, "generation_config.json"), optional);
    const modelConfig = extras.modelConfig ?? await readJsonFile(join(dir, "config.json"), optional);
    const files = { tokenizer: join(dir, "tokenizer.json"), config: join(dir, "tokenizer_config.json") };
    return Tokenizer.build(tokenizerJson, config ?? {}, { generationConfig, modelConfig }, files);
  }

  /** Build a tokenizer from parsed tokenizer.json and tokenizer_config.json (plus optional configs naming bos / eos). */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig: unknown = {}, extras: TokenizerExtras = {}): Tokenizer {
    return Tokenizer.build(tokenizerJson, tokenizerConfig, extras, { tokenizer: "tokenizer.json", config: "tokenizer_config.json" });
  }

  /** Validate the parsed files and construct; errors name `files`. */
  private static build(tokenizerJson: unknown, tokenizerConfig: unknown, extras: TokenizerExtras, files: { tokenizer: string; config: string }): Tokenizer {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) {
      throw new LlmError("MODEL_LOAD", `${files.tokenizer}: not a tokenizer (no \`model\` object)`, { file: files.tokenizer });
    }
    if (!isObject(tokenizerConfig)) {
      throw new LlmError("MODEL_LOAD", `${files.config}: not a JSON object`, { file: files.config });
    }
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(tokenizerJson, tokenizerConfig);
      hf.encode("a"); // some malformed models only fail on first use
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new LlmError("MODEL_LOAD", `${files.tokenizer}: cannot build tokenizer: ${why}`, { file: files.tokenizer }, { cause });
    }
    return new Tokenizer(hf, tokenizerJson, tokenizerConfig, extras);
  }

  /** Token ids for `text`; with addSpecialTokens (default) the post-processor adds bos exactly as HF does. */
  encode(text: string, { addSpecialTokens = true }: EncodeOptions = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Text for `ids`; special tokens are skipped by default. Throws VALIDATION on an id outside the vocabulary. */
  decode(ids: readonly number[], { skipSpecialTokens = true, cleanUpSpaces }: DecodeOptions = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new LlmError("VALIDATION", `token id ${id} is outside the vocabulary [0, ${this.vocabSize})`, { field: "ids" });
      }
    }
    if (ids.length === 0) return ""; // the library throws on an empty list
    return this.hf.decode([...ids], {
      skip_special_tokens: skipSpecialTokens,
      clean_up_tokenization_spaces: cleanUpSpaces ?? this.cleanUpDefault,
    });
  }

  /** The vocabulary string of a token id (byte-level form, e.g. "Ġthe"), or undefined. */
  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /** The id of a vocabulary string, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** Whether `id` is a special token (skipped by decode's skipSpecialTokens). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Whether `id` ends generation. */
  isEos(id: number): boolean {
    return this.eosIds.includes(id);
  }
}
