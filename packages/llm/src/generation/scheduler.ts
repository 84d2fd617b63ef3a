// Continuous batching in the model worker. Requests wait in a FIFO; each step admits what the KV pool and the
// limits allow, runs one forward over every running sequence (decode rows of running streams, prefill chunks of
// new prompts), samples each sequence with its own sampler, and publishes each request's outputs. Steps are queued
// in the worker's FIFO as the model's own work (`enqueue`), one at a time while there is work, so callers'
// operations (submit, next, release, info, score) run between them.
//
// KV blocks: the scheduler owns the model's block manager (block-manager.ts), the one place blocks change hands.
// A request joining the batch first attaches the cached blocks of its prompt's prefix (prefix caching), so its first
// computed position comes after them; after each forward the full blocks it wrote are registered for later requests.
// Preemption gives a request's blocks back to the manager (its registered blocks stay cached, so rejoining usually
// finds them again); scoring windows and benchmarks borrow blocks from the same manager (`borrow`, `giveBack`).
//
// Failures: what a request's own logits cause (NON_FINITE logits, a sampler error) fails that request alone. A
// forward pass that throws an error without a catalogue code (a wasm trap, a RangeError or TypeError from the
// backend) leaves the model's memory in an unknown state: every request held fails with WORKER_CRASHED, the model
// refuses all later work, and the worker is given up (`StepDriver.crash`) so the host replaces it as after a crash.
import { InferenceError } from "@actorlm/runtime";
import type { BatchSequence } from "@actorlm/tensor";
import { BlockManager, type BlockStats, type KvSequence } from "./block-manager.js";
import type { CausalLM } from "../models/causal-lm.js";
import { checkAdmission, type AdmissionLimits } from "./admission.js";
import type { ChunkPolicy } from "./chunking.js";
import { Outbox } from "./outbox.js";
import { planStep, type PlanSequence } from "./policy.js";
import type { Sequence, StepOutput } from "./sequence.js";

/** The scheduler's limits. */
export interface SchedulerLimits extends AdmissionLimits {
  /** A running request with this many outputs not taken yet sits out of the steps (keeping its KV blocks) until they are. */
  readonly maxUnreadOutputs: number;
}

/** Where a request is. */
type Phase = "waiting" | "running" | "done";

/** One request the scheduler holds: its sequence, where it is, and its outputs. */
interface Entry {
  readonly id: number;
  readonly sequence: Sequence;
  readonly outbox: Outbox;
  phase: Phase;
  /** True once it joined the batch (prefix-cache hits are counted at its first admission only). */
  started: boolean;
}

/** Counts for metrics and tests. */
export interface SchedulerStats {
  /** Requests waiting to join the batch (never started, or preempted). */
  readonly queued: number;
  /** Requests in the batch (holding KV blocks). */
  readonly running: number;
  /** Requests finished or failed whose last outputs were not taken yet. */
  readonly unread: number;
  /** Requests that joined the batch so far (a preempted one counts again when it rejoins). */
  readonly admitted: number;
  /** Forward passes run so far. */
  readonly steps: number;
  /** Sequences in those forward passes, summed (over `steps`: how many requests shared a step, on average). */
  readonly stepSequences: number;
  /** Rows (tokens) in those forward passes, summed. */
  readonly stepRows: number;
  /** Times a running request gave its blocks back to make room. */
  readonly preemptions: number;
  /** Prompt tokens of the requests admitted so far (each counted at its first admission). */
  readonly promptTokens: number;
  /** Of them, tokens found in the prefix cache (never computed for that request). */
  readonly cachedPromptTokens: number;
}

/** Settings of the scheduler's KV blocks. */
export interface SchedulerOptions {
  /** Share full KV blocks between requests with the same prompt prefix. Default true. */
  readonly prefixCaching?: boolean;
}

/** One step as the scheduler ran it (see {@link Scheduler.recentSteps}). */
export interface StepRecord {
  /** When its forward pass ended: milliseconds since the epoch (`performance.timeOrigin + performance.now()`). */
  readonly end: number;
  /** How long its forward pass took (ms). */
  readonly ms: number;
  /** Rows in it, and of them prompt rows (the rest decode one token each). */
  readonly rows: number;
  readonly prefillRows: number;
  /** Requests in it. */
  readonly sequences: number;
}

