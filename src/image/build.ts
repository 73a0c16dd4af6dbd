/**
 * apko-style image builds: config → solver → packages verified → root filesystem assembled in
 * memory → one deterministic layer per architecture → OCI layout (+ tar) with SBOMs; locks.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import {
  ApkKeyring,
  END_OF_ARCHIVE,
  encodeEntry,
  readPackage,
  readPublicKeyFile,
  repositoryArchitectures,
  type TarHeader,
  verifyPackage,
} from "../apk/index.js";
import { type Descriptor, gzipLayer, MEDIA, OciLayout, sha256Digest } from "../oci/index.js";
import { distroRelease, imageCycloneDx, imageSpdx } from "../sbom/index.js";
import {
  checkLockedPackage,
  fetchPackages,
  fetchRepositoryIndexes,
  isRemoteRepository,
  type LoadedRepository,
  loadRepository,
  localPackagePath,
  openRepositories,
  type ResolvedPackage,
  resolveIn,
} from "../solver/index.js";
import { fsError, hostArch, sortedJson, sourceDateEpoch, UndistroError, writeFileAtomic } from "../util/index.js";
import { type ImageConfig, loadImageConfig, OCI_ARCH } from "./config.js";
import { type FsEntry, RootFs } from "./rootfs.js";

export const IMAGE_TOOL_VERSION = "0.1.0";
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin";

export interface ImageBuildOptions {
  outDir: string;
  tarFile?: string;
  lockFile?: string;
  archs?: string[];
  sourceDateEpoch?: number;
  distro?: string;
  /** Name of the image in the layout's index.json (default "latest"). */
  tag?: string;
  /** gzip level of layers (default 6). */
  compressionLevel?: number;
  /** Use these repositories instead of the config's (a rebuild points images at the repository it just refreshed). */
  repositories?: string[];
  /** Use these keys instead of the config's keyring. */
  keyring?: string[];
  /** Build with no keyring: indexes and packages are NOT verified (the report says so). */
  allowUntrusted?: boolean;
}

/** Said on stderr by the CLI whenever an image is built or locked without verifying anything. */
export const UNTRUSTED_WARNING = "WARNING: --allow-untrusted: the config has no keyring, so NO index or package signature was verified; do not ship this image";

/** The config with repositories and keyring replaced when the caller gives its own. */
function withOverrides(cfg: ImageConfig, opts: { repositories?: string[]; keyring?: string[] }): ImageConfig {
  if (!opts.repositories && !opts.keyring) return cfg;
  return {
    ...cfg,
    contents: {
      ...cfg.contents,
      ...(opts.repositories ? { repositories: opts.repositories, buildRepositories: [] } : {}),
      ...(opts.keyring ? { keyring: opts.keyring } : {}),
    },
  };
}

export interface ImageArchResult {
  arch: string;
  manifest: Descriptor;
  config: Descriptor;
  /** The last layer (the only one without `layering`). */
  layer: Descriptor & { diffId: string; uncompressedSize: number };
  /** Every layer, bottom first. */
  layers: Array<Descriptor & { diffId: string; uncompressedSize: number; comment: string }>;
  packages: ResolvedPackage[];
  sboms: { spdx: string; cyclonedx: string };
  timings: Record<string, number>;
}

export interface ImageBuildReport {
  config: string;
  outDir: string;
  index: Descriptor;
  archs: ImageArchResult[];
  tarFile?: string;
  /** SLSA provenance v1 predicate for the image index (DIR/provenance.json). */
  provenance: string;
  /** True when built with allowUntrusted and no keyring: nothing was verified. */
  unverified: boolean;
}

/** The buildType of undistro's image provenance; its parameters are described in docs/provenance.md. */
export const IMAGE_BUILD_TYPE = "https://undistro.dev/buildtypes/image/v1";
export const BUILDER_ID = "https://undistro.dev/builders/undistro";

