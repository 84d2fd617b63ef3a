/**
 * A local stand-in for the Hugging Face Hub: a real HTTP server on loopback serving folders in the Hub's URL layout,
 * `/{org}/{name}/resolve/{revision}/{file}`. JSON files answer directly with an ETag; safetensors files answer the way
 * the Hub serves LFS files (GGUF files too), with a redirect that carries X-Linked-Etag and X-Linked-Size, to a `/cdn/` URL. Range
 * requests (`bytes=a-` and `bytes=a-b`) are honoured. Tests can cut a file's next transfers short, make it announce
 * the wrong size, answer its next requests with a server error, and read back every request it got.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** The commit every served repository is at. */
export const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** One request the hub got. */
export interface HubRequest {
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

export class FakeHub {
  readonly requests: HubRequest[] = [];
  /** file name → how many more GETs of it are cut, and after how many bytes. */
  readonly cuts = new Map<string, { times: number; after: number }>();
  /** file name → bytes added to its announced size. */
  readonly lies = new Map<string, number>();
  /** file name → how many more requests of it (of `method`, else any) are answered with `status` (a 5xx) instead. */
  readonly failures = new Map<string, { times: number; status: number; method?: "GET" | "HEAD" }>();

  private constructor(private readonly server: Server, readonly url: string, private readonly repos: Record<string, string>) {}

  /** Serves `repos` (id → folder) on a free loopback port. */
  static async start(repos: Record<string, string>): Promise<FakeHub> {
    let hub: FakeHub | undefined;
    const server = createServer((req, res) => hub!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hub = new FakeHub(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, repos);
    return hub;
  }

  /** GET requests for `file`. */
  gets(file: string): HubRequest[] {
    return this.requests.filter((r) => r.method === "GET" && r.path.endsWith(`/${file}`));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? "/", this.url).pathname);
    this.requests.push({ method: req.method ?? "", path, range: req.headers.range, authorization: req.headers.authorization });
    const cdn = /^\/cdn\/(.+?)\/(.+?)\/([^/]+)$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/(.+)\/([^/]+)$/.exec(path);
    const [repo, revision, file] = cdn ? [`${cdn[1]}/${cdn[2]}`, COMMIT, cdn[3]] : resolve ? [resolve[1], resolve[2], resolve[3]] : [];
    const folder = repo === undefined ? undefined : this.repos[repo];
    if (folder === undefined || file === undefined || !existsSync(join(folder, file))) return notFound(res, folder === undefined ? "RepoNotFound" : "EntryNotFound");
    if (revision !== "main" && revision !== COMMIT) return notFound(res, "RevisionNotFound");
    const failure = this.failures.get(file);
    if (failure !== undefined && failure.times > 0 && (failure.method ?? req.method) === req.method) {
      failure.times--;
      res.writeHead(failure.status, { "content-type": "text/plain" });
      return void res.end(`${failure.status}\n`);
    }
    const body = readFileSync(join(folder, file));
    const etag = createHash("sha256").update(body).digest("hex");
    const size = body.length + (this.lies.get(file) ?? 0);
    res.setHeader("X-Repo-Commit", COMMIT);
    if (!cdn && (file.endsWith(".safetensors") || file.endsWith(".gguf"))) { // LFS: the metadata rides on the redirect
      res.writeHead(302, { location: `/cdn/${repo}/${file}`, "x-linked-etag": `"${etag}"`, "x-linked-size": String(size), "content-length": "0" });
      return void res.end();
    }
    res.setHeader("ETag", `"${cdn ? etag : etag.slice(0, 40)}"`);
    res.setHeader("Accept-Ranges", "bytes");
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    const from = range ? Number(range[1]) : 0;
    const to = range?.[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
    if (req.method === "HEAD") {
      res.writeHead(200, { "content-length": String(size) });
      return void res.end();
    }
    if (from >= body.length) {
      res.writeHead(416, { "content-range": `bytes */${body.length}` });
      return void res.end();
    }
    const part = body.subarray(from, to + 1);
    res.writeHead(range ? 206 : 200, { "content-length": String(part.length), ...(range ? { "content-range": `bytes ${from}-${to}/${body.length}` } : {}) });
    const cut = this.cuts.get(file);
    if (cut !== undefined && cut.times > 0) {
      cut.times--;
      res.write(part.subarray(0, Math.min(cut.after, part.length - 1)));
      res.socket?.end();                                                // the bytes written, then the connection closes
      return;
    }
    res.end(part);
  }
}

function notFound(res: ServerResponse, code: string): void {
  res.writeHead(404, { "x-error-code": code, "content-type": "text/plain" });
  res.end(`${code}\n`);
}
