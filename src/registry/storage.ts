/**
 * Registry storage on the filesystem, content-addressed. Every write is temp file + fsync +
 * rename, so after a crash a blob or manifest is either complete or absent; a blob is only moved
 * into place after its digest was verified.
 *
 *   ROOT/blobs/<algo>/<hex>                         content (shared by all repositories)
 *   ROOT/repositories/<name>/_layers/<algo>/<hex>    link: the repository may serve this blob
 *   ROOT/repositories/<name>/_manifests/revisions/<algo>/<hex>   link: manifest in the repository
 *   ROOT/repositories/<name>/_manifests/tags/<tag>   file holding the digest the tag points to
 *   ROOT/uploads/<uuid>/{data,info.json}            uploads in progress
 */
import { createHash, randomUUID } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { DIGEST_RE } from "../oci/index.js";
import { writeFileAtomic } from "../util/index.js";

export { DIGEST_RE };

export function digestOf(algo: "sha256" | "sha512", data: Uint8Array): string {
  return `${algo}:${createHash(algo).update(data).digest("hex")}`;
}

export interface UploadInfo {
  repo: string;
  started: number;
  size: number;
}

export class RegistryStorage {
  constructor(readonly root: string) {
    for (const d of ["blobs/sha256", "blobs/sha512", "repositories", "uploads", "tmp"]) mkdirSync(join(root, d), { recursive: true });
  }

  private blobFile(digest: string): string {
    const [algo, hex] = digest.split(":") as [string, string];
    return join(this.root, "blobs", algo, hex);
  }
  private repoDir(repo: string): string {
    return join(this.root, "repositories", ...repo.split("/"));
  }
  private link(repo: string, kind: "_layers" | "_manifests/revisions", digest: string): string {
    const [algo, hex] = digest.split(":") as [string, string];
    return join(this.repoDir(repo), ...kind.split("/"), algo, hex);
  }

