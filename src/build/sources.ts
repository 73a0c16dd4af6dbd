/**
 * Source downloads, pinned by digest: the mirror first, then the cache, then the URI itself; every
 * byte is checked against the recipe's expected-sha256/512 before a build sees it, and kept in a
 * cache by digest.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultCacheDir, fsError, UndistroError, writeFileAtomic } from "../util/index.js";

export interface SourceRequest {
  uri: string;
  sha256?: string;
  sha512?: string;
  /** Where the request comes from, for messages (recipe file and step). */
  where: string;
}

export interface FetchedSource {
  uri: string;
  path: string;
  fileName: string;
  sha256: string;
  sha512?: string;
  from: "cache" | "mirror" | "uri";
}

export { defaultCacheDir };

function digestOf(path: string, algo: "sha256" | "sha512"): string {
  return createHash(algo).update(readFileSync(path)).digest("hex");
}

function matches(path: string, req: SourceRequest): { sha256: string; sha512?: string } | null {
  const sha256 = digestOf(path, "sha256");
  if (req.sha256 && sha256 !== req.sha256.toLowerCase()) return null;
  if (req.sha512) {
    const sha512 = digestOf(path, "sha512");
    if (sha512 !== req.sha512.toLowerCase()) return null;
    return { sha256, sha512 };
  }
  return { sha256 };
}

/** Candidate files for a request inside a mirror directory: by digest, then by file name. */
function mirrorCandidates(dir: string, req: SourceRequest): string[] {
  const c: string[] = [];
  if (req.sha256) c.push(join(dir, "sha256", req.sha256.toLowerCase()));
  if (req.sha512) c.push(join(dir, "sha512", req.sha512.toLowerCase()));
  c.push(join(dir, basename(new URL(req.uri, "file:///").pathname)));
  return c;
}

/** Downloads (or copies a file:// or local path) to `dest`, atomically. */
export async function downloadSource(uri: string, dest: string, where: string): Promise<void> {
  if (/^https?:\/\//.test(uri)) {
    let res: Response;
    try {
      res = await fetch(uri, { redirect: "follow" });
    } catch (err) {
      throw new UndistroError("SOURCE_DOWNLOAD_FAILED", `${where}: cannot download ${uri}: ${(err as Error).message}`, {
        hint: "build offline from a source mirror: source-mirror in undistro.yaml or --source-mirror DIR (fill it with `bash scripts/fetch-sources.sh DEBIAN-SOURCE-PACKAGE` or `undistro source add FILE... --mirror DIR`)",
        cause: err,
      });
    }
    if (!res.ok) throw new UndistroError("SOURCE_DOWNLOAD_FAILED", `${where}: ${uri}: HTTP ${res.status}`);
    writeFileAtomic(dest, Buffer.from(await res.arrayBuffer()));
    return;
  }
  const local = uri.startsWith("file://") ? fileURLToPath(uri) : uri;
  if (!existsSync(local)) throw new UndistroError("SOURCE_NOT_FOUND", `${where}: ${uri} does not exist`);
  copyFileSync(local, `${dest}.part`);
  renameSync(`${dest}.part`, dest);
}

/**
 * Returns a verified local copy of the source. Without a pinned digest nothing is fetched: a build
 * must say what it expects.
 */
