// The engine's bound on requests: at most `maxConcurrentRequests` in the batch and `maxQueuedRequests` waiting to
// join it. A request that arrives when both are full is refused at once (OVERLOADED) rather than queued without
// bound; which waiting request joins the batch, and when, is the step policy's (policy.ts).
import { InferenceError } from "@actorlm/runtime";

/** Limits on the requests one model holds. */
export interface AdmissionLimits {
  /** Most requests in the batch at once (each holds KV blocks and gets rows every step). */
  readonly maxConcurrentRequests: number;
  /** Most requests waiting to join the batch; one more is refused with OVERLOADED. */
  readonly maxQueuedRequests: number;
}

/** Throws OVERLOADED when `running` + `waiting` requests already fill the batch and the queue. */
export function checkAdmission(running: number, waiting: number, limits: AdmissionLimits): void {
  const { maxConcurrentRequests: batch, maxQueuedRequests: queue } = limits;
  if (running + waiting < batch + queue) return;
  throw new InferenceError("OVERLOADED", `the model is busy: ${running} requests running and ${waiting} waiting (limits: ${batch} running, ${queue} waiting)`);
}
