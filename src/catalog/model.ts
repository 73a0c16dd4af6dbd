/**
 * What the catalogue shows, gathered from a repository directory: every package in each
 * architecture's signed index, and from the .apk files beside it their file lists, SBOMs and build
 * records; provenance and rebuild verdicts from beside the repository; advisories from their
 * directory. Nothing is fetched from the network.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type AdvisoryDocument, loadAdvisoryDirectory } from "../advisory/index.js";
import { type IndexEntry, parseDependency, readIndexFile, readPackage, repositoryArchitectures } from "../apk/index.js";
import { BUILD_RECORD_FILE, type BuildRecord, parseBuildRecord } from "../build/index.js";
import { checkStatementEnvelope, type DsseEnvelope, rebuildVerdictMatches, type TrustedKeys } from "../sign/index.js";
import { UndistroError } from "../util/index.js";

/** A verdict is a small DSSE envelope; anything larger is not one. */
const MAX_VERDICT_BYTES = 1 << 20;

export interface CatalogPackage {
  name: string;
  arch: string;
  entry: IndexEntry;
  /** File paths inside the package (when its .apk is in the repository). */
  files: string[];
  /** The SPDX SBOM the package carries, as text. */
  sbom?: string;
  record?: BuildRecord;
  /** The provenance beside the repository, as text (a DSSE envelope or a statement). */
  provenance?: { file: string; text: string };
  /** Rebuild verdicts beside the repository, their signatures checked when trusted keys were given. */
  verdicts: Verdict[];
}

export interface Verdict {
  file: string;
  match: boolean;
  rebuilder: string;
  /** "verified": a trusted key signed it over this package's digest; "unchecked": no key was given. */
  signature: "verified" | "unchecked" | "invalid";
  reason?: string;
}

export interface Catalog {
  /** The repositories shown, in the order given: a package in two of them is the first one's. */
  repositories: string[];
  archs: string[];
  /** By name; each name's packages by architecture. */
  packages: Map<string, CatalogPackage[]>;
  advisories: Map<string, AdvisoryDocument>;
  /** dependency or provided name → package names that depend on it. */
  reverse: Map<string, Set<string>>;
  /** provided name (cmd:, so:, pc:, virtual) → packages providing it. */
  providers: Map<string, Set<string>>;
}

function add<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k) ?? new Set<V>();
  s.add(v);
  m.set(k, s);
}

function readVerdicts(repository: string, arch: string, apk: string, keys: TrustedKeys | undefined): Verdict[] {
  const dir = join(repository, "rebuilds", arch);
  if (!existsSync(dir)) return [];
  const names = readdirSync(dir)
    .sort()
    .filter((f) => f.startsWith(`${apk}.`) && f.endsWith(".intoto.jsonl"));
  if (!names.length) return [];
  const apkFile = join(repository, arch, apk);
  const digest = existsSync(apkFile) ? `sha256:${createHash("sha256").update(readFileSync(apkFile)).digest("hex")}` : "";
  return names.map((f) => readVerdict(join(dir, f), f, digest, keys));
}

/** One verdict file: what it claims, and whether a trusted key signed that claim over the package's digest. */
function readVerdict(path: string, file: string, digest: string, keys: TrustedKeys | undefined): Verdict {
  let env: DsseEnvelope;
  let claimed: { predicate?: { match?: unknown; rebuilder?: { id?: unknown } } };
  try {
    env = JSON.parse(readFileSync(path, "utf8").slice(0, MAX_VERDICT_BYTES)) as DsseEnvelope;
    claimed = JSON.parse(Buffer.from(env.payload ?? "", "base64").toString("utf8"));
  } catch {
    return { file, match: false, rebuilder: "unreadable verdict", signature: "invalid", reason: "not a JSON DSSE envelope" };
  }
  const rebuilder = String(claimed.predicate?.rebuilder?.id ?? "unknown");
  if (!keys || (Array.isArray(keys) && !keys.length)) return { file, match: claimed.predicate?.match === true, rebuilder, signature: "unchecked" };
  const checked = checkStatementEnvelope(env, keys, digest);
  if (!checked.statement) return { file, match: false, rebuilder, signature: "invalid", reason: checked.error ?? "no trusted key signed it" };
  return { file, match: rebuildVerdictMatches(checked.statement.predicate), rebuilder, signature: "verified" };
}

