// Streaming detokenization: token ids in, text deltas out, never a broken UTF-8 character.
//
// Byte-level BPE can split one character over several tokens, and some decoders depend on the previous token,
// so each step decodes a small window: ids[0, read) were already emitted (the "prefix", kept as context) and
// ids[read, end) are new. The delta is decode(window) minus decode(prefix). When the window's text ends on a
// complete character the window slides forward to start at `read`, so each token costs O(1) decoding.

/** What the detokenizer needs from a tokenizer (satisfied by {@link Tokenizer}). */
export interface DetokenizerSource {
  /** Decode ids to text (called without clean-up so decoding is prefix-stable). */
  decode(ids: readonly number[], options: { skipSpecialTokens: boolean; cleanUpSpaces: boolean }): string;
  /** Whether an id is a special token (bos, eos, …). */
  isSpecial(id: number): boolean;
}

/** Options for {@link StreamingDetokenizer}. */
export interface DetokenizerOptions {
  /** Emit no text for special tokens (eos …). Default true. */
  skipSpecialTokens?: boolean;
  /** Ids that precede the stream (e.g. the prompt's last tokens): decoding context, never emitted. */
  context?: readonly number[];
}

const REPLACEMENT = "\uFFFD";
const MAX_CONTEXT = 6;

/** Turns a stream of token ids into text deltas whose concatenation (plus flush()) equals decode(all ids). */
export class StreamingDetokenizer {
  private readonly skipSpecial: boolean;
  private window: number[];
  private read: number; // window[0, read) is the already-emitted prefix
  private prefixText: string | null = null; // decode(window[0, read)), cached
  private emitted = 0; // characters of the unstable region already emitted (only when it ends in U+FFFD)

  /** Start a stream over `source`'s vocabulary. */
  constructor(
    private readonly source: DetokenizerSource,
    options: DetokenizerOptions = {},
  ) {
    this.skipSpecial = options.skipSpecialTokens ?? true;
    const context = (options.context ?? []).filter((id) => !(this.skipSpecial && source.isSpecial(id)));
    this.window = context.slice(-MAX_CONTEXT);
    this.read = this.window.length;
  }

  /** Feed one token id; returns the text that can be emitted now (often "", e.g. mid-character or for eos). */
  push(id: number): string {
    if (this.skipSpecial && this.source.isSpecial(id)) return "";
    this.window.push(id);
    const prefix = this.prefix();
    const text = this.decode(this.window);
    const incomplete = text.endsWith(REPLACEMENT); // may still become a character when more bytes arrive
    const stableEnd = incomplete ? text.length - 1 : text.length;
    const start = prefix.length + this.emitted;
    const delta = stableEnd > start ? text.slice(start, stableEnd) : "";
    if (incomplete) {
      this.emitted += delta.length;
    } else {
      // the window ends on a complete character: what was new becomes the next prefix
      this.window = this.window.slice(this.read);
      this.read = this.window.length;
      this.prefixText = null;
      this.emitted = 0;
    }
    return delta;
  }

  /** End of stream: emit whatever was held back (an incomplete trailing character decodes to U+FFFD, as decode does). */
  flush(): string {
    const text = this.decode(this.window);
    const rest = text.slice(this.prefix().length + this.emitted);
    this.window = [];
    this.read = 0;
    this.prefixText = null;
    this.emitted = 0;
    return rest;
  }

  /** decode(window[0, read)), computed once per window position. */
  private prefix(): string {
    this.prefixText ??= this.decode(this.window.slice(0, this.read));
    return this.prefixText;
  }

  /** Decode without clean-up (clean-up rewrites across token boundaries and would break the prefix property). */
  private decode(ids: readonly number[]): string {
    return ids.length === 0 ? "" : this.source.decode(ids, { skipSpecialTokens: this.skipSpecial, cleanUpSpaces: false });
  }
}