  /** Writes data under a temp name in the same file system, fsyncs, renames into place. */
  private put(path: string, data: Uint8Array): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, data);
  }

  hasBlob(digest: string): boolean {
    return existsSync(this.blobFile(digest));
  }
  blobSize(digest: string): number {
    return statSync(this.blobFile(digest)).size;
  }
  blobPath(digest: string): string {
    return this.blobFile(digest);
  }
  readBlob(digest: string): Buffer {
    return readFileSync(this.blobFile(digest));
  }
  repoHasBlob(repo: string, digest: string): boolean {
    return this.hasBlob(digest) && (existsSync(this.link(repo, "_layers", digest)) || existsSync(this.link(repo, "_manifests/revisions", digest)));
  }
  linkBlob(repo: string, digest: string): void {
    const l = this.link(repo, "_layers", digest);
    if (!existsSync(l)) this.put(l, Buffer.from(digest));
    else touch(l);
    this.touchBlob(digest);
  }
  /**
   * Renews a repository's link to a blob it holds (and the blob's time), so that `registry gc`, which
   * spares links and blobs younger than its delay, keeps them while a manifest that needs them is
   * stored. False when the repository does not hold the blob.
   */
  refreshBlob(repo: string, digest: string): boolean {
    if (!this.hasBlob(digest)) return false;
    const layer = this.link(repo, "_layers", digest);
    if (existsSync(layer)) touch(layer);
    else if (!existsSync(this.link(repo, "_manifests/revisions", digest))) return false;
    this.touchBlob(digest);
    return this.repoHasBlob(repo, digest);
  }
  /**
   * Marks a blob as just used: `registry gc` only removes blobs older than its delay, so a blob a
   * push links while gc runs (after gc's mark phase) is kept.
   */
  touchBlob(digest: string): void {
    touch(this.blobFile(digest));
  }
  /** Removes a blob from the store (gc only). */
  removeBlob(digest: string): void {
    rmSync(this.blobFile(digest), { force: true });
  }
  /** Every stored blob digest. */
  allBlobs(): string[] {
    const out: string[] = [];
    for (const algo of ["sha256", "sha512"]) {
      const d = join(this.root, "blobs", algo);
      if (existsSync(d)) for (const h of readdirSync(d)) if (!h.startsWith(".")) out.push(`${algo}:${h}`);
    }
    return out.sort();
  }
  /** Digests a repository links as layers (blobs it may serve). */
  layerLinks(repo: string): string[] {
    const out: string[] = [];
    for (const algo of ["sha256", "sha512"]) {
      const d = join(this.repoDir(repo), "_layers", algo);
      if (existsSync(d)) for (const h of readdirSync(d)) if (!h.startsWith(".")) out.push(`${algo}:${h}`);
    }
    return out.sort();
  }
  /** Modification time of a repository link (when the blob or manifest was pushed to it). */
  linkTime(repo: string, kind: "_layers" | "_manifests/revisions", digest: string): number {
    try {
      return statSync(this.link(repo, kind, digest)).mtimeMs;
    } catch {
      return 0;
    }
  }
  blobTime(digest: string): number {
    try {
      return statSync(this.blobFile(digest)).mtimeMs;
    } catch {
      return 0;
    }
  }
  unlinkBlob(repo: string, digest: string): boolean {
    const l = this.link(repo, "_layers", digest);
    if (!existsSync(l)) return false;
    rmSync(l);
    return true;
  }

  /** Moves a verified upload into the blob store (an existing identical blob is kept). */
  commitBlobFile(tmpFile: string, digest: string): void {
    const dest = this.blobFile(digest);
    if (existsSync(dest)) {
      rmSync(tmpFile, { force: true });
      return;
    }
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(tmpFile, dest);
  }
  /**
   * Upload directories and scratch files older than `olderThan`, for gc: the uploads and tmp
   * directories, and the `.NAME.RANDOM.tmp` files an atomic write leaves beside blobs, links and tags
   * when the server is killed between writing and renaming.
   */
  staleScratch(olderThan: number): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(dir, n);
        try {
          const st = statSync(p);
          if (st.isDirectory()) walk(p);
          else if (/^\..+\.[0-9a-f]{12}\.tmp$/.test(n) && st.mtimeMs < olderThan) out.push(p);
        } catch {
          // renamed or removed meanwhile
        }
      }
    };
    walk(join(this.root, "blobs"));
    walk(join(this.root, "repositories"));
    for (const d of ["uploads", "tmp"]) {
      const dir = join(this.root, d);
      for (const n of readdirSync(dir)) {
        const p = join(dir, n);
        try {
          // An upload's data file changes with every chunk; its directory does not.
          const probe = d === "uploads" && existsSync(join(p, "data")) ? join(p, "data") : p;
          if (statSync(probe).mtimeMs < olderThan) out.push(p);
        } catch {
          // finished meanwhile
        }
      }
    }
    return out;
  }
  putBlob(data: Uint8Array, digest: string): void {
    if (!this.hasBlob(digest)) this.put(this.blobFile(digest), data);
  }

  // ---- uploads -----------------------------------------------------------------------------------

  startUpload(repo: string): string {
    const id = randomUUID();
    const dir = join(this.root, "uploads", id);
    mkdirSync(dir);
    closeSync(openSync(join(dir, "data"), "w"));
    writeFileAtomic(join(dir, "info.json"), Buffer.from(JSON.stringify({ repo, started: Date.now(), size: 0 } satisfies UploadInfo)));
    return id;
  }
  upload(id: string): UploadInfo | undefined {
    if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
    const f = join(this.root, "uploads", id, "info.json");
    if (!existsSync(f)) return undefined;
    const info = JSON.parse(readFileSync(f, "utf8")) as UploadInfo;
    info.size = statSync(join(this.root, "uploads", id, "data")).size;
    return info;
  }
  uploadDataPath(id: string): string {
    return join(this.root, "uploads", id, "data");
  }
  appendUpload(id: string, chunk: Uint8Array): void {
    const fd = openSync(this.uploadDataPath(id), "a");
    try {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  deleteUpload(id: string): void {
    rmSync(join(this.root, "uploads", id), { recursive: true, force: true });
  }
  uploads(): string[] {
    return readdirSync(join(this.root, "uploads"));
  }
  tmpFile(): string {
    return join(this.root, "tmp", randomUUID());
  }

  // ---- manifests and tags ----------------------------------------------------------------------

  /** Stores a manifest; its media type is kept in the revision link so GET can answer with it. */
  putManifest(repo: string, digest: string, data: Uint8Array, mediaType: string): void {
    this.putBlob(data, digest);
    this.touchBlob(digest);
    const l = this.link(repo, "_manifests/revisions", digest);
    if (!existsSync(l)) this.put(l, Buffer.from(JSON.stringify({ digest, mediaType })));
  }
  manifestMediaType(repo: string, digest: string): string | undefined {
    const l = this.link(repo, "_manifests/revisions", digest);
    if (!existsSync(l)) return undefined;
    try {
      return (JSON.parse(readFileSync(l, "utf8")) as { mediaType: string }).mediaType;
    } catch {
      return undefined;
    }
  }
  hasManifest(repo: string, digest: string): boolean {
    return existsSync(this.link(repo, "_manifests/revisions", digest)) && this.hasBlob(digest);
  }
  deleteManifest(repo: string, digest: string): boolean {
    const l = this.link(repo, "_manifests/revisions", digest);
    if (!existsSync(l)) return false;
    rmSync(l);
    for (const tag of this.tags(repo)) if (this.resolveTag(repo, tag) === digest) this.deleteTag(repo, tag);
    return true;
  }
  manifests(repo: string): string[] {
    const out: string[] = [];
    for (const algo of ["sha256", "sha512"]) {
      const d = join(this.repoDir(repo), "_manifests", "revisions", algo);
      // Names starting with a dot are an interrupted atomic write's temp files, not revisions.
      if (existsSync(d)) for (const h of readdirSync(d)) if (!h.startsWith(".")) out.push(`${algo}:${h}`);
    }
    return out.sort();
  }
  tagFile(repo: string, tag: string): string {
    return join(this.repoDir(repo), "_manifests", "tags", tag);
  }
  setTag(repo: string, tag: string, digest: string): void {
    this.put(this.tagFile(repo, tag), Buffer.from(digest));
  }
  resolveTag(repo: string, tag: string): string | undefined {
    const f = this.tagFile(repo, tag);
    return existsSync(f) ? readFileSync(f, "utf8").trim() : undefined;
  }
  deleteTag(repo: string, tag: string): boolean {
    const f = this.tagFile(repo, tag);
    if (!existsSync(f)) return false;
    rmSync(f);
    return true;
  }
  tags(repo: string): string[] {
    const d = join(this.repoDir(repo), "_manifests", "tags");
    return existsSync(d)
      ? readdirSync(d)
          .filter((t) => !t.startsWith("."))
          .sort()
      : [];
  }
  repositoryExists(repo: string): boolean {
    return existsSync(join(this.repoDir(repo), "_manifests")) || existsSync(join(this.repoDir(repo), "_layers"));
  }
  /** Repositories with manifests (catalog); with `withLayers`, also those holding only blobs so far. */
  repositories(withLayers = false): string[] {
    const out: string[] = [];
    const walk = (dir: string, prefix: string[]) => {
      if (!existsSync(dir)) return;
      for (const n of readdirSync(dir).sort()) {
        if (n.startsWith("_") || n.startsWith(".")) continue;
        const p = join(dir, n);
        if (!statSync(p).isDirectory()) continue;
        const name = [...prefix, n];
        if (existsSync(join(p, "_manifests")) || (withLayers && existsSync(join(p, "_layers")))) out.push(name.join("/"));
        walk(p, name);
      }
    };
    walk(join(this.root, "repositories"), []);
    return out.sort();
  }
}

/** Sets a file's times to now; a file already gone is left to the caller's existence check. */
function touch(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    // gone
  }
}
