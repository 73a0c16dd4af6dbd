/**
 * The solver as the rest of undistro uses it: load repositories (verifying their signatures), resolve
 * a world, get the ordered install set or a structured, apk-worded explanation; write and check lock
 * files.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { type ApkKeyring, type IndexEntry, isSafeFileComponent, parseIndexArchive, verifyIndex } from "../apk/index.js";
import { fsError, sha256Hex, sortedJson, UndistroError } from "../util/index.js";
import { applyAdd } from "./applets.js";
import { explainFailure, type Problem } from "./explain.js";
import { PackageDb, type Pkg } from "./model.js";
import { cachedIndexPath, isRemoteRepository } from "./remote.js";
import { prepareSolverStates, Solver } from "./solve.js";

export interface RepositorySpec {
  /** A directory, a file:// URL, a path to an APKINDEX.tar.gz, or an http(s) URL (fetched into the cache first). */
  url: string;
  /** Repository tag for pinning (`name@tag` in the world picks from here). */
  tag?: string;
}

export interface LoadedRepository {
  url: string;
  tag?: string;
  /** The index file that was read. */
  indexPath: string;
  /** sha256 of the index file, recorded in locks. */
  indexDigest: string;
  /** Key that verified the index; null when loaded without a keyring. */
  signedBy: string | null;
  entries: IndexEntry[];
}

function localPath(url: string): string {
  return url.startsWith("file://") ? fileURLToPath(url) : url;
}

/** Finds the index: URL/ARCH/APKINDEX.tar.gz (apk's layout), URL/APKINDEX.tar.gz, or the file itself. */
export function indexPathFor(url: string, arch: string): string {
  if (isRemoteRepository(url)) return cachedIndexPath(url, arch);
  const base = localPath(url);
  if (base.endsWith(".tar.gz") || (existsSync(base) && statSync(base).isFile())) return base;
  const candidates = [join(base, arch, "APKINDEX.tar.gz"), join(base, "APKINDEX.tar.gz")];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new UndistroError("SOLVER_NO_INDEX", `${url}: no APKINDEX.tar.gz for ${arch} (looked for ${candidates.join(" and ")})`, {
    hint: "build one with `undistro index DIR --signing-key KEY.rsa`",
  });
}

/** Reads a repository's index; with a keyring, its signature must verify. */
export function loadRepository(spec: RepositorySpec, arch: string, keyring?: ApkKeyring): LoadedRepository {
  const indexPath = indexPathFor(spec.url, arch);
  let buf: Buffer;
  try {
    buf = readFileSync(indexPath);
  } catch (err) {
    throw fsError(err, "read index", indexPath);
  }
  const index = parseIndexArchive(buf, indexPath);
  const signedBy = keyring ? verifyIndex(index, keyring).keyName : null;
  const repo: LoadedRepository = { url: spec.url, indexPath, indexDigest: `sha256:${sha256Hex(buf)}`, signedBy, entries: index.entries };
  if (spec.tag !== undefined) repo.tag = spec.tag;
  return repo;
}

export interface ResolvedPackage {
  name: string;
  version: string;
  arch: string;
  /** `Q1…` control checksum (APKINDEX `C:`). */
  checksum: string;
  size: number;
  installedSize: number;
  /** The repository it comes from, as given. */
  repository: string;
  /** Where the .apk is: directory of the index + NAME-VERSION.apk. */
  url: string;
  depends: string[];
  provides: string[];
}

export interface Resolution {
  arch: string;
  world: string[];
  /** Install order: dependencies before dependents (apk's transaction order). */
  packages: ResolvedPackage[];
}

