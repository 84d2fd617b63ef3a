// Messages between the model worker and its grammar thread (grammar-thread.ts), and the layout of the shared slot each
// constrained request's masks are written to.

/** What the grammar thread needs to compile grammars against the model's vocabulary. */
export interface InitMessage {
  type: "init";
  /** Each id's string as tokenizer.json spells it ("" for special tokens and ids past the tokenizer). */
  vocab: string[];
  vocabType: "byte_level" | "byte_fallback" | "raw";
  prependSpace: boolean;
  logitsSize: number;
  stopIds: number[];
}

/** Start request `id`'s matcher for `spec` (EBNF text, or a spec converted there); masks go to `slot`. */
export interface StartMessage {
  type: "start";
  id: number;
  /** EBNF text (converted already), or the JSON text of a spec to convert first. */
  ebnf?: string;
  spec?: string;
  slot: SharedArrayBuffer;
}

/** Request `id` sampled `token`: advance its matcher and write the next mask. */
export interface AcceptMessage {
  type: "accept";
  id: number;
  token: number;
}

/** Request `id` is gone: free its matcher. */
export interface DisposeMessage {
  type: "dispose";
  id: number;
}

/** Model worker → grammar thread. */
export type ToGrammarThread = InitMessage | StartMessage | AcceptMessage | DisposeMessage;

/** Request `id`'s first mask is written (or its grammar failed: `error`); `compileMs` when it was compiled now, not found cached. */
export interface ReadyMessage {
  type: "ready";
  id: number;
  compileMs?: number;
  error?: { message: string; field?: string };
}

/** Grammar thread → model worker. */
export type FromGrammarThread = ReadyMessage;

/**
 * A request's slot (Int32 words): the number of masks written so far (bumped last, with a notify), its status, what
 * the last mask took on the grammar thread (µs), then the mask's words.
 */
export const SLOT_VERSION = 0;
export const SLOT_STATUS = 1;
export const SLOT_MASK_US = 2;
export const SLOT_MASK = 3;

/** Slot status: the mask is good; the grammar failed (the message says why). */
export const STATUS_OK = 0;
export const STATUS_FAILED = 1;

/** Bytes of a slot for logits rows of `logitsSize` entries. */
export function slotBytes(logitsSize: number): number {
  return 4 * (SLOT_MASK + Math.ceil(logitsSize / 32));
}
