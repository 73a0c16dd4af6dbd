/**
 * What the catalogue shows, gathered from a repository directory: every package in each
 * architecture's signed index, and from the .apk files beside it their file lists, SBOMs and build
 * records; provenance and rebuild verdicts from beside the repository; advisories from their
 * directory. Nothing is fetched from the network.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type AdvisoryDocument, loadAdvisoryDirectory } from "../advisory/index.js";
import { type IndexEntry, parseDependency, readIndexFile, readPackage } from "../apk/index.js";
import { BUILD_RECORD_FILE, type BuildRecord, parseBuildRecord } from "../build/index.js";
import { UndistroError } from "../util/index.js";

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
  /** Rebuild verdicts beside the repository (signatures not checked here). */
  verdicts: { file: string; match: boolean; rebuilder: string }[];
}

export interface Catalog {
  repository: string;
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

function readVerdicts(repository: string, arch: string, apk: string): CatalogPackage["verdicts"] {
  const dir = join(repository, "rebuilds", arch);
  if (!existsSync(dir)) return [];
  const out: CatalogPackage["verdicts"] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.startsWith(`${apk}.`) || !f.endsWith(".intoto.jsonl")) continue;
    try {
      const env = JSON.parse(readFileSync(join(dir, f), "utf8")) as { payload?: string };
      const st = JSON.parse(Buffer.from(env.payload ?? "", "base64").toString("utf8")) as { predicate?: { match?: unknown; rebuilder?: { id?: unknown } } };
      out.push({ file: f, match: st.predicate?.match === true, rebuilder: String(st.predicate?.rebuilder?.id ?? "unknown") });
    } catch {
      out.push({ file: f, match: false, rebuilder: "unreadable verdict" });
    }
  }
  return out;
}

function readProvenance(repository: string, arch: string, apk: string): CatalogPackage["provenance"] {
  for (const name of [`${apk}.intoto.jsonl`, `${apk}.provenance.json`]) {
    const file = join(repository, "provenance", arch, name);
    if (existsSync(file)) return { file: `${arch}/${name}`, text: readFileSync(file, "utf8") };
  }
  return undefined;
}

/** One package of the index, with what its .apk and the files beside the repository say. */
function catalogPackage(repository: string, arch: string, entry: IndexEntry): CatalogPackage {
  const apk = `${entry.name}-${entry.version}.apk`;
  const file = join(repository, arch, apk);
  const p: CatalogPackage = { name: entry.name, arch, entry, files: [], verdicts: readVerdicts(repository, arch, apk) };
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

export function loadCatalog(repository: string, advisoriesDir?: string): Catalog {
  if (!existsSync(repository)) throw new UndistroError("USAGE", `${repository}: no such repository directory`);
  const archs = readdirSync(repository)
    .filter((a) => existsSync(join(repository, a, "APKINDEX.tar.gz")))
    .sort();
  if (!archs.length)
    throw new UndistroError("USAGE", `${repository}: no ARCH/APKINDEX.tar.gz`, { hint: "give a repository directory as `undistro build --out` writes it" });
  const cat: Catalog = { repository, archs, packages: new Map(), advisories: new Map(), reverse: new Map(), providers: new Map() };
  for (const arch of archs) {
    const index = readIndexFile(join(repository, arch, "APKINDEX.tar.gz"));
    for (const e of index.entries) {
      const list = cat.packages.get(e.name) ?? [];
      list.push(catalogPackage(repository, arch, e));
      cat.packages.set(e.name, list);
      for (const d of e.depends) add(cat.reverse, parseDependency(d, e.name, false).name, e.name);
      for (const pr of e.provides) add(cat.providers, parseDependency(pr, e.name, false).name, e.name);
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
