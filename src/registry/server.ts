/**
 * undistro's registry: the OCI distribution spec v1.1 over node's http, on RegistryStorage.
 * Handlers check names, tags and digests against the spec's grammar before touching storage,
 * verify every digest, and answer errors in the spec's JSON shape.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, createReadStream, createWriteStream, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { type AccessCheck, type Action, RegistryAuth } from "./auth.js";
import { isRepositoryName, NAME_RE, TAG_RE } from "./names.js";
import { DIGEST_RE, digestOf, RegistryStorage } from "./storage.js";

export { NAME_RE, TAG_RE };
export const MAX_MANIFEST = 4 * 1024 * 1024;

const MANIFEST_TYPES = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

export interface RegistryOptions {
  root: string;
  /** Path to a YAML/JSON config with users and permissions (see auth.ts); none = open registry. */
  config?: string;
  tls?: { cert: string; key: string };
}

export interface RunningRegistry {
  url: string;
  port: number;
  close(): Promise<void>;
  storage: RegistryStorage;
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new RegistryError(413, "SIZE_INVALID", `body larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Streams the request body into `file` (append or new), feeding each chunk to `onChunk`. */
async function streamTo(req: http.IncomingMessage, file: string, append: boolean, onChunk?: (c: Buffer) => void): Promise<number> {
  const out = createWriteStream(file, { flags: append ? "a" : "w" });
  let n = 0;
  req.on("data", (c: Buffer) => {
    n += c.length;
    onChunk?.(c);
  });
  await pipeline(req, out);
  return n;
}

async function fileDigest(file: string, algo: "sha256" | "sha512"): Promise<string> {
  const h = createHash(algo);
  await pipeline(createReadStream(file), h);
  return `${algo}:${h.digest("hex")}`;
}

/** One `Range: bytes=` request (a start-end or a suffix `-N`), clipped to the blob: undefined means the
 * whole blob (no header, or a form not served, such as several ranges), "unsatisfiable" a 416. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? "");
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start > end || start >= size ? "unsatisfiable" : { start, end };
}

interface LayerDescriptor {
  digest: string;
  mediaType?: unknown;
  urls?: unknown;
}

/** A non-distributable (OCI) or foreign (Docker) layer that names where to fetch it: its blob lives
 * elsewhere, so the registry does not require it pushed (as the distribution spec and docker's registry
 * allow). Without `urls` such a layer is an ordinary blob that must be present. */
function isForeignLayer(layer: LayerDescriptor): boolean {
  const type = typeof layer.mediaType === "string" ? layer.mediaType : "";
  const foreign = type.startsWith("application/vnd.oci.image.layer.nondistributable.") || type === "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
  return foreign && Array.isArray(layer.urls) && layer.urls.length > 0 && layer.urls.every((u) => typeof u === "string");
}

export class RegistryServer {
  readonly storage: RegistryStorage;
  readonly auth: RegistryAuth;
  /** Per-repository cache of subject digest → referrer descriptors. */
  private referrerCache = new Map<string, Map<string, Array<Record<string, unknown>>>>();

  constructor(readonly opts: RegistryOptions) {
    this.storage = new RegistryStorage(opts.root);
    this.auth = RegistryAuth.fromFile(opts.config);
  }

  async listen(host = "127.0.0.1", port = 0): Promise<RunningRegistry> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((err) => this.fail(res, err, req));
    };
    const server = this.opts.tls
      ? https.createServer({ cert: readFileSync(this.opts.tls.cert), key: readFileSync(this.opts.tls.key) }, handler)
      : http.createServer(handler);
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    const addr = server.address() as AddressInfo;
    const scheme = this.opts.tls ? "https" : "http";
    const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${addr.port}`;
    this.auth.realmBase = url;
    return {
      url,
      port: addr.port,
      storage: this.storage,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  private fail(res: http.ServerResponse, err: unknown, req?: http.IncomingMessage): void {
    req?.resume();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e =
      err instanceof RegistryError
        ? err
        : new RegistryError(500, "UNKNOWN", (err as NodeJS.ErrnoException)?.code === "ENOENT" ? "not found" : "internal error");
    if (e.status === 500) process.stderr.write(`registry: ${(err as Error)?.stack ?? String(err)}\n`);
    const body = JSON.stringify({ errors: [{ code: e.code, message: e.message, detail: e.detail ?? null }] });
    res.writeHead(e.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  }

  private send(res: http.ServerResponse, status: number, headers: Record<string, string | number>, body?: Buffer | string): void {
    const buf = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    if (buf !== undefined && headers["Content-Length"] === undefined) headers["Content-Length"] = buf.length;
    if (buf === undefined && headers["Content-Length"] === undefined) headers["Content-Length"] = 0;
    res.writeHead(status, headers);
    res.end(buf);
  }

  private async authorize(req: http.IncomingMessage, res: http.ServerResponse, check: AccessCheck): Promise<boolean> {
    const verdict = this.auth.check(req.headers.authorization, check);
    if (verdict === "ok") return true;
    req.resume(); // drain an unread body so the client sees the answer
    const challenge = this.auth.challenge(check);
    const status = verdict === "denied" ? 403 : 401;
    const code = verdict === "denied" ? "DENIED" : "UNAUTHORIZED";
    const body = JSON.stringify({
      errors: [{ code, message: verdict === "denied" ? "requested access to the resource is denied" : "authentication required", detail: null }],
    });
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(body),
      ...(status === 401 ? { "WWW-Authenticate": challenge } : {}),
    });
    res.end(body);
    return false;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://registry");
    } catch {
      throw new RegistryError(400, "UNSUPPORTED", `the request target ${JSON.stringify((req.url ?? "").slice(0, 200))} is not a URL path`);
    }
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      throw new RegistryError(400, "NAME_INVALID", `the request path ${JSON.stringify(url.pathname.slice(0, 200))} has an invalid percent-escape`);
    }
    const method = req.method ?? "GET";
    res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    if (path === "/token") return this.token(req, res, url);
    if (path === "/v2" || path === "/v2/") {
      if (!(await this.authorize(req, res, { kind: "base" }))) return;
      return this.send(res, 200, { "Content-Type": "application/json" }, "{}");
    }
    if (path === "/v2/_catalog" && method === "GET") {
      if (!(await this.authorize(req, res, { kind: "catalog" }))) return;
      return this.paginate(
        res,
        url,
        "repositories",
        this.storage.repositories().filter((r) => this.auth.visible(req.headers.authorization, r)),
        "/v2/_catalog",
      );
    }
    const m = /^\/v2\/(.+)\/(blobs\/uploads\/?|blobs|manifests|tags\/list|referrers)(?:\/([^/]*))?$/.exec(path);
    if (!m) throw new RegistryError(404, "UNSUPPORTED", `no route for ${method} ${path}`);
    const [, name, kind, ref] = m as unknown as [string, string, string, string | undefined];
    if (!isRepositoryName(name)) throw new RegistryError(400, "NAME_INVALID", `invalid repository name ${JSON.stringify(name)}`);
    const action: Action = method === "GET" || method === "HEAD" ? "pull" : method === "DELETE" ? "delete" : "push";
    const needs: Action[] = kind.startsWith("blobs/uploads") && url.searchParams.get("mount") ? ["push", "pull"] : [action];
    if (!(await this.authorize(req, res, { kind: "repository", name, actions: needs }))) return;
    if (kind === "blobs") return this.blob(req, res, name, ref ?? "", method);
    if (kind.startsWith("blobs/uploads")) return this.uploads(req, res, url, name, ref ?? "", method);
    if (kind === "manifests") return this.manifest(req, res, url, name, ref ?? "", method);
    if (kind === "tags/list" && method === "GET") {
      if (!this.storage.repositoryExists(name)) throw new RegistryError(404, "NAME_UNKNOWN", `repository ${name} not known to registry`);
      const tags = this.storage.tags(name);
      return this.paginate(res, url, "tags", tags, `/v2/${name}/tags/list`, name);
    }
    if (kind === "referrers" && method === "GET") return this.referrers(res, url, name, ref ?? "");
    throw new RegistryError(405, "UNSUPPORTED", `${method} is not supported on ${path}`);
  }

  private paginate(res: http.ServerResponse, url: URL, key: "tags" | "repositories", all: string[], base: string, name?: string): void {
    const nParam = url.searchParams.get("n");
    const last = url.searchParams.get("last");
    let items = last ? all.filter((t) => t > last) : all;
    const headers: Record<string, string | number> = { "Content-Type": "application/json" };
    if (nParam !== null) {
      const n = Number(nParam);
      if (!Number.isInteger(n) || n < 0) throw new RegistryError(400, "PAGINATION_NUMBER_INVALID", `invalid n ${nParam}`);
      if (items.length > n) {
        items = items.slice(0, n);
        if (n > 0) headers.Link = `<${base}?n=${n}&last=${encodeURIComponent(items[items.length - 1] as string)}>; rel="next"`;
      }
    }
    const body = key === "tags" ? { name, tags: items } : { repositories: items };
    this.send(res, 200, headers, JSON.stringify(body));
  }

  private checkDigest(d: string): void {
    if (!DIGEST_RE.test(d)) throw new RegistryError(400, "DIGEST_INVALID", `invalid digest ${JSON.stringify(d)}`);
  }

  private async blob(req: http.IncomingMessage, res: http.ServerResponse, name: string, digest: string, method: string): Promise<void> {
    this.checkDigest(digest);
    if (method === "DELETE") {
      if (!this.storage.unlinkBlob(name, digest)) throw new RegistryError(404, "BLOB_UNKNOWN", `blob ${digest} unknown to ${name}`);
      return this.send(res, 202, {});
    }
    if (method !== "GET" && method !== "HEAD") throw new RegistryError(405, "UNSUPPORTED", `${method} on a blob`);
    if (!this.storage.repoHasBlob(name, digest)) throw new RegistryError(404, "BLOB_UNKNOWN", `blob ${digest} unknown to ${name}`);
    const size = this.storage.blobSize(digest);
    const headers: Record<string, string | number> = {
      "Content-Type": "application/octet-stream",
      "Docker-Content-Digest": digest,
      "Content-Length": size,
      "Accept-Ranges": "bytes",
    };
    const range = method === "GET" ? byteRange(req.headers.range, size) : undefined;
    if (range === "unsatisfiable") throw new RegistryError(416, "BLOB_UNKNOWN", "range not satisfiable");
    if (range) {
      const { start, end } = range;
      res.writeHead(206, { ...headers, "Content-Length": end - start + 1, "Content-Range": `bytes ${start}-${end}/${size}` });
      await pipeline(createReadStream(this.storage.blobPath(digest), { start, end }), res);
      return;
    }
    if (method === "HEAD") {
      res.writeHead(200, headers);
      res.end();
      return;
    }
    res.writeHead(200, headers);
    await pipeline(createReadStream(this.storage.blobPath(digest)), res);
  }

  private uploadLocation(name: string, id: string): string {
    return `/v2/${name}/blobs/uploads/${id}`;
  }

  /**
   * sha256 of each upload so far, fed while the body streams in, so finishing an upload need not
   * read the data back. Dropped (and the file hashed instead) when chunks could interleave.
   */
  private uploadHashes = new Map<string, { hash: Hash; size: number; busy: boolean }>();

  private async receive(req: http.IncomingMessage, id: string, append: boolean): Promise<void> {
    const file = this.storage.uploadDataPath(id);
    const before = append ? statSync(file).size : 0;
    let state = this.uploadHashes.get(id);
    if (state && (state.busy || state.size !== before)) {
      this.uploadHashes.delete(id);
      state = undefined;
    } else if (!state && before === 0) {
      if (this.uploadHashes.size > 10_000) this.uploadHashes.clear();
      state = { hash: createHash("sha256"), size: 0, busy: false };
      this.uploadHashes.set(id, state);
    }
    const s = state;
    if (s) s.busy = true;
    try {
      const n = await streamTo(req, file, append, s ? (c) => s.hash.update(c) : undefined);
      if (s) s.size += n;
    } catch (err) {
      this.uploadHashes.delete(id);
      throw err;
    } finally {
      if (s) s.busy = false;
    }
  }

  /** Verifies the upload's content against `digest`, then fsyncs it and moves it into the blob store. */
  private async finishUpload(name: string, id: string, digest: string): Promise<void> {
    const data = this.storage.uploadDataPath(id);
    const algo = digest.startsWith("sha512:") ? "sha512" : "sha256";
    const running = this.uploadHashes.get(id);
    this.uploadHashes.delete(id);
    const actual =
      algo === "sha256" && running && !running.busy && running.size === statSync(data).size
        ? `sha256:${running.hash.digest("hex")}`
        : await fileDigest(data, algo);
    const fd = openSync(data, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (actual !== digest) {
      this.storage.deleteUpload(id);
      throw new RegistryError(400, "DIGEST_INVALID", `content has digest ${actual}, not ${digest}`);
    }
    const tmp = this.storage.tmpFile();
    renameSync(data, tmp);
    this.storage.commitBlobFile(tmp, digest);
    this.storage.linkBlob(name, digest);
    this.storage.deleteUpload(id);
  }

  private async uploads(req: http.IncomingMessage, res: http.ServerResponse, url: URL, name: string, id: string, method: string): Promise<void> {
    if (method === "POST" && id === "") {
      const mount = url.searchParams.get("mount");
      const from = url.searchParams.get("from");
      if (mount) {
        this.checkDigest(mount);
        if (from && NAME_RE.test(from) && this.auth.allows(req.headers.authorization, from, "pull") && this.storage.repoHasBlob(from, mount)) {
          this.storage.linkBlob(name, mount);
          return this.send(res, 201, { Location: `/v2/${name}/blobs/${mount}`, "Docker-Content-Digest": mount });
        }
      }
      const digest = url.searchParams.get("digest");
      const upload = this.storage.startUpload(name);
      if (digest) {
        this.checkDigest(digest);
        await this.receive(req, upload, false);
        await this.finishUpload(name, upload, digest);
        return this.send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
      }
      req.resume();
      return this.send(res, 202, { Location: this.uploadLocation(name, upload), "Docker-Upload-UUID": upload, Range: "0-0", "OCI-Chunk-Min-Length": 0 });
    }
    const info = this.storage.upload(id);
    if (!info || info.repo !== name) {
      req.resume();
      throw new RegistryError(404, "BLOB_UPLOAD_UNKNOWN", `upload ${id} unknown`);
    }
    const rangeHeader = (size: number) => (size === 0 ? "0-0" : `0-${size - 1}`);
    if (method === "GET") return this.send(res, 204, { Location: this.uploadLocation(name, id), Range: rangeHeader(info.size), "Docker-Upload-UUID": id });
    if (method === "DELETE") {
      this.uploadHashes.delete(id);
      this.storage.deleteUpload(id);
      return this.send(res, 204, {});
    }
    if (method === "PATCH" || method === "PUT") {
      const cr = req.headers["content-range"];
      if (cr !== undefined) {
        const mr = /^(?:bytes )?(\d+)-(\d+)$/.exec(cr);
        if (!mr || Number(mr[1]) !== info.size) {
          req.resume();
          return this.send(res, 416, { Location: this.uploadLocation(name, id), Range: rangeHeader(info.size), "Docker-Upload-UUID": id });
        }
      }
      await this.receive(req, id, true);
      if (method === "PATCH") {
        const size = this.storage.upload(id)?.size ?? 0;
        return this.send(res, 202, { Location: this.uploadLocation(name, id), Range: rangeHeader(size), "Docker-Upload-UUID": id });
      }
      const digest = url.searchParams.get("digest");
      if (!digest) throw new RegistryError(400, "DIGEST_INVALID", "PUT to finish an upload needs ?digest=");
      this.checkDigest(digest);
      await this.finishUpload(name, id, digest);
      return this.send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
    }
    throw new RegistryError(405, "UNSUPPORTED", `${method} on an upload`);
  }

  private resolveRef(name: string, ref: string): string | undefined {
    if (DIGEST_RE.test(ref)) return this.storage.hasManifest(name, ref) ? ref : undefined;
    return this.storage.resolveTag(name, ref);
  }

  private async manifest(req: http.IncomingMessage, res: http.ServerResponse, url: URL, name: string, ref: string, method: string): Promise<void> {
    const isDigest = ref.includes(":");
    if (isDigest) this.checkDigest(ref);
    else if (!TAG_RE.test(ref)) throw new RegistryError(400, "TAG_INVALID", `invalid tag ${JSON.stringify(ref)}`);
    if (method === "GET" || method === "HEAD") {
      const digest = this.resolveRef(name, ref);
      if (!digest || !this.storage.hasManifest(name, digest)) throw new RegistryError(404, "MANIFEST_UNKNOWN", `manifest ${ref} unknown to ${name}`);
      const body = this.storage.readBlob(digest);
      const type = this.storage.manifestMediaType(name, digest) ?? "application/vnd.oci.image.manifest.v1+json";
      const headers = { "Content-Type": type, "Docker-Content-Digest": digest, "Content-Length": body.length };
      if (method === "HEAD") {
        res.writeHead(200, headers);
        res.end();
        return;
      }
      return this.send(res, 200, headers, body);
    }
    if (method === "DELETE") {
      if (!isDigest) {
        if (!this.storage.deleteTag(name, ref)) throw new RegistryError(404, "MANIFEST_UNKNOWN", `tag ${ref} unknown to ${name}`);
        return this.send(res, 202, {});
      }
      if (!this.storage.deleteManifest(name, ref)) throw new RegistryError(404, "MANIFEST_UNKNOWN", `manifest ${ref} unknown to ${name}`);
      this.referrerCache.delete(name);
      return this.send(res, 202, {});
    }
    if (method !== "PUT") throw new RegistryError(405, "UNSUPPORTED", `${method} on a manifest`);
    const body = await readBody(req, MAX_MANIFEST);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(body.toString("utf8"));
    } catch {
      throw new RegistryError(400, "MANIFEST_INVALID", "manifest is not JSON");
    }
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
    const mediaType = typeof doc.mediaType === "string" ? doc.mediaType : contentType;
    if (!MANIFEST_TYPES.has(mediaType)) throw new RegistryError(400, "MANIFEST_INVALID", `unsupported manifest media type ${JSON.stringify(mediaType)}`);
    if (typeof doc.mediaType === "string" && contentType && contentType !== doc.mediaType) {
      throw new RegistryError(400, "MANIFEST_INVALID", `Content-Type ${contentType} does not match the manifest's mediaType ${doc.mediaType}`);
    }
    if (doc.schemaVersion !== 2) throw new RegistryError(400, "MANIFEST_INVALID", "schemaVersion must be 2");
    const algo = isDigest && ref.startsWith("sha512:") ? "sha512" : "sha256";
    const digest = digestOf(algo, body);
    if (isDigest && digest !== ref) throw new RegistryError(400, "DIGEST_INVALID", `manifest digest is ${digest}, not ${ref}`);
    const isIndex = mediaType.includes("index") || mediaType.includes("list");
    const needed = isIndex ? undefined : this.blobsNeeded(doc);
    const missing = isIndex
      ? ((doc.manifests as Array<{ digest: string }> | undefined) ?? []).map((m) => m.digest).filter((d) => !this.storage.hasManifest(name, d))
      : (needed ?? []).filter((d) => !this.storage.refreshBlob(name, d));
    if (missing.length) throw new RegistryError(400, "MANIFEST_BLOB_UNKNOWN", `blobs unknown to ${name}: ${missing.join(", ")}`, missing);
    this.storage.putManifest(name, digest, body, mediaType);
    // A gc running beside may have swept a blob between the check and the store (its mark phase did
    // not see this manifest yet): checked again now that the manifest is visible, and refused if so.
    const lost = (needed ?? []).filter((d) => !this.storage.refreshBlob(name, d));
    if (lost.length) {
      this.storage.deleteManifest(name, digest);
      throw new RegistryError(400, "MANIFEST_BLOB_UNKNOWN", `blobs removed while the manifest was stored (garbage collection): ${lost.join(", ")}`, lost);
    }
    const tags = isDigest ? url.searchParams.getAll("tag") : [ref];
    for (const t of tags) {
      if (!TAG_RE.test(t)) throw new RegistryError(400, "TAG_INVALID", `invalid tag ${JSON.stringify(t)}`);
      this.storage.setTag(name, t, digest);
    }
    this.referrerCache.delete(name);
    const headers: Record<string, string | number> = { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest };
    // Tags given as ?tag= parameters are confirmed as the distribution spec asks (OCI-Tag).
    if (isDigest && tags.length > 0) headers["OCI-Tag"] = tags.join(", ");
    const subject = (doc.subject as { digest?: string } | undefined)?.digest;
    if (subject) headers["OCI-Subject"] = subject;
    return this.send(res, 201, headers);
  }

  /** The config and layer blobs an image manifest needs present (not foreign layers), digests checked. */
  private blobsNeeded(doc: Record<string, unknown>): string[] {
    const cfg = doc.config as { digest?: string } | undefined;
    if (!cfg?.digest) throw new RegistryError(400, "MANIFEST_INVALID", "image manifest without config");
    const layers = (doc.layers as LayerDescriptor[] | undefined) ?? [];
    for (const d of [cfg.digest, ...layers.map((l) => l.digest)]) {
      if (typeof d !== "string" || !DIGEST_RE.test(d)) throw new RegistryError(400, "MANIFEST_INVALID", `invalid digest ${d} in manifest`);
    }
    return [cfg.digest, ...layers.filter((l) => !isForeignLayer(l)).map((l) => l.digest)];
  }

  private referrersOf(name: string): Map<string, Array<Record<string, unknown>>> {
    let cache = this.referrerCache.get(name);
    if (cache) return cache;
    cache = new Map();
    for (const digest of this.storage.manifests(name)) {
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(this.storage.readBlob(digest).toString("utf8"));
      } catch {
        continue;
      }
      const subject = (doc.subject as { digest?: string } | undefined)?.digest;
      if (!subject) continue;
      const desc: Record<string, unknown> = {
        mediaType: doc.mediaType ?? this.storage.manifestMediaType(name, digest),
        digest,
        size: this.storage.blobSize(digest),
        artifactType: doc.artifactType ?? (doc.config as { mediaType?: string } | undefined)?.mediaType,
      };
      if (doc.annotations) desc.annotations = doc.annotations;
      const list = cache.get(subject) ?? [];
      list.push(desc);
      cache.set(subject, list);
    }
    this.referrerCache.set(name, cache);
    return cache;
  }

  private referrers(res: http.ServerResponse, url: URL, name: string, digest: string): void {
    this.checkDigest(digest);
    // `registry gc` in another process may have removed referrers since the cache was filled.
    let list = [...(this.referrersOf(name).get(digest) ?? [])]
      .filter((d) => this.storage.hasManifest(name, String(d.digest)))
      .sort((a, b) => String(a.digest).localeCompare(String(b.digest)));
    const filter = url.searchParams.get("artifactType");
    const headers: Record<string, string | number> = { "Content-Type": "application/vnd.oci.image.index.v1+json" };
    if (filter) {
      list = list.filter((d) => d.artifactType === filter);
      headers["OCI-Filters-Applied"] = "artifactType";
    }
    this.send(res, 200, headers, JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: list }));
  }

  private token(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const r = this.auth.issueToken(req.headers.authorization, url.searchParams.get("scope") ?? "", url.searchParams.get("service") ?? "");
    if (!r) {
      const body = JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "bad credentials", detail: null }] });
      res.writeHead(401, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "WWW-Authenticate": 'Basic realm="undistro"' });
      res.end(body);
      return;
    }
    this.send(res, 200, { "Content-Type": "application/json" }, JSON.stringify(r));
  }
}

export function removeStaleTmp(storage: RegistryStorage): void {
  rmSync(`${storage.root}/tmp`, { recursive: true, force: true });
}