/** Steps {@link Scheduler.recentSteps} keeps. */
const STEP_RECORDS = 1024;

/** Runs background work in the model worker's FIFO (`LoadContext.enqueue`), and gives the worker up (`LoadContext.crash`). */
export interface StepDriver {
  enqueue(task: () => void): void;
  /** Gives the worker up after a failure that left the model unusable (absent in-process: the model just refuses work). */
  crash?(error: InferenceError): void;
}

/** The batch of one model: request queue, running sequences, and the step that advances them together. */
export class Scheduler {
  readonly #entries = new Map<number, Entry>();
  /** Admission order. */
  #running: Entry[] = [];
  /** Queue order (preempted requests at the head). */
  #waiting: Entry[] = [];
  #stepQueued = false;
  #steps = 0;
  #stepSequences = 0;
  #stepRows = 0;
  #admitted = 0;
  #preemptions = 0;
  #promptTokens = 0;
  #cachedPromptTokens = 0;
  /** The last STEP_RECORDS steps, a ring: the oldest at #records[#recorded % STEP_RECORDS] once full. */
  readonly #records: StepRecord[] = [];
  /** Set once a forward pass failed in the backend: the model is unusable, every later call throws it. */
  #unusable: InferenceError | undefined;

  /** Every KV block of the model: who holds it, which are cached. */
  readonly blocks: BlockManager;

  /**
   * A scheduler for `lm`, whose steps `driver` queues; `chunks` sizes prompt chunks beside decode rows. It owns the
   * model's KV blocks from now on.
   */
  constructor(
    private readonly lm: CausalLM,
    private readonly driver: StepDriver,
    private readonly limits: SchedulerLimits,
    private readonly chunks: ChunkPolicy,
    options: SchedulerOptions = {},
  ) {
    this.blocks = new BlockManager(lm.kv, { prefixCaching: options.prefixCaching });
  }

