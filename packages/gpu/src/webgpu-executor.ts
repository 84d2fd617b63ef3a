/**
 * Runs command tapes on a WebGPU device (on the GPU thread): every kernel's pipeline is built once at start (gpu.js
 * kernels from gpu.js's WGSL, WGSL kernels from their source), buffers live on the device under their ids, and a
 * tape is encoded into command encoders — dispatches in compute passes, copies and uploads between them — with
 * every dispatch's parameters in one uniform buffer at its own dynamic offset. A decode step is one submission (a
 * step of more than SUBMIT_EVERY dispatches a few, so the GPU starts while the rest is encoded); then only the
 * range asked for is copied out and mapped. Bind groups are cached, so a decode step that binds the same buffers
 * as the last one creates none.
 */
/// <reference types="@webgpu/types" />
import { allKernels } from "./kernel-registry.js";
import { walkTape, type Dispatch } from "./tape.js";
import type { TranslatedKernel } from "./translate.js";
import { wgslSource, type WgslKernel } from "./wgsl-kernels.js";

// GPUBufferUsage / GPUMapMode / GPUShaderStage values (fixed by the spec).
const STORAGE = 0x0080, UNIFORM = 0x0040, COPY_SRC = 0x0004, COPY_DST = 0x0008, MAP_READ = 0x0001, MAP_MODE_READ = 0x0001, COMPUTE = 0x4;
/** Bytes of one dispatch's parameters slot (the usual minUniformBufferOffsetAlignment). */
const SLOT = 256;
/** Dispatches encoded per submission: a long step is submitted in parts, so the GPU starts while the rest is encoded. */
const SUBMIT_EVERY = 128;

/** The params of a run, seen as each element type its slots hold. */
interface ParamViews {
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
}

/** A kernel ready to dispatch. */
interface Ready {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** gpu.js kernels: their translation (parameter layout, workgroup size); undefined for WGSL kernels. */
  readonly gpujs?: TranslatedKernel;
  readonly wgsl?: WgslKernel;
}

/** Compiles every kernel and keeps the device's buffers. */
export class WebGpuExecutor {
  readonly #device: GPUDevice;
  readonly #kernels: Ready[];
  readonly #buffers = new Map<number, GPUBuffer>();
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  #params: GPUBuffer | undefined;
  #paramsBytes = 0;
  #staging: GPUBuffer | undefined;
  #stagingBytes = 0;
  #readback: GPUBuffer | undefined;
  #readbackBytes = 0;
  #scratch: GPUBuffer | undefined;
  #lost: string | undefined;

  private constructor(device: GPUDevice, kernels: Ready[]) {
    this.#device = device;
    this.#kernels = kernels;
    void device.lost.then((info) => {
      this.#lost = `the WebGPU device was lost (${info.reason}): ${info.message}`;
    });
  }

  /** Builds a pipeline for every kernel (gpu.js ones from `translated`, by name); rejects naming a kernel that fails. */
  static async create(device: GPUDevice, translated: ReadonlyMap<string, TranslatedKernel>): Promise<WebGpuExecutor> {
    const kernels = await Promise.all(allKernels().map(async (k): Promise<Ready> => {
      if (k.kind === "gpujs") {
        const t = translated.get(k.kernel.name);
        if (t === undefined) throw new Error(`no translation of gpu.js kernel ${k.kernel.name}`);
        const { pipeline, layout } = await build(device, `gpu.js ${t.name}`, t.wgsl, t.arrays.length + 1, 1);
        return { pipeline, layout, gpujs: t };
      }
      const { pipeline, layout } = await build(device, `WGSL ${k.kernel.name}`, wgslSource(k.kernel), k.kernel.arrays.length, k.kernel.writes ?? 1);
      return { pipeline, layout, wgsl: k.kernel };
    }));
    return new WebGpuExecutor(device, kernels);
  }