function readProvenance(repository: string, arch: string, apk: string): CatalogPackage["provenance"] {
  for (const name of [`${apk}.intoto.jsonl`, `${apk}.provenance.json`]) {
    const file = join(repository, "provenance", arch, name);
    if (existsSync(file)) return { file: `${arch}/${name}`, text: readFileSync(file, "utf8") };
  }
  return undefined;
}

/** One package of the index, with what its .apk and the files beside the repository say. */
function catalogPackage(repository: string, arch: string, entry: IndexEntry, keys: TrustedKeys | undefined): CatalogPackage {
  const apk = `${entry.name}-${entry.version}.apk`;
  const file = join(repository, arch, apk);
  const p: CatalogPackage = { name: entry.name, arch, entry, files: [], verdicts: readVerdicts(repository, arch, apk, keys) };
  const provenance = readProvenance(repository, arch, apk);
  if (provenance) p.provenance = provenance;
  if (!existsSync(file)) return p;
  const pkg = readPackage(file);
  p.files = pkg.files.filter((f) => f.type !== "directory").map((f) => f.path);
  const sbom = pkg.dataEntries.find((e) => /^var\/lib\/db\/sbom\/[^/]+\.spdx\.json$/.test(e.header.name));
  if (sbom) p.sbom = sbom.content.toString("utf8");
  const record = pkg.controlFiles[BUILD_RECORD_FILE];
  if (record) {
    try {
      p.record = parseBuildRecord(record, file);
    } catch (err) {
      if (!(err instanceof UndistroError)) throw err;
    }
  }
  return p;
}

/** The architectures a repository directory holds an index for. */
export function repositoryArchs(repository: string): string[] {
  if (!existsSync(repository)) throw new UndistroError("USAGE", `${repository}: no such repository directory`);
  const archs = repositoryArchitectures(repository);
  if (!archs.length)
    throw new UndistroError("USAGE", `${repository}: no ARCH/APKINDEX.tar.gz`, { hint: "give a repository directory as `undistro build --out` writes it" });
  return archs;
}

/**
 * The packages of `repositories` (the main job's and a bootstrap stage's, say), in that order: the
 * same name, version and architecture in a later one is left out, as an installer would pass it
 * over. `keys`: trusted cosign keys; with them, rebuild verdicts are verified, not just read.
 */
export function loadCatalog(repositories: string[], advisoriesDir?: string, keys?: TrustedKeys): Catalog {
  const byRepository = repositories.map((r) => ({ repository: r, archs: repositoryArchs(r) }));
  const archs = [...new Set(byRepository.flatMap((r) => r.archs))].sort();
  const cat: Catalog = { repositories, archs, packages: new Map(), advisories: new Map(), reverse: new Map(), providers: new Map() };
  for (const { repository, archs } of byRepository) {
    for (const arch of archs) {
      const index = readIndexFile(join(repository, arch, "APKINDEX.tar.gz"));
      for (const e of index.entries) {
        const list = cat.packages.get(e.name) ?? [];
        if (list.some((p) => p.arch === arch && p.entry.version === e.version)) continue;
        list.push(catalogPackage(repository, arch, e, keys));
        cat.packages.set(e.name, list);
        for (const d of e.depends) add(cat.reverse, parseDependency(d, e.name, false).name, e.name);
        for (const pr of e.provides) add(cat.providers, parseDependency(pr, e.name, false).name, e.name);
      }
    }
  }
  if (advisoriesDir) for (const doc of loadAdvisoryDirectory(advisoriesDir).documents) cat.advisories.set(doc.package, doc);
  return cat;
}

/** Packages that depend on `name` directly or on something it provides. */
export function dependents(cat: Catalog, name: string): string[] {
  const out = new Set(cat.reverse.get(name) ?? []);
  for (const p of cat.packages.get(name) ?? [])
    for (const pr of p.entry.provides) for (const n of cat.reverse.get(parseDependency(pr, name, false).name) ?? []) out.add(n);
  out.delete(name);
  return [...out].sort();
}

/** The package a dependency atom points at: itself when it is a package name, else its first provider. */
export function dependencyTarget(cat: Catalog, atom: string, from: string): string | undefined {
  const dep = parseDependency(atom, from, false);
  if (cat.packages.has(dep.name)) return dep.name;
  return [...(cat.providers.get(dep.name) ?? [])].sort()[0];
}