  /**
   * Queues `sequence` as request `id`; OVERLOADED (nothing queued) when the batch and the queue are full,
   * WORKER_CRASHED once a forward pass failed in the backend.
   */
  submit(id: number, sequence: Sequence): void {
    this.#usable();
    if (sequence.kv.manager !== this.blocks || sequence.kv.blocks.length > 0) throw new InferenceError("VALIDATION", `request ${id} must start with an empty block table of this scheduler's (blocks.sequence())`);
    checkAdmission(this.#running.length, this.#waiting.length, this.limits);
    const entry: Entry = { id, sequence, outbox: new Outbox(), phase: "waiting", started: false };
    sequence.onReady(() => this.#kick()); // a constrained request whose mask was not ready sat out; it may run now
    this.#entries.set(id, entry);
    this.#waiting.push(entry);
    this.#kick();
  }

  /** True while request `id` is held (waiting, running, or finished with outputs not taken). */
  has(id: number): boolean {
    return this.#entries.has(id);
  }

  /** Requests held, in any phase. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Outputs of request `id` produced since the last take (undefined when there are none yet); throws the error
   * that ended it, VALIDATION for an unknown id. The request is forgotten once its last output was taken.
   */
  take(id: number): StepOutput[] | undefined {
    const entry = this.#entry(id);
    const paused = this.#paused(entry);
    let outputs: StepOutput[] | undefined;
    try {
      outputs = entry.outbox.take();
    } finally {
      this.#forgetIfClosed(entry);
    }
    if (paused) this.#kick();
    return outputs;
  }

  /** Takes the oldest output of request `id` alone (undefined when there is none yet); see {@link Scheduler.take}. */
  takeOne(id: number): StepOutput | undefined {
    const entry = this.#entry(id);
    const paused = this.#paused(entry);
    let output: StepOutput | undefined;
    try {
      output = entry.outbox.takeOne();
    } finally {
      this.#forgetIfClosed(entry);
    }
    if (paused) this.#kick();
    return output;
  }

  /**
   * Waits for outputs of request `id` (everything since the last take). When `signal` aborts first, the request
   * is cancelled (its caller is gone) and the wait rejects with the signal's reason.
   */
  wait(id: number, signal?: AbortSignal): Promise<StepOutput[]> {
    let entry: Entry;
    try {
      entry = this.#entry(id);
    } catch (error) {
      return Promise.reject(error);
    }
    const paused = this.#paused(entry);
    const outputs = entry.outbox.wait(signal, () => this.cancel(id));
    const settle = () => this.#forgetIfClosed(entry);
    outputs.then(settle, settle);
    if (paused) this.#kick();
    return outputs;
  }

  /** Cancels request `id`: it leaves the queue or the batch now and its KV blocks go back; false when unknown. */
  cancel(id: number): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#entries.delete(id);
    this.#leave(entry);
    entry.outbox.fail(new InferenceError("CANCELLED", `request ${id} was cancelled`));
    this.#kick();
    return true;
  }

  /**
   * Frees at least `blocks` KV blocks if the pool can: running requests give theirs back (latest admitted first)
   * and return to the queue's head, to run their tokens again later. False when even that is not enough.
   */
  #makeRoom(blocks: number): boolean {
    while (this.blocks.freeBlocks < blocks && this.#running.length > 0) this.#preempt(this.#running.at(-1)!, 0);
    return this.blocks.freeBlocks >= blocks;
  }

  /**
   * Private KV blocks for `positions` positions outside the batch (a scoring window, a benchmark), running requests
   * giving theirs back if need be (see `#makeRoom`); undefined when even the whole pool is too small.
   * Hand them back with {@link Scheduler.giveBack}.
   */
  borrow(positions: number): KvSequence | undefined {
    return this.#makeRoom(this.blocks.blocksFor(positions)) ? this.blocks.allocate(positions) : undefined;
  }

  /** Takes back blocks {@link Scheduler.borrow} lent, and queues a step if requests wait for them. */
  giveBack(kv: KvSequence): void {
    kv.free();
    this.#kick();
  }

  /** Block counts and prefix-cache counters of the KV pool. */
  blockStats(): BlockStats {
    return this.blocks.stats();
  }

  /** Checks the block books against the requests held (every reference accounted for); throws on a mismatch. */
  checkBlocks(extra: readonly KvSequence[] = []): void {
    this.blocks.check([...this.#running.map((e) => e.sequence.kv), ...extra]);
  }

  /** The last steps (up to 1024), oldest first: what the benchmark measures latency in the engine from. */
  recentSteps(): StepRecord[] {
    const n = this.#steps % STEP_RECORDS;
    return this.#records.length < STEP_RECORDS ? [...this.#records] : [...this.#records.slice(n), ...this.#records.slice(0, n)];
  }

  /** Counts for metrics and tests. */
  stats(): SchedulerStats {
    return {
      queued: this.#waiting.length,
      running: this.#running.length,
      unread: this.#entries.size - this.#waiting.length - this.#running.length,
      admitted: this.#admitted,
      steps: this.#steps,
      stepSequences: this.#stepSequences,
      stepRows: this.#stepRows,
      preemptions: this.#preemptions,
      promptTokens: this.#promptTokens,
      cachedPromptTokens: this.#cachedPromptTokens,
    };
  }

  /**
   * One forward pass outside the batch (scoring a window, a benchmark): a failure in the backend makes the model
   * unusable as a failed step does (every request held fails with WORKER_CRASHED, the worker is given up), and
   * throws WORKER_CRASHED.
   */
  forwardOutside(sequences: readonly BatchSequence[]): Float32Array {
    this.#usable();
    try {
      return this.lm.forward(sequences);
    } catch (error) {
      throw InferenceError.is(error) ? error : this.#giveUp(error);
    }
  }

  /**
   * Runs one step (admissions, one forward, sampling, publishing); false when nothing could run. Called by the
   * queued step task, and by callers that need outputs now (`LlmEngine.step`). A forward pass that fails in the
   * backend makes the model unusable (see {@link Scheduler.forwardOutside}): this throws WORKER_CRASHED then.
   */
  step(): boolean {
    this.#usable();
    const waiting = this.#waitingView();
    const plan = planStep(this.#runningView(), waiting, {
      blockSize: this.blocks.blockSize,
      freeBlocks: this.blocks.freeBlocks,
      maxBatchTokens: this.lm.maxBatchTokens,
      maxLogitRows: this.lm.maxLogitRows,
      maxConcurrentRequests: this.limits.maxConcurrentRequests,
      prefillRows: this.#prefillRows(),
    });
    plan.preempt.forEach((id, i) => this.#preempt(this.#entries.get(id)!, i));
    for (const id of plan.admit) {
      const entry = this.#entries.get(id)!;
      this.#waiting.splice(this.#waiting.indexOf(entry), 1);
      const seq = entry.sequence;
      const cached = this.blocks.attach(seq.kv, seq.tokens);   // the cached prefix it was planned with
      const planned = waiting.find((w) => w.id === id)!.cached;
      if (cached !== planned) throw new InferenceError("VALIDATION", `request ${id} found ${cached} cached positions, not the ${planned} planned`);
      if (!entry.started) {
        entry.started = true;
        this.#promptTokens += seq.promptIds.length;
        this.#cachedPromptTokens += Math.min(cached, seq.promptIds.length);
      }
      entry.phase = "running";
      this.#running.push(entry);
      this.#admitted++;
    }
    if (plan.rows.length === 0) return false;

    const batch: BatchSequence[] = [];
    const entries: Entry[] = [];
    for (const rows of plan.rows) {
      const entry = this.#entries.get(rows.id)!;
      const seq = entry.sequence;
      if (!seq.kv.reserve(rows.blocks * this.blocks.blockSize)) throw new InferenceError("VALIDATION", `the KV pool lacks the blocks the step planned for request ${rows.id}`);
      batch.push({ tokens: seq.input(rows.count), start: seq.cached, blocks: seq.kv.blocks, logits: rows.logits ? "last" : "none" });
      entries.push(entry);
    }
    let logits: Float32Array;
    const t0 = performance.now();
    try {
      logits = this.lm.forward(batch);
    } catch (error) {
      if (!InferenceError.is(error)) throw this.#giveUp(error); // the backend failed
      for (const entry of entries) this.#end(entry, error);     // refused before any kernel ran: these requests fail
      return true;
    }
    const t1 = performance.now();
    const rowCount = plan.rows.reduce((n, r) => n + r.count, 0);
    this.chunks.observe(rowCount, t1 - t0);
    const decodeRows = plan.rows.filter((r) => r.count === 1 && r.logits).length;
    this.#records[this.#steps % STEP_RECORDS] = { end: performance.timeOrigin + t1, ms: t1 - t0, rows: rowCount, prefillRows: rowCount - decodeRows, sequences: plan.rows.length };
    this.#steps++;
    this.#stepSequences += plan.rows.length;
    this.#stepRows += rowCount;

    const vocab = this.lm.config.vocabSize;
    let row = 0;
    plan.rows.forEach((rows, i) => {
      const entry = entries[i];
      entry.sequence.advance(rows.count);
      this.blocks.commit(entry.sequence.kv, entry.sequence.tokens);   // its full blocks, for later requests
      if (!rows.logits) return;
      const own = logits.subarray(row * vocab, (row + 1) * vocab);
      row++;
      try {
        const output = entry.sequence.sample(own);
        if (output.finishReason !== undefined) this.#finish(entry);
        entry.outbox.push(output);
        this.#forgetIfClosed(entry);
      } catch (error) {
        this.#end(entry, error);
      }
    });
    return true;
  }

  /** The chunk policy's prefill rows for the running decodes and the requests waiting for their first token. */
  #prefillRows(): number {
    let decoding = 0, waiting = 0;
    for (const e of this.#running) {
      if (this.#paused(e)) continue;
      if (e.sequence.pending === 1) decoding++;
      else waiting++;
    }
    for (const e of this.#waiting) if (!this.#paused(e)) waiting++;
    return this.chunks.prefillRows(decoding, waiting);
  }

  /** True while `entry` sits out of the steps: too many of its outputs are not taken yet, or its grammar's mask is not. */
  #paused(entry: Entry): boolean {
    return entry.outbox.unread >= this.limits.maxUnreadOutputs || !entry.sequence.ready;
  }

  /**
   * Queues a step unless one is queued or nothing can run. A step that throws (a broken invariant, or the backend
   * failing, never a request's own failure, which fails that request alone) fails every request held, so none waits
   * forever.
   */
  #kick(): void {
    if (this.#stepQueued || !this.#hasWork()) return;
    this.#stepQueued = true;
    this.driver.enqueue(() => {
      this.#stepQueued = false;
      try {
        if (this.step()) this.#kick();
      } catch (error) {
        for (const entry of [...this.#running, ...this.#waiting]) this.#end(entry, error);
      }
    });
  }

  /** True when a step could do something: a running request not sitting out, or one waiting. */
  #hasWork(): boolean {
    return this.#running.some((e) => !this.#paused(e)) || this.#waiting.some((e) => !this.#paused(e));
  }

  /** Throws the failure that made the model unusable, if one did. */
  #usable(): void {
    if (this.#unusable !== undefined) throw this.#unusable;
  }

  /**
   * The backend failed (`error` has no catalogue code: a wasm trap, a RangeError): its memory is in an unknown state.
   * Every request held fails with WORKER_CRASHED naming the failure, the model refuses all later work, and the
   * worker is given up so the host replaces it. Returns that WORKER_CRASHED.
   */
  #giveUp(error: unknown): InferenceError {
    if (this.#unusable !== undefined) return this.#unusable;
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const failure = new InferenceError(
      "WORKER_CRASHED",
      `a forward pass failed in the ${this.lm.kernels.name} backend (${what}); the model's memory is in an unknown state, so it is taken out of service`,
      { cause: error },
    );
    this.#unusable = failure;
    for (const entry of [...this.#running, ...this.#waiting]) this.#end(entry, failure);
    this.driver.crash?.(failure);
    return failure;
  }

  /** The running requests as the policy sees them: what they hold, and what preempting each would free. */
  #runningView(): PlanSequence[] {
    return this.#running.map((e) => ({
      id: e.id,
      cached: e.sequence.cached,
      length: e.sequence.tokens.length,
      blocks: e.sequence.kv.blocks.length,
      ownBlocks: this.blocks.ownBlocks(e.sequence.kv),
      paused: this.#paused(e),
    }));
  }

  /**
   * The waiting requests as the policy sees them: each starting with the cached blocks of its prefix. One whose next
   * block a running request is prefilling, or a request ahead of it in the queue would, sits out until that block is
   * cached (identical prompts sent at once, `n` samples of one prompt: the first computes the prefix, the others
   * attach it).
   */
  #waitingView(): PlanSequence[] {
    const upcoming = new Set<string>();
    const add = (e: Entry) => {
      for (const hash of this.blocks.upcoming(e.sequence.kv, e.sequence.tokens)) upcoming.add(hash);
    };
    for (const e of this.#running) if (e.sequence.pending > 1) add(e);
    return this.#waiting.map((e) => {
      const { kv, tokens } = e.sequence;
      const hit = this.blocks.lookup(kv, tokens);
      const next = upcoming.size === 0 ? undefined : this.blocks.nextHash(kv, tokens, hit.blocks);
      const paused = this.#paused(e) || (next !== undefined && upcoming.has(next));
      if (!paused) add(e);
      return { id: e.id, cached: hit.positions, length: tokens.length, blocks: hit.blocks, reclaim: hit.unreferenced, paused };
    });
  }

