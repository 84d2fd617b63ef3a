// A server's life as load balancers and orchestrators see it. `serving`; on close, `draining`: readiness (/health)
// turns 503 at once while requests are still served, for the drain delay, so load balancers that poll /health stop
// sending before anything is refused; then `refusing`: a new request gets 503 with Retry-After and Connection:
// close, while the requests that arrived before finish within the grace period. Liveness (/livez) holds throughout.

/** Where a server is in its life. */
export type Phase = "serving" | "draining" | "refusing";

/** Paths answered in every phase (their own answers say the phase): readiness and liveness. */
export const LIFECYCLE_PATHS: ReadonlySet<string> = new Set(["/health", "/livez"]);

/** One server's phase, and its move from serving to refusing. */
export class Lifecycle {
  #phase: Phase = "serving";
  #skip: (() => void) | undefined;

  /** The phase now. */
  get phase(): Phase {
    return this.#phase;
  }

  /** True until close began: the server takes new work. */
  get serving(): boolean {
    return this.#phase === "serving";
  }

  /** True once new requests are refused (503, Connection: close). */
  get refusing(): boolean {
    return this.#phase === "refusing";
  }

  /**
   * Turns readiness off now; after `delayMs` (or at once when {@link hurry} is called), refuses new requests.
   * Resolves when refusing began; with no delay, refusing begins before this returns.
   */
  drain(delayMs: number): Promise<void> {
    if (this.#phase !== "serving") return Promise.resolve();
    if (delayMs <= 0) {
      this.#phase = "refusing";
      return Promise.resolve();
    }
    this.#phase = "draining";
    return new Promise<void>((resolve) => {
      const refuse = () => {
        clearTimeout(timer);
        this.#skip = undefined;
        this.#phase = "refusing";
        resolve();
      };
      const timer = setTimeout(refuse, delayMs);
      this.#skip = refuse;
    });
  }

  /** Ends the drain delay now (a second signal: shutting down should not wait). */
  hurry(): void {
    this.#skip?.();
  }
}