/** Paths in configs are relative to the config's directory, else to the current directory (as apko). */
function locate(configFile: string, p: string): string {
  if (/^[a-z]+:\/\//.test(p) && !p.startsWith("file://")) return p;
  const local = p.replace(/^file:\/\//, "");
  if (local.startsWith("/")) return local;
  for (let d = dirname(resolve(configFile)); ; d = dirname(d)) {
    const c = resolve(d, local);
    if (existsSync(c)) return c;
    if (dirname(d) === d) break;
  }
  return resolve(local);
}

/**
 * The config's keyring. An empty one is refused: apko and apk verify every index and package, and
 * `install` and `resolve` here do too, so an image build must not quietly skip it.
 */
export function keyringFor(cfg: ImageConfig, allowUntrusted = false): { ring: ApkKeyring; keys: Array<{ name: string; pem: Buffer }> } {
  const found = loadConfigKeyring(cfg);
  if (found.ring.size === 0 && !allowUntrusted) {
    throw new UndistroError("IMAGE_UNTRUSTED", `${cfg.file}: contents.keyring is empty: no index or package signature could be verified`, {
      hint: "name the repository's public key in contents.keyring (or --keyring); --allow-untrusted builds without verifying, for testing only",
    });
  }
  return found;
}

function loadConfigKeyring(cfg: ImageConfig): { ring: ApkKeyring; keys: Array<{ name: string; pem: Buffer }> } {
  const ring = new ApkKeyring();
  const keys: Array<{ name: string; pem: Buffer }> = [];
  for (const k of cfg.contents.keyring) {
    const path = locate(cfg.file, k);
    if (/^https?:\/\//.test(path)) {
      throw new UndistroError("IMAGE_REMOTE_KEY", `${cfg.file}: keyring ${k}: remote keys are not fetched; give a local path`);
    }
    const file = readPublicKeyFile(path);
    ring.addFile(file);
    keys.push({ name: file.name, pem: file.pem });
  }
  return { ring, keys };
}

/** The config's http(s) repositories (tags stripped), to fetch before resolving. */
function remoteRepositories(cfg: ImageConfig): string[] {
  return [...cfg.contents.buildRepositories, ...cfg.contents.repositories]
    .map((r) => /^@(\S+)\s+(.+)$/.exec(r)?.[2] ?? r)
    .filter((u) => /^https?:\/\//.test(u));
}

/** Fetches a config's remote repository indexes into the cache (lockImage reads them synchronously after). */
export async function prefetchImageRepositories(configPath: string, archs: string[], overrides: { repositories?: string[] } = {}): Promise<void> {
  const cfg = withOverrides(loadImageConfig(configPath), overrides);
  const targets = archs.length ? archs : cfg.archs.length ? cfg.archs : [hostArch()];
  await fetchRepositoryIndexes(remoteRepositories(cfg), targets);
}

/**
 * A local repository directory with indexes for other architectures only (an `arch:` stage of the
 * bootstrap holds aarch64 packages alone): it has nothing for `arch`, which is not an error for a
 * multi-architecture image. A directory with no index at all still is.
 */
function otherArchitecturesOnly(url: string, arch: string): boolean {
  if (isRemoteRepository(url) || url.endsWith(".tar.gz") || !existsSync(url)) return false;
  if (existsSync(join(url, arch, "APKINDEX.tar.gz")) || existsSync(join(url, "APKINDEX.tar.gz"))) return false;
  return repositoryArchitectures(url).some((d) => d !== arch);
}

function loadRepos(cfg: ImageConfig, arch: string, ring: ApkKeyring): LoadedRepository[] {
  const specs = [...cfg.contents.buildRepositories, ...cfg.contents.repositories];
  if (specs.length === 0) throw new UndistroError("IMAGE_INVALID", `${cfg.file}: contents.repositories is empty`);
  return specs.flatMap((r) => {
    const m = /^@(\S+)\s+(.+)$/.exec(r);
    const url = locate(cfg.file, m ? (m[2] as string) : r);
    if (otherArchitecturesOnly(url, arch)) return [];
    return [loadRepository(m ? { url, tag: m[1] as string } : { url }, arch, ring.size > 0 ? ring : undefined)];
  });
}

/** Image lock: everything a later build needs, without consulting an index. */
export interface ImageLock {
  lockVersion: 1;
  config: { name: string; sha256: string };
  keyring: Array<{ name: string; sha256: string }>;
  repositories: string[];
  world: string[];
  packages: Record<string, Array<Omit<ResolvedPackage, "depends" | "provides"> & { depends: string[] }>>;
}

function resolveForArch(cfg: ImageConfig, arch: string, ring: ApkKeyring): ResolvedPackage[] {
  return resolveIn(openRepositories(loadRepos(cfg, arch, ring)), cfg.contents.packages, arch).packages;
}

export function lockImage(
  configPath: string,
  archs?: string[],
  overrides: { repositories?: string[]; keyring?: string[]; allowUntrusted?: boolean } = {},
): ImageLock {
  const cfg = withOverrides(loadImageConfig(configPath), overrides);
  const { ring, keys } = keyringFor(cfg, overrides.allowUntrusted);
  const targets = archs?.length ? archs : cfg.archs.length ? cfg.archs : [hostArch()];
  return lockOf(
    configPath,
    cfg,
    keys,
    targets.map((arch) => ({ arch, packages: resolveForArch(cfg, arch, ring) })),
  );
}

/** The lock of what was resolved for each architecture (what `image lock` writes, and image provenance records). */
function lockOf(
  configPath: string,
  cfg: ImageConfig,
  keys: { name: string; pem: Buffer }[],
  resolved: { arch: string; packages: ResolvedPackage[] }[],
): ImageLock {
  const packages: ImageLock["packages"] = {};
  for (const r of resolved) packages[r.arch] = r.packages.map(({ provides: _p, ...rest }) => rest);
  return {
    lockVersion: 1,
    config: { name: basename(configPath), sha256: createHash("sha256").update(readFileSync(configPath)).digest("hex") },
    keyring: keys.map((k) => ({ name: k.name, sha256: createHash("sha256").update(k.pem).digest("hex") })),
    repositories: [...cfg.contents.buildRepositories, ...cfg.contents.repositories],
    world: cfg.contents.packages,
    packages,
  };
}

export function formatImageLock(lock: ImageLock): string {
  return `${sortedJson(lock)}\n`;
}

export function readImageLock(path: string): ImageLock {
  let lock: ImageLock;
  try {
    lock = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    if (err instanceof SyntaxError) throw new UndistroError("LOCK_INVALID", `${path}: not JSON (${err.message})`);
    throw fsError(err, "read lock", path);
  }
  if (lock === null || typeof lock !== "object" || lock.lockVersion !== 1 || lock.packages === null || typeof lock.packages !== "object")
    throw new UndistroError("LOCK_INVALID", `${path}: not an undistro image lock (lockVersion 1)`);
  for (const [arch, list] of Object.entries(lock.packages)) {
    if (!Array.isArray(list)) throw new UndistroError("LOCK_INVALID", `${path}: packages.${arch} is not a list`);
    list.forEach((p, i) => {
      const where = `${path}: packages.${arch}[${i}]`;
      checkLockedPackage(p, where);
      if (!Array.isArray(p.depends)) throw new UndistroError("LOCK_INVALID", `${where}.depends is not a list`);
    });
  }
  return lock;
}

/** Splits a command line the way apko does (shell-like words, quotes respected). */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let q: string | null = null;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (q) {
      if (c === q) q = null;
      else if (c === "\\" && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      has = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

function skeleton(fs: RootFs): void {
  const dir = (path: string, mode = 0o755) => fs.put({ path, type: "directory", mode, uid: 0, gid: 0 });
  for (const d of [
    "dev",
    "etc",
    "etc/apk",
    "etc/apk/keys",
    "lib",
    "opt",
    "usr",
    "usr/lib",
    "usr/lib/apk",
    "usr/lib/apk/db",
    "usr/lib/apk/exec",
    "var",
    "var/cache",
    "var/cache/apk",
    "var/cache/misc",
    "var/lib",
    "var/lib/db",
    "var/lib/db/sbom",
  ]) {
    dir(d);
  }
  dir("proc", 0o555);
  dir("tmp", 0o1777);
  fs.put({ path: "lib/apk", type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: "../usr/lib/apk" });
  const dev = (name: string, major: number, minor: number, mode: number) =>
    fs.put({ path: `dev/${name}`, type: "char", mode, uid: 0, gid: 0, devmajor: major, devminor: minor });
  dev("console", 5, 1, 0o620);
  dev("null", 1, 3, 0o666);
  dev("random", 1, 8, 0o666);
  dev("urandom", 1, 9, 0o666);
  dev("zero", 1, 5, 0o666);
}

function file(fs: RootFs, path: string, content: string | Buffer, mode = 0o644, uid = 0, gid = 0): void {
  fs.put({ path, type: "file", mode, uid, gid, content: Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8") });
}

function applyAccounts(fs: RootFs, cfg: ImageConfig): void {
  const read = (p: string) => fs.entries.get(p)?.content?.toString("utf8") ?? "";
  let passwd = read("etc/passwd");
  let group = read("etc/group");
  const has = (text: string, name: string) => text.split("\n").some((l) => l.split(":")[0] === name);
  for (const g of cfg.accounts.groups) {
    if (!has(group, g.groupname)) group += `${group && !group.endsWith("\n") ? "\n" : ""}${g.groupname}:x:${g.gid}:${g.members.join(",")}\n`;
  }
  for (const u of cfg.accounts.users) {
    const gid = u.gid ?? u.uid;
    const home = u.homedir ?? `/home/${u.username}`;
    if (!has(passwd, u.username))
      passwd += `${passwd && !passwd.endsWith("\n") ? "\n" : ""}${u.username}:x:${u.uid}:${gid}:${u.username}:${home}:${u.shell ?? "/bin/sh"}\n`;
    const h = home.replace(/^\/+/, "");
    if (h && !fs.entries.has(h)) fs.put({ path: h, type: "directory", mode: 0o755, uid: u.uid, gid });
  }
  if (cfg.accounts.users.length || cfg.accounts.groups.length || !fs.entries.has("etc/passwd")) file(fs, "etc/passwd", passwd);
  if (cfg.accounts.users.length || cfg.accounts.groups.length || !fs.entries.has("etc/group")) file(fs, "etc/group", group);
}

function applyPaths(fs: RootFs, cfg: ImageConfig): void {
  for (const [i, p] of cfg.paths.entries()) {
    const where = `${cfg.file}: paths[${i}]`;
    const path = p.path.replace(/^\/+/, "").replace(/\/+$/, "");
    const target = fs.resolveParent(path, where);
    const own = (e: FsEntry) => {
      e.uid = p.uid;
      e.gid = p.gid;
      e.mode = p.permissions;
    };
    switch (p.type) {
      case "directory": {
        const e = fs.entries.get(target);
        if (e && e.type !== "directory") throw new UndistroError("IMAGE_PATH_CONFLICT", `${where}: ${p.path} exists and is a ${e.type}`);
        fs.put({ path: target, type: "directory", mode: p.permissions, uid: p.uid, gid: p.gid });
        if (p.recursive) for (const [k, x] of fs.entries) if (k.startsWith(`${target}/`)) own(x);
        break;
      }
      case "empty-file":
        fs.put({ path: target, type: "file", mode: p.permissions, uid: p.uid, gid: p.gid, content: Buffer.alloc(0) });
        break;
      case "symlink":
        fs.put({ path: target, type: "symlink", mode: 0o777, uid: p.uid, gid: p.gid, linkname: p.source as string });
        break;
      case "hardlink": {
        const src = fs.resolveParent((p.source as string).replace(/^\/+/, ""), where);
        const s = fs.entries.get(src);
        if (s?.type !== "file") throw new UndistroError("IMAGE_PATH_CONFLICT", `${where}: hardlink source ${p.source} is not a file in the image`);
        fs.put({ path: target, type: "hardlink", mode: s.mode, uid: s.uid, gid: s.gid, linkname: src });
        break;
      }
      case "permissions": {
        const e = fs.entries.get(target);
        if (!e) throw new UndistroError("IMAGE_PATH_CONFLICT", `${where}: ${p.path} does not exist in the image`);
        own(e);
        if (p.recursive) for (const [k, x] of fs.entries) if (k.startsWith(`${target}/`)) own(x);
        break;
      }
    }
  }
}

/** The layer as an uncompressed tar: sorted, owners and modes from the tree, one mtime. */
export function layerTar(fs: RootFs, mtime: number, include?: ReadonlySet<string>): Buffer {
  const parts: Buffer[] = [];
  const emitted = new Map<string, string>(); // hardlink target → first path written
  const entries = include ? fs.sorted().filter((e) => include.has(e.path)) : fs.sorted();
  // A hardlink and its target may sort in either order: the first one written carries the data.
  const groupOf = new Map<string, string>();
  for (const e of entries) if (e.type === "hardlink" && e.linkname) groupOf.set(e.path, e.linkname);
  for (const e of entries) {
    const base: TarHeader = { name: e.path, type: "file", mode: e.mode, uid: e.uid, gid: e.gid, uname: "", gname: "", mtime, size: 0, linkname: "", pax: {} };
    if (e.type === "directory") parts.push(...encodeEntry({ ...base, type: "directory" }));
    else if (e.type === "symlink") parts.push(...encodeEntry({ ...base, type: "symlink", mode: 0o777, linkname: e.linkname ?? "" }));
    else if (e.type === "char") parts.push(...encodeEntry({ ...base, type: "other", typeflag: "3", devmajor: e.devmajor ?? 0, devminor: e.devminor ?? 0 }));
    else {
      const key = e.type === "hardlink" ? (e.linkname as string) : e.path;
      const first = emitted.get(key);
      if (first !== undefined) parts.push(...encodeEntry({ ...base, type: "hardlink", linkname: first }));
      else {
        const content = e.type === "hardlink" ? (fs.entries.get(key)?.content ?? Buffer.alloc(0)) : (e.content ?? Buffer.alloc(0));
        emitted.set(key, e.path);
        parts.push(...encodeEntry({ ...base, size: content.length }, content));
      }
    }
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

export interface LayerPlan {
  /** What the layer holds, for the image history: an origin's packages, or "everything else". */
  comment: string;
  paths: Set<string>;
}

/**
 * apko's `layering: {strategy: origin, budget: N}`: packages grouped by origin package, the largest
 * groups (installed size) in layers of their own, at most N layers in all; the last layer holds the
 * rest — other packages, accounts, paths and the apk database, which change with any package. Each
 * layer carries the directories above its files with their real modes, so layers apply in any
 * runtime. Without layering (or with a budget of 1) the image is one layer.
 */
export function planLayers(fs: RootFs, layering: { strategy: string; budget: number } | undefined, where: string): LayerPlan[] {
  const everything = { comment: "all files", paths: new Set(fs.sorted().map((e) => e.path)) };
  if (!layering) return [everything];
  if (layering.strategy !== "origin") {
    throw new UndistroError("IMAGE_INVALID", `${where}: layering.strategy "${layering.strategy}" is not supported`, { hint: "use origin" });
  }
  if (!Number.isInteger(layering.budget) || layering.budget < 1) {
    throw new UndistroError("IMAGE_INVALID", `${where}: layering.budget must be a whole number of layers, at least 1`);
  }
  if (layering.budget === 1) return [everything];
  const groups = new Map<string, { origin: string; names: Set<string>; size: number; order: number }>();
  for (const [i, { pkg }] of fs.installed.entries()) {
    const origin = pkg.info.origin ?? pkg.info.name;
    const g = groups.get(origin) ?? { origin, names: new Set<string>(), size: 0, order: i };
    g.names.add(pkg.info.name);
    g.size += pkg.info.installedSize ?? 0;
    groups.set(origin, g);
  }
  const own = [...groups.values()]
    .sort((a, b) => b.size - a.size || a.order - b.order)
    .slice(0, layering.budget - 1)
    .sort((a, b) => a.order - b.order);
  const ownerLayer = new Map<string, number>();
  for (const [i, g] of own.entries()) for (const n of g.names) ownerLayer.set(n, i);
  const plans: LayerPlan[] = own.map((g) => ({ comment: `packages of origin ${g.origin}: ${[...g.names].sort().join(", ")}`, paths: new Set<string>() }));
  const rest: LayerPlan = { comment: "other packages, accounts, paths, apk database", paths: new Set<string>() };
  const add = (plan: LayerPlan, path: string) => {
    plan.paths.add(path);
    for (let p = path; p.includes("/"); ) {
      p = p.slice(0, p.lastIndexOf("/"));
      plan.paths.add(p);
    }
  };
  for (const e of fs.sorted()) {
    const layer = e.owner !== undefined ? ownerLayer.get(e.owner) : undefined;
    add(layer === undefined ? rest : (plans[layer] as LayerPlan), e.path);
  }
  return [...plans.filter((p) => p.paths.size > 0), rest];
}

function isoDate(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

type ArchLayer = ImageArchResult["layers"][number];
type PackageFile = ReturnType<typeof readPackage>;

/** What one build shares across its architectures. */
interface BuildContext {
  configPath: string;
  cfg: ImageConfig;
  opts: ImageBuildOptions;
  epoch: number;
  created: string;
  distro: string;
  ring: ApkKeyring;
  keys: Array<{ name: string; pem: Buffer }>;
  lock: ReturnType<typeof readImageLock> | undefined;
  layout: OciLayout;
  annotations: Record<string, string>;
}

export async function buildImage(configPath: string, opts: ImageBuildOptions): Promise<ImageBuildReport> {
  const cfg = withOverrides(loadImageConfig(configPath), opts);
  const epoch = opts.sourceDateEpoch ?? sourceDateEpoch();
  const created = isoDate(epoch);
  const { ring, keys } = keyringFor(cfg, opts.allowUntrusted);
  const lock = opts.lockFile ? readImageLock(opts.lockFile) : undefined;
  const archs = opts.archs?.length ? opts.archs : cfg.archs.length ? cfg.archs : lock ? Object.keys(lock.packages).sort() : [hostArch()];
  if (!lock) await fetchRepositoryIndexes(remoteRepositories(cfg), archs);
  const layout = new OciLayout(opts.outDir);
  layout.init();
  const annotations: Record<string, string> = {
    "org.opencontainers.image.created": created,
    ...Object.fromEntries(Object.entries(cfg.annotations).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  const ctx: BuildContext = { configPath, cfg, opts, epoch, created, distro: opts.distro ?? "undistro", ring, keys, lock, layout, annotations };
  const results: ImageArchResult[] = [];
  for (const arch of archs) results.push(await buildArch(ctx, arch));
  return finishLayout(ctx, archs, results);
}

/** One architecture's image: packages resolved and verified, the root assembled, layers, config, manifest and SBOMs written. */
async function buildArch(ctx: BuildContext, arch: string): Promise<ImageArchResult> {
  const timings: Record<string, number> = {};
  let t = performance.now();
  const resolved = await resolvedPackages(ctx, arch);
  timings.resolve = performance.now() - t;
  t = performance.now();
  const pkgs = resolved.map((r) => verifiedPackage(ctx, r));
  timings.fetch = performance.now() - t;
  t = performance.now();
  const fs = assembleRoot(ctx, arch, pkgs);
  timings.assemble = performance.now() - t;
  t = performance.now();
  const layers = await writeLayers(ctx, fs);
  timings.compress = performance.now() - t;
  t = performance.now();
  const { manifest, config } = writeManifest(ctx, arch, layers);
  timings.write = performance.now() - t;
  const sboms = writeSboms(ctx, arch, fs, manifest, pkgs);
  const layer = layers[layers.length - 1] as ImageArchResult["layer"];
  return { arch, manifest, config, layer, layers, packages: resolved, sboms, timings };
}

/** The packages for `arch`: from the lock as locked, or resolved from the config's repositories; fetched when remote. */
async function resolvedPackages(ctx: BuildContext, arch: string): Promise<ResolvedPackage[]> {
  let resolved: ResolvedPackage[];
  if (ctx.lock) {
    const locked = ctx.lock.packages[arch];
    if (!locked)
      throw new UndistroError("LOCK_STALE", `${ctx.opts.lockFile}: no packages locked for ${arch}`, {
        hint: "re-run undistro image lock with this architecture",
      });
    resolved = locked.map((p) => ({ ...p, provides: [] }));
  } else resolved = resolveForArch(ctx.cfg, arch, ctx.ring);
  await fetchPackages(resolved);
  return resolved;
}

/** A package file, checked against the checksum the index or lock names and, with keys, its signature. */
function verifiedPackage(ctx: BuildContext, r: ResolvedPackage): PackageFile {
  const path = localPackagePath(r);
  const pkg = readPackage(path);
  if (pkg.checksum !== r.checksum) {
    throw new UndistroError(
      "IMAGE_PACKAGE_MISMATCH",
      `${path}: control checksum ${pkg.checksum} is not the ${r.checksum} the ${ctx.lock ? "lock" : "index"} names`,
      {
        hint: ctx.lock ? "the repository changed since the lock was made: re-lock" : "the repository's index is stale: re-index it",
      },
    );
  }
  if (ctx.ring.size > 0) verifyPackage(pkg, ctx.ring);
  return pkg;
}

/** The image's root: the packages installed, apk's own files (keys, arch, repositories, world, database), accounts and paths. */
function assembleRoot(ctx: BuildContext, arch: string, pkgs: PackageFile[]): RootFs {
  const { cfg } = ctx;
  const fs = new RootFs();
  skeleton(fs);
  for (const pkg of pkgs) {
    const replaces = new Set(pkg.info.replaces.map((r) => r.split(/[<>=~]/)[0]));
    fs.installPackage(pkg, (owner) => replaces.has(owner) || pkgs.find((p) => p.info.name === owner)?.info.origin === pkg.info.origin);
  }
  for (const k of ctx.keys) file(fs, `etc/apk/keys/${k.name}`, k.pem);
  file(fs, "etc/apk/arch", `${arch}\n`);
  file(fs, "etc/apk/repositories", [...cfg.contents.runtimeRepositories, ...cfg.contents.repositories].map((r) => `${r}\n`).join(""));
  file(
    fs,
    "etc/apk/world",
    [...new Set(cfg.contents.packages)]
      .sort()
      .map((w) => `${w}\n`)
      .join(""),
  );
  applyAccounts(fs, cfg);
  applyPaths(fs, cfg);
  file(fs, "usr/lib/apk/db/installed", fs.installedDatabase());
  file(fs, "usr/lib/apk/db/lock", "", 0o600);
  file(fs, "usr/lib/apk/db/triggers", "");
  file(fs, "usr/lib/apk/db/scripts.tar", END_OF_ARCHIVE);
  return fs;
}

/** The root as one layer, or as the config's `layering` plans it; each compressed and written to the layout. */
async function writeLayers(ctx: BuildContext, fs: RootFs): Promise<ArchLayer[]> {
  const layers: ArchLayer[] = [];
  const plans = planLayers(fs, ctx.cfg.layering, ctx.configPath);
  for (const plan of plans) {
    const tar = layerTar(fs, ctx.epoch, plans.length > 1 ? plan.paths : undefined);
    const gz = await gzipLayer(tar, ctx.opts.compressionLevel ?? 6);
    layers.push({ ...ctx.layout.writeBlob(gz, MEDIA.layerGzip), diffId: sha256Digest(tar), uncompressedSize: tar.length, comment: plan.comment });
  }
  return layers;
}

/** The image config and manifest of one architecture, written to the layout. */
function writeManifest(ctx: BuildContext, arch: string, layers: ArchLayer[]): { manifest: Descriptor; config: Descriptor } {
  const { cfg, created, annotations } = ctx;
  const oci = OCI_ARCH[arch] ?? { architecture: arch };
  const env = { PATH: DEFAULT_PATH, SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt", ...cfg.environment };
  const createdBy = `undistro ${IMAGE_TOOL_VERSION}`;
  const imageConfig: Record<string, unknown> = {
    architecture: oci.architecture,
    ...(oci.variant ? { variant: oci.variant } : {}),
    os: "linux",
    created,
    author: "undistro",
    history:
      layers.length === 1
        ? [{ created, created_by: createdBy, comment: `${basename(ctx.configPath)}` }]
        : layers.map((l) => ({ created, created_by: createdBy, comment: `${basename(ctx.configPath)}: ${l.comment}` })),
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    config: {
      ...(cfg.entrypoint?.command ? { Entrypoint: shellSplit(cfg.entrypoint.command) } : {}),
      ...(cfg.cmd ? { Cmd: shellSplit(cfg.cmd) } : {}),
      Env: Object.entries(env)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${k}=${v}`),
      ...(cfg.accounts.runAs ? { User: cfg.accounts.runAs } : {}),
      ...(cfg.workDir ? { WorkingDir: cfg.workDir } : {}),
      ...(cfg.stopSignal ? { StopSignal: cfg.stopSignal } : {}),
      Labels: annotations,
    },
  };
  const config = ctx.layout.writeBlob(Buffer.from(JSON.stringify(imageConfig)), MEDIA.config);
  const manifestDoc = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    annotations,
  };
  const manifest: Descriptor = {
    ...ctx.layout.writeBlob(Buffer.from(JSON.stringify(manifestDoc)), MEDIA.manifest),
    platform: { architecture: oci.architecture, os: "linux", ...(oci.variant ? { variant: oci.variant } : {}) },
  };
  return { manifest, config };
}

/** SPDX and CycloneDX SBOMs of one architecture's image, beside the layout (DIR/sboms/). */
function writeSboms(ctx: BuildContext, arch: string, fs: RootFs, manifest: Descriptor, pkgs: PackageFile[]): ImageArchResult["sboms"] {
  const release = distroRelease((fs.readFile("etc/os-release") ?? fs.readFile("usr/lib/os-release"))?.toString("utf8"));
  const sbomInput = {
    distro: ctx.distro,
    ...(release ? { release } : {}),
    imageName: basename(ctx.configPath).replace(/\.ya?ml$/, ""),
    imageDigest: manifest.digest,
    arch,
    ociArch: (OCI_ARCH[arch] ?? { architecture: arch }).architecture,
    packages: pkgs.map((p) => ({
      name: p.info.name,
      version: p.info.version,
      arch: p.info.arch,
      ...(p.info.license ? { license: p.info.license } : {}),
      ...(p.info.description ? { description: p.info.description } : {}),
      ...(p.info.origin ? { origin: p.info.origin } : {}),
      ...(p.info.url ? { url: p.info.url } : {}),
      checksum: p.checksum,
      depends: p.info.depends,
    })),
    created: new Date(ctx.epoch * 1000),
    toolVersion: IMAGE_TOOL_VERSION,
  };
  mkdirSync(join(ctx.opts.outDir, "sboms"), { recursive: true });
  const spdx = join(ctx.opts.outDir, "sboms", `sbom-${arch}.spdx.json`);
  const cyclonedx = join(ctx.opts.outDir, "sboms", `sbom-${arch}.cdx.json`);
  writeFileAtomic(spdx, Buffer.from(`${sortedJson(imageSpdx(sbomInput))}\n`));
  writeFileAtomic(cyclonedx, Buffer.from(`${sortedJson(imageCycloneDx(sbomInput))}\n`));
  return { spdx, cyclonedx };
}

/** The image index over every architecture, index.json naming it, the provenance beside it, and the tar when asked. */
function finishLayout(ctx: BuildContext, archs: string[], results: ImageArchResult[]): ImageBuildReport {
  const { opts, layout, annotations, keys, configPath, cfg, epoch } = ctx;
  const indexDoc = { schemaVersion: 2, mediaType: MEDIA.index, manifests: results.map((r) => r.manifest), annotations };
  const index = layout.writeBlob(Buffer.from(JSON.stringify(indexDoc)), MEDIA.index);
  // index.json names the image index as "latest" (and by its digest), which is what skopeo, umoci
  // and podman look up in a layout; the per-architecture manifests hang below it.
  layout.writeIndex({
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ ...index, annotations: { "org.opencontainers.image.ref.name": opts.tag ?? "latest" } }],
  });
  const provenance = join(opts.outDir, "provenance.json");
  const unverified = keys.length === 0;
  const rebuild = {
    distro: ctx.distro,
    tag: opts.tag ?? "latest",
    compressionLevel: opts.compressionLevel ?? 6,
    repositories: cfg.contents.repositories,
    lock: lockOf(configPath, cfg, keys, results),
  };
  writeFileAtomic(provenance, Buffer.from(`${sortedJson(imageProvenance(configPath, archs, results, keys, epoch, unverified, rebuild))}\n`));
  const report: ImageBuildReport = { config: configPath, outDir: opts.outDir, index, archs: results, provenance, unverified };
  if (opts.tarFile) {
    writeFileAtomic(opts.tarFile, layout.toTar(epoch));
    report.tarFile = opts.tarFile;
  }
  return report;
}

/**
 * SLSA provenance v1 predicate for an image: the config (path and digest) as external parameter,
 * every installed package (apk file digest, control checksum, repository) and every trusted key
 * as resolved dependencies, timestamps from SOURCE_DATE_EPOCH so rebuilds give the same bytes.
 */
function imageProvenance(
  configPath: string,
  archs: string[],
  results: ImageArchResult[],
  keys: { name: string; pem: Buffer }[],
  epoch: number,
  unverified: boolean,
  rebuild: { distro: string; tag: string; compressionLevel: number; repositories: string[]; lock: ImageLock },
): Record<string, unknown> {
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const deps: Record<string, unknown>[] = [];
  for (const r of results) {
    for (const p of r.packages) {
      const path = localPackagePath(p);
      deps.push({
        uri: `pkg:apk/undistro/${p.name}@${p.version}?arch=${p.arch}`,
        name: `${p.name}-${p.version}.apk`,
        digest: { sha256: sha(readFileSync(path)) },
        annotations: { checksum: p.checksum, repository: p.repository },
      });
    }
  }
  for (const k of keys) deps.push({ uri: `file:etc/apk/keys/${k.name}`, name: k.name, digest: { sha256: sha(k.pem) } });
  const when = isoDate(epoch);
  return {
    buildDefinition: {
      buildType: IMAGE_BUILD_TYPE,
      externalParameters: { config: { path: configPath, digest: { sha256: sha(readFileSync(configPath)) } }, archs },
      // What `undistro rebuild-check` needs besides the config: the settings and the lock.
      internalParameters: { sourceDateEpoch: epoch, ...rebuild, ...(unverified ? { signaturesVerified: false } : {}) },
      resolvedDependencies: deps,
    },
    runDetails: {
      builder: { id: BUILDER_ID, version: { undistro: IMAGE_TOOL_VERSION } },
      metadata: { startedOn: when, finishedOn: when },
    },
  };
}
