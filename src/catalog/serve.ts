/**
 * `undistro catalog serve`: the catalogue live from the repository. The site is built into a
 * private directory and served read-only; when an index in the repository changes (a build, the
 * daily rebuild) the next request rebuilds it first. Only GET and HEAD, only files of the site.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { REBUILD_HISTORY_FILE } from "../rebuild/index.js";
import { buildCatalog, type CatalogBuildOptions } from "./build.js";
import { repositoryArchs } from "./model.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".jsonl": "application/jsonl",
};

export interface RunningCatalog {
  url: string;
  close(): Promise<void>;
}

/** The newest mtime of the repositories' indexes, the rebuild history and the images' index.json: what says the site is stale. */
function sourceStamp(indexes: string[], history: string, images: string[]): number {
  const files = [join(history, REBUILD_HISTORY_FILE), ...indexes, ...images.map((i) => join(i.replace(/^[^=/]*=/, "").replace(/^oci:/, ""), "index.json"))];
  return Math.max(0, ...files.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0));
}

export async function serveCatalog(opts: Omit<CatalogBuildOptions, "out"> & { host: string; port: number }): Promise<RunningCatalog> {
  const site = mkdtempSync(join(tmpdir(), "undistro-catalog-"));
  const indexes = [opts.repository, ...(opts.repositoryAppend ?? [])].flatMap((r) => repositoryArchs(r).map((a) => join(r, a, "APKINDEX.tar.gz")));
  const { host: _host, port: _port, ...build } = opts;
  let stamp = -1;
  // One rebuild at a time: requests that arrive during it wait for the same one.
  let pending: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    pending ??= (async () => {
      const now = sourceStamp(indexes, opts.repository, opts.images ?? []);
      if (now !== stamp) {
        await buildCatalog({ ...build, out: site });
        stamp = now;
      }
    })().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  await refresh();
  const server: Server = createServer(async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://catalog").pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const file = normalize(join(site, path.endsWith("/") ? `${path}index.html` : path));
    if (!file.startsWith(site + sep)) {
      res.writeHead(404).end();
      return;
    }
    try {
      await refresh();
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "x-content-type-options": "nosniff" });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((done) => server.listen(opts.port, opts.host, done));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}/`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => {
          rmSync(site, { recursive: true, force: true });
          done();
        });
      }),
  };
}
