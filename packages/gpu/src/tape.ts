/**
 * The command tape: what the gpu backend records between two reads, as 32-bit words in one growable buffer. Both
 * executors walk the same tape — the cpu one runs gpu.js's cpu-mode kernels over typed arrays, the WebGPU one
 * encodes it into one command encoder and submits it once — so the lowering of ops to kernels is the same code in
 * CI and on a GPU.
 *
 * Commands (buffers are ids, offsets and counts in elements of the buffer's type):
 * - DISPATCH kernel, grid x y z, out buffer, out offset, nArrays, arrays…, nInts, ints…, nFloats, floats…
 *   (gpu.js kernels: the grid counts threads and `out` receives one value per thread; WGSL kernels: the grid counts
 *   workgroups and `out` is −1, their outputs are among the arrays)
 * - COPY src, srcOffset, dst, dstOffset, count (float32 elements)
 * - UPLOAD dst, dstOffset, count, values… (float32 bit patterns)
 */

/** Command codes. */
export const CMD = { dispatch: 1, copy: 2, upload: 3 } as const;

/** A recorded dispatch, as the executors read it back. */
export interface Dispatch {
  kernel: number;
  grid: [number, number, number];
  out: number;
  outOffset: number;
  arrays: number[];
  ints: number[];
  floats: number[];
}

/** A growable list of commands (no allocation per command once grown). */
export class Tape {
  #words: Int32Array;
  #floats: Float32Array;
  #length = 0;
  #dispatches = 0;

  /** A tape over `buffer` (or a fresh one). */
  constructor(buffer: ArrayBuffer = new ArrayBuffer(1 << 16)) {
    this.#words = new Int32Array(buffer);
    this.#floats = new Float32Array(buffer);
  }

  /** Words recorded. */
  get length(): number {
    return this.#length;
  }

  /** DISPATCH commands recorded. */
  get dispatches(): number {
    return this.#dispatches;
  }

  /** The words recorded so far, as the buffer that holds them (for sending) and their count. */
  get buffer(): ArrayBuffer {
    return this.#words.buffer as ArrayBuffer;
  }

  /** Forgets every command (and adopts `buffer` when one came back from a thread). */
  reset(buffer?: ArrayBuffer): void {
    if (buffer !== undefined) {
      this.#words = new Int32Array(buffer);
      this.#floats = new Float32Array(buffer);
    }
    this.#length = 0;
    this.#dispatches = 0;
  }

  /** Records a kernel dispatch. */
  dispatch(kernel: number, grid: readonly [number, number, number], out: number, outOffset: number, arrays: readonly number[], ints: readonly number[], floats: readonly number[] = []): void {
    this.#room(9 + arrays.length + ints.length + floats.length);
    const w = this.#words;
    let at = this.#length;
    w[at++] = CMD.dispatch;
    w[at++] = kernel;
    w[at++] = grid[0];
    w[at++] = grid[1];
    w[at++] = grid[2];
    w[at++] = out;
    w[at++] = outOffset;
    w[at++] = arrays.length;
    for (const a of arrays) w[at++] = a;
    w[at++] = ints.length;
    for (const i of ints) w[at++] = i;
    w[at++] = floats.length;
    for (const f of floats) this.#floats[at++] = f;
    this.#length = at;
    this.#dispatches++;
  }

  /** Records a copy of `count` float32 elements. */
  copy(src: number, srcOffset: number, dst: number, dstOffset: number, count: number): void {
    if (count <= 0) return;
    this.#room(6);
    this.#words.set([CMD.copy, src, srcOffset, dst, dstOffset, count], this.#length);
    this.#length += 6;
  }

  /** Records an upload of `values` into `dst` from element `dstOffset`. */
  upload(dst: number, dstOffset: number, values: Float32Array): void {
    if (values.length === 0) return;
    this.#room(4 + values.length);
    this.#words.set([CMD.upload, dst, dstOffset, values.length], this.#length);
    this.#floats.set(values, this.#length + 4);
    this.#length += 4 + values.length;
  }

  #room(words: number): void {
    if (this.#length + words <= this.#words.length) return;
    const grown = new ArrayBuffer(4 * Math.max(2 * this.#words.length, this.#length + words));
    new Int32Array(grown).set(this.#words.subarray(0, this.#length));
    this.#words = new Int32Array(grown);
    this.#floats = new Float32Array(grown);
  }
}

/** What a command visitor gets: one call per command, in order. */
export interface TapeVisitor {
  dispatch(d: Dispatch): void;
  copy(src: number, srcOffset: number, dst: number, dstOffset: number, count: number): void;
  /** `values` is a view of the tape itself: copy it before the tape is reused. */
  upload(dst: number, dstOffset: number, values: Float32Array): void;
}

/** Walks `length` words of a tape in `buffer`, calling `visitor` for each command; throws on a malformed tape. */
export function walkTape(buffer: ArrayBuffer, length: number, visitor: TapeVisitor): void {
  const w = new Int32Array(buffer, 0, length), f = new Float32Array(buffer, 0, length);
  let at = 0;
  while (at < length) {
    switch (w[at]) {
      case CMD.dispatch: {
        const d: Dispatch = { kernel: w[at + 1], grid: [w[at + 2], w[at + 3], w[at + 4]], out: w[at + 5], outOffset: w[at + 6], arrays: [], ints: [], floats: [] };
        at += 7;
        for (let n = w[at++], i = 0; i < n; i++) d.arrays.push(w[at++]);
        for (let n = w[at++], i = 0; i < n; i++) d.ints.push(w[at++]);
        for (let n = w[at++], i = 0; i < n; i++) d.floats.push(f[at++]);
        visitor.dispatch(d);
        break;
      }
      case CMD.copy:
        visitor.copy(w[at + 1], w[at + 2], w[at + 3], w[at + 4], w[at + 5]);
        at += 6;
        break;
      case CMD.upload: {
        const n = w[at + 3];
        visitor.upload(w[at + 1], w[at + 2], f.subarray(at + 4, at + 4 + n));
        at += 4 + n;
        break;
      }
      default:
        throw new Error(`gpu tape: unknown command ${w[at]} at word ${at}`);
    }
  }
}
