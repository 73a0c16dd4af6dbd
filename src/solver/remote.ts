/**
 * http(s) repositories: indexes and packages are fetched into the cache, keyed by repository URL,
 * laid out as apk lays out a repository (<arch>/APKINDEX.tar.gz, <arch>/NAME-VERSION.apk), so
 * everything after the fetch reads local files exactly as for a directory repository. Packages are
 * kept by name only after their control checksum matches the index; when the network is gone a
 * cached index is used (and said so), which is what makes a warm cache enough to build offline.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { isSafeFileComponent, parsePackage } from "../apk/index.js";
import { defaultCacheDir, UndistroError, writeFileAtomic } from "../util/index.js";

export function isRemoteRepository(url: string): boolean {
  return /^https?:\/\//.test(url);
}

/** Where a remote repository's files live in the cache. */
export function remoteRepositoryDir(url: string, cacheDir?: string): string {
  const key = createHash("sha256").update(url.replace(/\/+$/, "")).digest("hex").slice(0, 24);
  return join(cacheDir ?? process.env.UNDISTRO_CACHE_DIR ?? defaultCacheDir(), "repositories", key);
}

async function get(url: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new UndistroError("REPOSITORY_UNREACHABLE", `${url}: ${cause?.code ?? (err as Error).message}`);
  }
  if (!res.ok) throw new UndistroError("REPOSITORY_FETCH_FAILED", `${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

export interface FetchReport {
  url: string;
  arch: string;
  index: string;
  /** "network" when downloaded now, "cache" when the network failed and a cached copy was used. */
  from: "network" | "cache";
  warning?: string;
}

/** Downloads each remote repository's index for each architecture into the cache. */
export async function fetchRepositoryIndexes(urls: readonly string[], archs: readonly string[], opts: { cacheDir?: string } = {}): Promise<FetchReport[]> {
  const out: FetchReport[] = [];
  for (const url of urls.filter(isRemoteRepository)) {
    for (const arch of archs) {
      const index = join(remoteRepositoryDir(url, opts.cacheDir), arch, "APKINDEX.tar.gz");
      const remote = `${url.replace(/\/+$/, "")}/${arch}/APKINDEX.tar.gz`;
      try {
        const data = await get(remote);
        mkdirSync(dirname(index), { recursive: true });
        writeFileAtomic(index, data);
        out.push({ url, arch, index, from: "network" });
      } catch (err) {
        if (!(err instanceof UndistroError) || !existsSync(index)) {
          if (err instanceof UndistroError) {
            throw new UndistroError(err.code, err.message, {
              hint: "the repository is unreachable and no copy of its index is cached; fetch once while online",
            });
          }
          throw err;
        }
        out.push({ url, arch, index, from: "cache", warning: `${remote}: ${err.message}; using the cached index` });
      }
    }
  }
  return out;
}

/** The cached index of a remote repository (after fetchRepositoryIndexes). */
export function cachedIndexPath(url: string, arch: string, cacheDir?: string): string {
  const index = join(remoteRepositoryDir(url, cacheDir), arch, "APKINDEX.tar.gz");
  if (!existsSync(index)) {
    throw new UndistroError("SOLVER_REMOTE_NOT_FETCHED", `${url}: the index for ${arch} has not been fetched`, {
      hint: "commands that read remote repositories fetch them first; for a library call, await fetchRepositoryIndexes()",
    });
  }
  return index;
}

/** Where a resolved package's file is on this machine: the cache for a remote one, else its path. */
export function localPackagePath(p: { name: string; version: string; arch: string; url: string; repository: string }, cacheDir?: string): string {
  // Index and lock readers refuse such values already; this keeps any other caller from naming a path outside the cache.
  for (const v of [p.name, p.version, p.arch]) {
    if (!isSafeFileComponent(v))
      throw new UndistroError("REPOSITORY_BAD_ENTRY", `${p.repository}: ${JSON.stringify(v.slice(0, 80))} cannot name a package file`);
  }
  if (isRemoteRepository(p.url) || isRemoteRepository(p.repository))
    return join(remoteRepositoryDir(p.repository, cacheDir), p.arch, `${p.name}-${p.version}.apk`);
  return p.url.replace(/^file:\/\//, "");
}

/**
 * Makes sure each resolved package from a remote repository is in the cache, with the control
 * checksum the index names (a download that does not match is refused, never kept).
 */
export async function fetchPackages(
  packages: ReadonlyArray<{ name: string; version: string; arch: string; checksum: string; repository: string; url: string }>,
): Promise<number> {
  let fetched = 0;
  for (const p of packages) {
    if (!isRemoteRepository(p.repository)) continue;
    const local = localPackagePath(p);
    if (existsSync(local)) continue;
    const remote = `${p.repository.replace(/\/+$/, "")}/${p.arch}/${p.name}-${p.version}.apk`;
    const data = await get(remote);
    const pkg = parsePackage(data, remote);
    if (pkg.checksum !== p.checksum) {
      throw new UndistroError("REPOSITORY_PACKAGE_MISMATCH", `${remote}: control checksum ${pkg.checksum} is not the ${p.checksum} its index names`, {
        hint: "the repository changed under its index, or the download was altered",
      });
    }
    mkdirSync(dirname(local), { recursive: true });
    writeFileAtomic(local, data);
    fetched++;
  }
  return fetched;
}
