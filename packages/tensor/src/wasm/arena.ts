/**
 * The backend's memory: one shared WebAssembly.Memory (wasm32: at most 4 GiB), handed out by a bump allocator.
 * Weights, buffers and the KV cache live for the model's life, so nothing is ever freed one by one.
 */

const PAGE = 65536;
/** The most pages a wasm32 memory can have (4 GiB). */
export const MAX_PAGES = 65536;
/** The kernel module's own statics live below this address. */
const FIRST = 65536;

/** A bump allocator over a shared, growable memory. */
export class Arena {
  readonly memory: WebAssembly.Memory;
  #top = FIRST;
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

  /** Bytes handed out so far (the module's statics included). */
  get used(): number {
    return this.#top;
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

  /** `bytes` fresh bytes aligned to `align` (zeroed: memory is never reused); RangeError past 4 GiB. */
  alloc(bytes: number, align = 64): number {
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
    this.#top = end;
    return at;
  }

  #renew(): void {
    this.#buffer = this.memory.buffer as unknown as SharedArrayBuffer;
    this.#i32 = new Int32Array(this.#buffer);
    this.#f32 = new Float32Array(this.#buffer);
    this.#u8 = new Uint8Array(this.#buffer);
  }
}