  #entry(id: number): Entry {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new InferenceError("VALIDATION", `no live sequence ${id}`);
    return entry;
  }

  /**
   * A running request gives its blocks back and rejoins the queue at `at` (near its head: its tokens run again when
   * it is admitted again).
   */
  #preempt(entry: Entry, at: number): void {
    this.#running.splice(this.#running.indexOf(entry), 1);
    this.blocks.reset(entry.sequence.kv);                    // its cached blocks stay cached: rejoining may find them
    entry.phase = "waiting";
    this.#waiting.splice(Math.min(at, this.#waiting.length), 0, entry);
    this.#preemptions++;
  }

  /** Out of the queue or the batch, blocks freed; the entry itself stays until its outputs are taken. */
  #leave(entry: Entry): void {
    if (entry.phase === "running") this.#running.splice(this.#running.indexOf(entry), 1);
    else if (entry.phase === "waiting") this.#waiting.splice(this.#waiting.indexOf(entry), 1);
    entry.phase = "done";
    entry.sequence.kv.free();
    entry.sequence.dispose();
  }

  #finish(entry: Entry): void {
    this.#leave(entry);
    this.#kick();
  }

  /** Ends the request with `error` (its caller gets it at its next take). */
  #end(entry: Entry, error: unknown): void {
    this.#leave(entry);
    entry.outbox.fail(error);
    this.#forgetIfClosed(entry);
    this.#kick();
  }

  #forgetIfClosed(entry: Entry): void {
    if (entry.outbox.closed && this.#entries.get(entry.id) === entry) this.#entries.delete(entry.id);
  }
}
