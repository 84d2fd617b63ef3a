/**
 * The backend's memory: one shared WebAssembly.Memory (wasm32: at most 4 GiB). Weights, buffers and the KV cache
 * are bumped off the top and live for the model's life; working memory that must move (a scratch region grown for
 * a larger op) is released and its bytes handed out again, so memory follows the largest op, not the history of ops.
 */

const PAGE = 65536;
/** The most pages a wasm32 memory can have (4 GiB). */
export const MAX_PAGES = 65536;
/** The kernel module's own statics live below this address. */
const FIRST = 65536;

/** A bump allocator with a free list over a shared, growable memory. */
export class Arena {
  readonly memory: WebAssembly.Memory;
  #top = FIRST;
  /** The highest #top so far: bytes the memory has had to hold at once. */
  #peak = FIRST;
  /** Released blocks below #top, by address, never adjacent to each other (merged on release). */
  readonly #free: { at: number; bytes: number }[] = [];
  #freeBytes = 0;
  #buffer: SharedArrayBuffer;
  #i32: Int32Array;
  #f32: Float32Array;
  #u8: Uint8Array;

  /** A memory of `initialBytes` (rounded up to pages), growable to 4 GiB. */
  constructor(initialBytes = 1 << 20) {
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(Math.max(initialBytes, 2 * FIRST) / PAGE), maximum: MAX_PAGES, shared: true });
    this.#buffer = this.memory.buffer as unknown as SharedArrayBuffer;
    this.#i32 = new Int32Array(this.#buffer);
    this.#f32 = new Float32Array(this.#buffer);
    this.#u8 = new Uint8Array(this.#buffer);
  }

  /** Bytes handed out and not released (the module's statics included). */
  get used(): number {
    return this.#top - this.#freeBytes;
  }

  /** The high-water mark: the most bytes of the memory in use at once (released holes below the top included). */
  get highWater(): number {
    return this.#peak;
  }

  /** The whole memory as i32 (for Atomics and op records); renewed after growth. */
  get i32(): Int32Array {
    return this.#i32;
  }

  /** The whole memory as f32. */
  get f32(): Float32Array {
    return this.#f32;
  }

  /** The whole memory as bytes. */
  get u8(): Uint8Array {
    return this.#u8;
  }

  /** The shared buffer right now (typed views over any part of it). */
  get buffer(): SharedArrayBuffer {
    return this.#buffer;
  }

  /** `bytes` zeroed bytes aligned to `align`: the first released block they fit, else off the top; RangeError past 4 GiB. */
  alloc(bytes: number, align = 64): number {
    const reused = this.#fromFree(bytes, align);
    if (reused >= 0) {
      this.#u8.fill(0, reused, reused + bytes);
      return reused;
    }
    const at = Math.ceil(this.#top / align) * align;
    const end = at + bytes;
    if (end > MAX_PAGES * PAGE) {
      throw new RangeError(`wasm memory is limited to 4 GiB: ${(end / 2 ** 30).toFixed(2)} GiB would be needed`);
    }
    const have = this.#buffer.byteLength;
    if (end > have) {
      this.memory.grow(Math.ceil((end - have) / PAGE));     // only this thread grows the memory: views renew here
      this.#renew();
    }
    if (at < this.#peak) this.#u8.fill(0, at, Math.min(end, this.#peak)); // below the peak the bytes were used before
    this.#top = end;
    this.#peak = Math.max(this.#peak, end);
    return at;
  }

  /** Gives back `bytes` at `at` (from an earlier `alloc`, nothing running reads them): later allocations reuse them. */
  release(at: number, bytes: number): void {
    if (bytes <= 0) return;
    if (at + bytes === this.#top) {                          // the topmost block: lower the top, and over a free block below
      this.#top = at;
      const last = this.#free[this.#free.length - 1];
      if (last !== undefined && last.at + last.bytes === at) {
        this.#free.pop();
        this.#freeBytes -= last.bytes;
        this.#top = last.at;
      }
      return;
    }
    let i = 0;
    while (i < this.#free.length && this.#free[i].at < at) i++;
    const before = this.#free[i - 1], after = this.#free[i];
    this.#freeBytes += bytes;
    if (before !== undefined && before.at + before.bytes === at) {
      before.bytes += bytes;
      if (after !== undefined && before.at + before.bytes === after.at) {
        before.bytes += after.bytes;
        this.#free.splice(i, 1);
      }
    } else if (after !== undefined && at + bytes === after.at) {
      after.at = at;
      after.bytes += bytes;
    } else {
      this.#free.splice(i, 0, { at, bytes });
    }
  }

  /** Carves `bytes` aligned to `align` out of the first released block they fit; -1 when none does. */
  #fromFree(bytes: number, align: number): number {
    for (let i = 0; i < this.#free.length; i++) {
      const block = this.#free[i];
      const at = Math.ceil(block.at / align) * align, end = block.at + block.bytes;
      if (at + bytes > end) continue;
      this.#free.splice(i, 1);
      this.#freeBytes -= block.bytes;
      if (at > block.at) this.release(block.at, at - block.at);
      if (end > at + bytes) this.release(at + bytes, end - at - bytes);
      return at;
    }
    return -1;
  }

  #renew(): void {
    this.#buffer = this.memory.buffer as unknown as SharedArrayBuffer;
    this.#i32 = new Int32Array(this.#buffer);
    this.#f32 = new Float32Array(this.#buffer);
    this.#u8 = new Uint8Array(this.#buffer);
  }
}