  /** Allocates a zeroed storage buffer. */
  create(id: number, bytes: number): void {
    this.#buffers.set(id, this.#device.createBuffer({ size: bytes, usage: STORAGE | COPY_SRC | COPY_DST }));
  }

  /** Writes bytes now (queue order: before any later submission). */
  write(id: number, byteOffset: number, data: Uint8Array): void {
    this.#device.queue.writeBuffer(this.#buffer(id), byteOffset, data);
  }

  /** Frees a buffer, and forgets the cached bind groups (buffers are freed rarely: a scratch or table buffer outgrown). */
  destroy(id: number): void {
    this.#buffer(id).destroy();
    this.#buffers.delete(id);
    this.#bindGroups.clear();
  }

  /**
   * Encodes `length` words of a tape and submits it — in one submission, or one per SUBMIT_EVERY dispatches so the
   * GPU starts on a long step while the rest is encoded; then reads `read` back (or waits for the queue).
   */
  async run(tape: ArrayBuffer, length: number, read?: { buffer: number; offset: number; length: number }): Promise<Float32Array | undefined> {
    if (this.#lost !== undefined) throw new Error(this.#lost);
    const device = this.#device;
    // sizes first: a params slot per dispatch, staging room for every upload
    let dispatches = 0, uploadBytes = 0;
    walkTape(tape, length, {
      dispatch: () => void dispatches++,
      copy: () => undefined,
      upload: (_, __, values) => void (uploadBytes += values.byteLength),
    });
    this.#ensureParams(dispatches * SLOT);
    this.#ensureStaging(uploadBytes);
    const params = new ArrayBuffer(Math.max(SLOT, dispatches * SLOT));
    const views: ParamViews = { u32: new Uint32Array(params), i32: new Int32Array(params), f32: new Float32Array(params) };
    const staged = new Uint8Array(Math.max(4, uploadBytes));
    let slot = 0, stagedAt = 0, slotsWritten = 0, stagedWritten = 0, sinceSubmit = 0;
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    let encoder = device.createCommandEncoder();
    let pass: GPUComputePassEncoder | undefined;
    const endPass = (): void => {
      pass?.end();
      pass = undefined;
    };
    const submit = (): void => {
      endPass();
      if (slot > slotsWritten) device.queue.writeBuffer(this.#requireParams(), slotsWritten * SLOT, params, slotsWritten * SLOT, (slot - slotsWritten) * SLOT);
      if (stagedAt > stagedWritten) device.queue.writeBuffer(this.#requireStaging(), stagedWritten, staged, stagedWritten, stagedAt - stagedWritten);
      slotsWritten = slot;
      stagedWritten = stagedAt;
      device.queue.submit([encoder.finish()]);
      encoder = device.createCommandEncoder();
      sinceSubmit = 0;
    };
    walkTape(tape, length, {
      dispatch: (d) => {
        const after = this.#encodeDispatch(d, views, slot++, () => (pass ??= encoder.beginComputePass()));
        if (after !== undefined) {
          endPass();
          encoder.copyBufferToBuffer(after.src, 0, after.dst, after.dstOffset, after.bytes);
        }
        if (++sinceSubmit >= SUBMIT_EVERY) submit();
      },
      copy: (src, so, dst, dOff, n) => {
        endPass();
        encoder.copyBufferToBuffer(this.#buffer(src), 4 * so, this.#buffer(dst), 4 * dOff, 4 * n);
      },
      upload: (dst, dOff, values) => {
        endPass();
        staged.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), stagedAt);
        encoder.copyBufferToBuffer(this.#requireStaging(), stagedAt, this.#buffer(dst), 4 * dOff, values.byteLength);
        stagedAt += values.byteLength;
      },
    });
    endPass();
    const bytes = 4 * (read?.length ?? 0);
    if (read !== undefined && bytes > 0) {
      this.#ensureReadback(bytes);
      encoder.copyBufferToBuffer(this.#buffer(read.buffer), 4 * read.offset, this.#requireReadback(), 0, bytes);
    }
    submit();
    const validation = device.popErrorScope(), memory = device.popErrorScope();
    let out: Float32Array | undefined;
    if (read !== undefined && bytes > 0) {
      const rb = this.#requireReadback();
      await rb.mapAsync(MAP_MODE_READ, 0, bytes);
      out = new Float32Array(rb.getMappedRange(0, bytes).slice(0));
      rb.unmap();
    } else {
      await device.queue.onSubmittedWorkDone();
      out = read === undefined ? undefined : new Float32Array(0);
    }
    const error = (await validation) ?? (await memory);
    if (error !== null) throw new Error(`WebGPU: ${error.message}`);
    if (this.#lost !== undefined) throw new Error(this.#lost);
    return out;
  }

  /** Frees every buffer and the device. */
  dispose(): void {
    for (const b of this.#buffers.values()) b.destroy();
    this.#buffers.clear();
    this.#device.destroy();
  }

  /**
   * Encodes one dispatch: its parameters into slot `slot` of `params`, its bind group (cached), the workgroups. A
   * gpu.js kernel whose output offset is not bindable (alignment) writes to a scratch buffer: the copy to make
   * afterwards is returned.
   */
  #encodeDispatch(d: Dispatch, views: ParamViews, slot: number, passOf: () => GPUComputePassEncoder): { src: GPUBuffer; dst: GPUBuffer; dstOffset: number; bytes: number } | undefined {
    const k = this.#kernels[d.kernel];
    if (k === undefined) throw new Error(`gpu tape: no kernel ${d.kernel}`);
    const base = slot * SLOT, w = base / 4;
    const { u32, i32, f32 } = views;
    let groups: [number, number, number];
    const buffers: GPUBuffer[] = d.arrays.map((id) => this.#buffer(id));
    let key = `${d.kernel}|${d.arrays.join(",")}`;
    let after: { src: GPUBuffer; dst: GPUBuffer; dstOffset: number; bytes: number } | undefined;
    let outBinding: GPUBufferBinding | undefined;
    if (k.gpujs !== undefined) {
      const t = k.gpujs, [tx, ty, tz] = d.grid, [wx, wy, wz] = t.workgroupSize;
      groups = [Math.ceil(tx / wx), Math.ceil(ty / wy), Math.ceil(tz / wz)];
      let width = 0;
      const max = this.#device.limits.maxComputeWorkgroupsPerDimension;
      if (ty === 1 && tz === 1 && wy === 1 && groups[0] > max) {     // a long 1D grid folds into y, as gpu.js does
        groups[1] = Math.ceil(groups[0] / max);
        groups[0] = Math.ceil(groups[0] / groups[1]);
      }
      if (wy === 1) width = groups[0] * wx;
      u32.set([tx, ty, tz, width], w);
      t.arrays.forEach((a, i) => {
        const n = buffers[i].size / 4;
        u32.set([n, 1, 1, n], w + a.dimsOffset / 4);
      });
      let ii = 0, fi = 0;
      for (const s of t.scalars) {
        if (s.type === "i32") i32[w + s.offset / 4] = d.ints[ii++];
        else f32[w + s.offset / 4] = d.floats[fi++];
      }
      const out = this.#buffer(d.out), bytes = 4 * tx * ty * tz, at = 4 * d.outOffset;
      if (at % this.#device.limits.minStorageBufferOffsetAlignment === 0) {
        outBinding = { buffer: out, offset: at, size: bytes };
        key += `|${d.out}@${at}+${bytes}`;
      } else {
        const scratch = this.#scratchBuffer(bytes);
        outBinding = { buffer: scratch, offset: 0, size: bytes };
        key += `|scratch+${bytes}`;
        after = { src: scratch, dst: out, dstOffset: at, bytes };
      }
    } else if (k.wgsl !== undefined) {
      groups = [d.grid[0], d.grid[1], d.grid[2]];
      i32.set(d.ints, w);
      f32.set(d.floats, w + d.ints.length);
    } else {
      throw new Error(`gpu tape: kernel ${d.kernel} has no pipeline`);
    }
    let group = this.#bindGroups.get(key);
    if (group === undefined) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.#requireParams(), offset: 0, size: SLOT } }];
      buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
      if (outBinding !== undefined) entries.push({ binding: buffers.length + 1, resource: outBinding });
      group = this.#device.createBindGroup({ layout: k.layout, entries });
      if (after === undefined) this.#bindGroups.set(key, group);
    }
    const pass = passOf();
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, group, [base]);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    return after;
  }

  #buffer(id: number): GPUBuffer {
    const b = this.#buffers.get(id);
    if (b === undefined) throw new Error(`gpu tape: no buffer ${id}`);
    return b;
  }

  #ensureParams(bytes: number): void {
    if (this.#params !== undefined && this.#paramsBytes >= bytes) return;
    this.#params?.destroy();
    this.#paramsBytes = Math.max(64 * SLOT, 2 * bytes);
    this.#params = this.#device.createBuffer({ size: this.#paramsBytes, usage: UNIFORM | COPY_DST });
    this.#bindGroups.clear();                                   // they bound the old params buffer
  }

  #requireParams(): GPUBuffer {
    if (this.#params === undefined) throw new Error("gpu executor: no params buffer");
    return this.#params;
  }

  #ensureStaging(bytes: number): void {
    if (bytes === 0 || (this.#staging !== undefined && this.#stagingBytes >= bytes)) return;
    this.#staging?.destroy();
    this.#stagingBytes = Math.max(1 << 16, Math.ceil((2 * bytes) / 4) * 4);
    this.#staging = this.#device.createBuffer({ size: this.#stagingBytes, usage: COPY_SRC | COPY_DST });
  }

  #requireStaging(): GPUBuffer {
    if (this.#staging === undefined) throw new Error("gpu executor: no staging buffer");
    return this.#staging;
  }

  #ensureReadback(bytes: number): void {
    if (this.#readback !== undefined && this.#readbackBytes >= bytes) return;
    this.#readback?.destroy();
    this.#readbackBytes = Math.max(1 << 16, Math.ceil(bytes / 4) * 4);
    this.#readback = this.#device.createBuffer({ size: this.#readbackBytes, usage: MAP_READ | COPY_DST });
  }

  #requireReadback(): GPUBuffer {
    if (this.#readback === undefined) throw new Error("gpu executor: no readback buffer");
    return this.#readback;
  }

  /** A scratch output for gpu.js kernels whose output offset cannot be bound (grown, never shrunk). */
  #scratchBuffer(bytes: number): GPUBuffer {
    if (this.#scratch === undefined || this.#scratch.size < bytes) {
      this.#scratch?.destroy();
      this.#scratch = this.#device.createBuffer({ size: Math.max(1 << 16, bytes), usage: STORAGE | COPY_SRC });
    }
    return this.#scratch;
  }
}

/** A compute pipeline for `code`: params at binding 0 (dynamic offset), then `arrays` storage bindings, read-only but the last `writes`. */
async function build(device: GPUDevice, label: string, code: string, arrays: number, writes: number): Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }> {
  const module = device.createShaderModule({ label, code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length > 0) {
    throw new Error(`${label} does not compile:\n${errors.map((m) => `  ${m.lineNum}:${m.linePos} ${m.message}`).join("\n")}\n--- WGSL ---\n${code}`);
  }
  const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: COMPUTE, buffer: { type: "uniform", hasDynamicOffset: true } }];
  for (let i = 1; i <= arrays; i++) entries.push({ binding: i, visibility: COMPUTE, buffer: { type: i > arrays - writes ? "storage" : "read-only-storage" } });
  const layout = device.createBindGroupLayout({ label, entries });
  device.pushErrorScope("validation");
  const pipeline = await device.createComputePipelineAsync({
    label, layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: "main" },
  });
  const error = await device.popErrorScope();
  if (error !== null) throw new Error(`${label}: ${error.message}`);
  return { pipeline, layout };
}