/** Everything needed to solve: a database with the repositories and (optionally) what is installed. */
export function buildDatabase(repos: LoadedRepository[], installed: IndexEntry[] = []): { db: PackageDb; repoOf: Map<Pkg, LoadedRepository> } {
  const db = new PackageDb();
  const repoOf = new Map<Pkg, LoadedRepository>();
  for (const e of installed) db.addPackage(e, 0, "installed database", 0);
  for (const r of repos) {
    const repoOpts: { tag?: string; local: boolean } = { local: true };
    if (r.tag !== undefined) repoOpts.tag = r.tag;
    const repo = db.addRepository(r.url, repoOpts);
    for (const e of r.entries) {
      const pkg = db.addPackage(e, 1 << repo.index, r.indexPath);
      if (!repoOf.has(pkg)) repoOf.set(pkg, r);
    }
  }
  return { db, repoOf };
}

/** The error raised when a world cannot be satisfied; `problems` carries the explanation as data. */
export class UnsatisfiableError extends UndistroError {
  constructor(
    message: string,
    readonly problems: Problem[],
  ) {
    super("SOLVER_UNSATISFIABLE", message, { hint: "change the world (package list), or add a repository that has what is missing" });
  }
}

/** Repositories loaded into one database, ready for any number of resolves. */
export interface RepositorySet {
  db: PackageDb;
  repoOf: Map<Pkg, LoadedRepository>;
}

export function openRepositories(repos: LoadedRepository[]): RepositorySet {
  const set = buildDatabase(repos);
  prepareSolverStates(set.db);
  return set;
}

/** Resolves `world` (apk atoms) against the repositories into an ordered install set. */
export function resolveWorld(repos: LoadedRepository[], world: string[], arch: string): Resolution {
  return resolveIn(openRepositories(repos), world, arch);
}

/** Resolves against an already opened set (the database is not changed). */
export function resolveIn(set: RepositorySet, world: string[], arch: string): Resolution {
  const { db, repoOf } = set;
  db.world = [];
  const report = applyAdd(db, world);
  db.world = [];
  if (report.errors) {
    const text = report.output.join("\n");
    if (report.problems.length === 0) throw new UndistroError("SOLVER_BAD_WORLD", text.replace(/^ERROR: /, ""));
    throw new UnsatisfiableError(text, report.problems);
  }
  const packages: ResolvedPackage[] = [];
  for (const c of report.changes) {
    const pkg = c.newPkg;
    if (!pkg || c.oldPkg === pkg) continue;
    const repo = repoOf.get(pkg);
    if (!repo) continue; // virtual packages have no file
    packages.push({
      name: pkg.name.name,
      version: pkg.version,
      arch: pkg.arch,
      checksum: pkg.checksum,
      size: pkg.size,
      installedSize: pkg.installedSize,
      repository: repo.url,
      // A remote package is named by its URL (portable in locks); localPackagePath() finds the cached file.
      url: isRemoteRepository(repo.url)
        ? `${repo.url.replace(/\/+$/, "")}/${pkg.arch}/${pkg.name.name}-${pkg.version}.apk`
        : join(dirname(repo.indexPath), `${pkg.name.name}-${pkg.version}.apk`),
      depends: pkg.entry?.depends ?? [],
      provides: pkg.entry?.provides ?? [],
    });
  }
  return { arch, world: [...world], packages };
}

/** Solver-level explanation for callers who built their own PackageDb. */
export function explain(db: PackageDb, world: string[]): Problem[] {
  const deps = world.map((w) => db.parseDep(w, "world"));
  const r = new Solver(db).solve(deps);
  return r.errors ? explainFailure(db, deps, r.changeset).problems : [];
}

// ---- lock files ---------------------------------------------------------------------------------

export const LOCK_VERSION = 1;

export interface LockFile {
  lockVersion: number;
  arch: string;
  world: string[];
  repositories: Array<{ url: string; tag?: string; index: string }>;
  packages: Array<Omit<ResolvedPackage, "depends" | "provides">>;
}

export function lockFromResolution(res: Resolution, repos: LoadedRepository[]): LockFile {
  return {
    lockVersion: LOCK_VERSION,
    arch: res.arch,
    world: res.world,
    repositories: repos.map((r) => (r.tag === undefined ? { url: r.url, index: r.indexDigest } : { url: r.url, tag: r.tag, index: r.indexDigest })),
    packages: res.packages.map(({ depends: _d, provides: _p, ...rest }) => rest),
  };
}

