// GET /health (readiness) and GET /livez (liveness). Readiness is 200 only when every model is ready and the server
// is not shutting down; otherwise 503 with Retry-After, a message saying why (a model loading, one that failed to
// load and why, one restarting after a crash, or the drain) and each model's state. Liveness is 200 as long as the
// process answers — while it drains, while a model loads or recovers, and when one could not load — so an
// orchestrator restarts a replica only when it is stuck, never because it is busy coming back.
import type { FastifyInstance } from "fastify";
import type { Lifecycle } from "./lifecycle.js";
import type { ModelRegistry } from "./models.js";

/** Registers /health and /livez. */
export function healthRoutes(app: FastifyInstance, models: ModelRegistry, lifecycle: Lifecycle): void {
  const states = () => Object.fromEntries(models.list().map((m) => [m.name, m.state]));

  app.get("/health", async (_request, reply) => {
    const waiting = models.list().map((m) => m.notReadyReason()).filter((why) => why !== undefined);
    if (waiting.length === 0 && lifecycle.serving) return { status: "ok", models: states() };
    const why = lifecycle.serving ? waiting.join("; ") : "the server is shutting down";
    return reply
      .code(503)
      .header("retry-after", "1")
      .send({ error: `not ready: ${why}`, error_type: "unhealthy", code: "NOT_READY", phase: lifecycle.phase, models: states() });
  });

  app.get("/livez", async () => ({ status: "alive", phase: lifecycle.phase, models: states() }));
}
