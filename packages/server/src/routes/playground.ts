// GET / serves the web playground (a static page, its script and its style; no build step, nothing from a CDN).
import type { FastifyInstance } from "fastify";
import { playgroundAssets } from "../playground-assets.js";

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Registers the playground's routes. */
export function playgroundRoutes(app: FastifyInstance): void {
  for (const [path, asset] of playgroundAssets()) {
    app.get(path, async (_request, reply) =>
      reply.type(asset.type).header("content-security-policy", CSP).header("x-content-type-options", "nosniff").header("cache-control", "no-cache").send(asset.body),
    );
  }
}
