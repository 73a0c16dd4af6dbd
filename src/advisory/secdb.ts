/**
 * Alpine's security database format (`security.json`, as Alpine publishes per repository and Wolfi
 * publishes beside its index): per package, `secfixes` maps a package version to the vulnerability
 * ids fixed in it; version "0" lists ids that never affected the package. Scanners such as grype and
 * trivy read it to drop matches for fixed versions.
 */
import { compareVersions, isValidVersion } from "../apk/index.js";
import { UndistroError } from "../util/index.js";
import { type AdvisoryDocument, latestEvent } from "./model.js";

/** The secfixes key for "not affected" (Alpine's convention). */
export const NOT_AFFECTED_VERSION = "0";

export interface Secdb {
  apkurl: string;
  archs: string[];
  reponame: string;
  urlprefix: string;
  packages: Array<{ pkg: { name: string; secfixes: Record<string, string[]> } }>;
}

export interface SecdbOptions {
  reponame?: string;
  urlprefix?: string;
  archs?: string[];
}

/**
 * Builds the secdb from advisories: an advisory whose latest event is `fixed` lists its ids under
 * the fixed version, a false-positive determination under "0"; anything still open is left out, as
 * Alpine's secdb only records resolutions. The ids are the advisory's aliases (CVE, GHSA: what
 * scanners match on), or the advisory id when it has none.
 */
export function buildSecdb(docs: readonly AdvisoryDocument[], opts: SecdbOptions = {}): Secdb {
  const packages: Secdb["packages"] = [];
  for (const doc of [...docs].sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0))) {
    const secfixes: Record<string, Set<string>> = {};
    for (const adv of doc.advisories) {
      const latest = latestEvent(adv);
      let version: string | undefined;
      if (latest?.type === "fixed") version = String(latest.data?.["fixed-version"]);
      else if (latest?.type === "false-positive-determination") version = NOT_AFFECTED_VERSION;
      if (version === undefined) continue;
      const ids = adv.aliases.length ? adv.aliases : [adv.id];
      const set = secfixes[version] ?? new Set<string>();
      secfixes[version] = set;
      for (const id of ids) set.add(id);
    }
    const versions = Object.keys(secfixes).sort(secfixOrder);
    if (!versions.length) continue;
    packages.push({ pkg: { name: doc.package, secfixes: Object.fromEntries(versions.map((v) => [v, [...(secfixes[v] ?? [])].sort()])) } });
  }
  return {
    apkurl: "{{urlprefix}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
    archs: [...(opts.archs ?? ["x86_64", "aarch64"])].sort(),
    reponame: opts.reponame ?? "undistro",
    urlprefix: opts.urlprefix ?? "https://packages.undistro.dev",
    packages,
  };
}

function secfixOrder(a: string, b: string): number {
  if (a === NOT_AFFECTED_VERSION) return b === NOT_AFFECTED_VERSION ? 0 : -1;
  if (b === NOT_AFFECTED_VERSION) return 1;
  return compareVersions(a, b);
}

/**
 * Reads a secdb (ours, Alpine's or Wolfi's) and checks its shape: a `packages` list of
 * `{pkg: {name, secfixes: {version: [ids]}}}`, every version "0" or a valid package version.
 */
export function parseSecdb(text: string, file: string): Secdb {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UndistroError("SECDB_INVALID", `${file}: not JSON: ${(err as Error).message}`);
  }
  const bad = (where: string, what: string) => new UndistroError("SECDB_INVALID", `${file}: ${where}: ${what}`);
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw bad("(document)", "must be an object");
  const doc = data as Record<string, unknown>;
  if (!Array.isArray(doc.packages)) throw bad("packages", "must be a list");
  for (const k of ["apkurl", "reponame", "urlprefix"]) if (doc[k] !== undefined && typeof doc[k] !== "string") throw bad(k, "must be a string");
  if (doc.archs !== undefined && !(Array.isArray(doc.archs) && doc.archs.every((a) => typeof a === "string"))) throw bad("archs", "must be a list of strings");
  for (const [i, entry] of doc.packages.entries()) {
    const pkg = (entry as { pkg?: unknown } | null)?.pkg as Record<string, unknown> | undefined;
    if (typeof pkg !== "object" || pkg === null) throw bad(`packages[${i}].pkg`, "must be an object");
    if (typeof pkg.name !== "string" || !pkg.name) throw bad(`packages[${i}].pkg.name`, "must be a package name");
    const fixes = pkg.secfixes;
    if (typeof fixes !== "object" || fixes === null || Array.isArray(fixes)) throw bad(`packages[${i}].pkg.secfixes`, "must map versions to id lists");
    for (const [version, ids] of Object.entries(fixes)) {
      if (version !== NOT_AFFECTED_VERSION && !isValidVersion(version)) throw bad(`packages[${i}].pkg.secfixes["${version}"]`, "is not a package version");
      if (!Array.isArray(ids) || !ids.every((x) => typeof x === "string")) throw bad(`packages[${i}].pkg.secfixes["${version}"]`, "must be a list of ids");
    }
  }
  return {
    apkurl: String(doc.apkurl ?? ""),
    archs: (doc.archs as string[] | undefined) ?? [],
    reponame: String(doc.reponame ?? ""),
    urlprefix: String(doc.urlprefix ?? ""),
    packages: doc.packages as Secdb["packages"],
  };
}