export async function fetchSource(req: SourceRequest, options: { cacheDir?: string; mirrors?: readonly string[] } = {}): Promise<FetchedSource> {
  if (!req.sha256 && !req.sha512) {
    throw new UndistroError("SOURCE_NOT_PINNED", `${req.where}: ${req.uri} has no expected-sha256 or expected-sha512`, {
      hint: "pin the download: add expected-sha256 (sha256sum of the file) to the step",
    });
  }
  for (const [k, v, n] of [["sha256", req.sha256, 64] as const, ["sha512", req.sha512, 128] as const]) {
    if (v !== undefined && !new RegExp(`^[0-9a-fA-F]{${n}}$`).test(v)) {
      throw new UndistroError("SOURCE_BAD_DIGEST", `${req.where}: expected-${k} ${JSON.stringify(v)} is not ${n} hex digits`);
    }
  }
  const fileName = basename(new URL(req.uri, "file:///").pathname) || "source";
  const cacheDir = join(options.cacheDir ?? defaultCacheDir(), "sources");
  const key = req.sha256 ? join("sha256", req.sha256.toLowerCase()) : join("sha512", (req.sha512 as string).toLowerCase());
  const cached = join(cacheDir, key);
  const result = (path: string, from: FetchedSource["from"], d: { sha256: string; sha512?: string }): FetchedSource => {
    const r: FetchedSource = { uri: req.uri, path, fileName, sha256: d.sha256, from };
    if (d.sha512) r.sha512 = d.sha512;
    return r;
  };
  if (existsSync(cached)) {
    const d = matches(cached, req);
    if (d) return result(cached, "cache", d);
  }
  const store = (path: string, from: FetchedSource["from"]): FetchedSource | null => {
    const d = matches(path, req);
    if (!d) return null;
    try {
      mkdirSync(join(cacheDir, key, ".."), { recursive: true });
      copyFileSync(path, `${cached}.part`);
      renameSync(`${cached}.part`, cached);
    } catch (err) {
      throw fsError(err, "write source cache", cached);
    }
    return result(cached, from, d);
  };
  for (const m of options.mirrors ?? []) {
    for (const candidate of mirrorCandidates(m.startsWith("file://") ? fileURLToPath(m) : m, req)) {
      if (existsSync(candidate) && statSync(candidate).isFile()) {
        const r = store(candidate, "mirror");
        if (r) return r;
      }
    }
  }
  const tmp = join(cacheDir, `.download-${process.pid}-${Date.now()}`);
  mkdirSync(cacheDir, { recursive: true });
  try {
    await downloadSource(req.uri, tmp, req.where);
  } catch (err) {
    if (err instanceof UndistroError && (options.mirrors?.length ?? 0) > 0) {
      throw new UndistroError(err.code, `${err.message} (not in the source mirror ${options.mirrors?.join(", ")} either)`, {
        hint: `fill the mirror: \`bash scripts/fetch-sources.sh DEBIAN-SOURCE-PACKAGE\` (Debian's .orig tarballs), or \`undistro source add FILE --mirror ${options.mirrors?.[0]}\` for a file with sha256 ${req.sha256 ?? "?"}`,
      });
    }
    throw err;
  }
  const d = matches(tmp, req);
  if (!d) {
    const got = digestOf(tmp, "sha256");
    rmSync(tmp, { force: true });
    throw new UndistroError(
      "SOURCE_DIGEST_MISMATCH",
      `${req.where}: ${req.uri} has sha256 ${got}, the recipe expects ${req.sha256 ?? `sha512 ${req.sha512}`}`,
      {
        hint: "the upstream file changed or the download was corrupted; do not change the recipe's digest without checking why",
      },
    );
  }
  // The digest directory may not exist yet: a first download into an empty cache.
  mkdirSync(dirname(cached), { recursive: true });
  renameSync(tmp, cached);
  return result(cached, "uri", d);
}

/** Adds files to a source mirror under sha256/ (and sha512/) so recipes find them by digest. */
export function addToMirror(files: readonly string[], mirror: string): Array<{ file: string; sha256: string; path: string }> {
  const out: Array<{ file: string; sha256: string; path: string }> = [];
  mkdirSync(join(mirror, "sha256"), { recursive: true });
  mkdirSync(join(mirror, "sha512"), { recursive: true });
  for (const f of files) {
    let data: Buffer;
    try {
      data = readFileSync(f);
    } catch (err) {
      throw fsError(err, "read", f);
    }
    const sha256 = createHash("sha256").update(data).digest("hex");
    const sha512 = createHash("sha512").update(data).digest("hex");
    const path = join(mirror, "sha256", sha256);
    if (!existsSync(path)) writeFileAtomic(path, data);
    const p512 = join(mirror, "sha512", sha512);
    if (!existsSync(p512)) linkSync(path, p512);
    out.push({ file: f, sha256, path });
  }
  return out;
}