export function formatLock(lock: LockFile): string {
  return `${sortedJson(lock)}\n`;
}

export function parseLock(text: string, where: string): LockFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UndistroError("LOCK_INVALID", `${where}: not JSON (${(err as Error).message})`);
  }
  const lock = data as LockFile;
  if (typeof lock !== "object" || lock === null || lock.lockVersion !== LOCK_VERSION) {
    throw new UndistroError("LOCK_INVALID", `${where}: lockVersion must be ${LOCK_VERSION}`, { hint: "regenerate the lock with this version of undistro" });
  }
  if (!Array.isArray(lock.packages) || !Array.isArray(lock.world) || typeof lock.arch !== "string") {
    throw new UndistroError("LOCK_INVALID", `${where}: needs arch, world and packages`);
  }
  lock.packages.forEach((p, i) => {
    checkLockedPackage(p, `${where}: packages[${i}]`);
    if (!/^Q1[A-Za-z0-9+/]{27}=$/.test(p.checksum)) throw new UndistroError("LOCK_INVALID", `${where}: packages[${i}].checksum is not a Q1 checksum`);
  });
  return lock;
}

/**
 * One package entry of a lock (resolve's or an image's), read from a file: an object whose name,
 * version, arch, checksum, url and repository are strings, and whose name, version and arch can
 * become cache file names. `where` names the entry in errors.
 */
export function checkLockedPackage(
  p: unknown,
  where: string,
): asserts p is { name: string; version: string; arch: string; checksum: string; url: string; repository: string } {
  if (p === null || typeof p !== "object") throw new UndistroError("LOCK_INVALID", `${where} is not an object`);
  const entry = p as Record<string, unknown>;
  for (const k of ["name", "version", "arch", "checksum", "url", "repository"] as const) {
    if (typeof entry[k] !== "string" || entry[k] === "") throw new UndistroError("LOCK_INVALID", `${where}.${k} is missing`);
  }
  for (const k of ["name", "version", "arch"] as const) {
    const value = entry[k] as string;
    if (!isSafeFileComponent(value)) throw new UndistroError("LOCK_INVALID", `${where}.${k} ${JSON.stringify(value.slice(0, 80))} is not a valid ${k}`);
  }
}

/**
 * Checks a lock against the repositories as they are now: every locked package must still be in
 * its repository with the same checksum. Returns the mismatches (empty = the lock holds).
 */
export function checkLock(lock: LockFile, repos: LoadedRepository[]): string[] {
  const problems: string[] = [];
  for (const p of lock.packages) {
    const repo = repos.find((r) => r.url === p.repository);
    if (!repo) {
      problems.push(`${p.name}-${p.version}: repository ${p.repository} is not among the repositories given`);
      continue;
    }
    const found = repo.entries.filter((e) => e.name === p.name && e.version === p.version && e.arch === p.arch);
    if (found.length === 0) problems.push(`${p.name}-${p.version} (${p.arch}) is no longer in ${p.repository}`);
    else if (!found.some((e) => e.checksum === p.checksum)) {
      problems.push(`${p.name}-${p.version}: checksum in ${p.repository} is ${found[0]?.checksum}, the lock says ${p.checksum} (the package was rebuilt)`);
    }
  }
  return problems;
}

export function assertLockHolds(lock: LockFile, repos: LoadedRepository[], where: string): void {
  const problems = checkLock(lock, repos);
  if (problems.length > 0) {
    throw new UndistroError("LOCK_STALE", `${where}: the lock no longer matches the repositories: ${problems.join("; ")}`, {
      hint: "re-resolve and write a new lock (undistro resolve … --write-lock), or restore the repository the lock was made from",
    });
  }
}

export function absoluteUrl(url: string): string {
  return /^[a-z]+:\/\//.test(url) ? url : resolvePath(url);
}
