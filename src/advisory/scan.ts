/**
 * Vulnerability scan: the installed set of an image, a package, an SBOM or a root filesystem,
 * matched against OSV records for the distro's ecosystem; the distro's advisories then remove
 * matches they resolve (fixed at or below the installed version, or not affected). Advisories never
 * add a match: a scanner that trusts a feed must not invent findings from it.
 */
import { existsSync, lstatSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { gunzipBounded, parseIndex, parseTar, readPackage } from "../apk/index.js";
import {
  type Descriptor,
  type Endpoint,
  endpoint,
  endpointRef,
  MEDIA,
  parseOciDocument,
  platformMatches,
  platformName,
  readBlob,
  readManifest,
} from "../oci/index.js";
import { type DistroRelease, distroRelease } from "../sbom/index.js";
import { UndistroError } from "../util/index.js";
import { type AdvisoryDocument, type AdvisoryStatus, type FalsePositiveType, statusAt, VEX_JUSTIFICATION } from "./model.js";
import { affectsVersion, type OsvDatabase, recordSeverity, SEVERITIES, type Severity } from "./osv.js";

export interface InstalledPackage {
  name: string;
  version: string;
  /** The source package (apk's `o:`); advisories are kept per origin. */
  origin?: string;
  arch?: string;
  /** Where it was found: an image platform, a file. */
  location: string;
  /** The image's or root's os-release, when it has one: scanners derive purls from it. */
  release?: DistroRelease;
  /** The purl it was listed under (an SBOM). */
  purl?: string;
}

export interface Finding {
  package: string;
  version: string;
  origin?: string;
  arch?: string;
  location: string;
  vulnerability: string;
  aliases: string[];
  severity: Severity;
  score?: number;
  fixedVersion?: string;
  summary?: string;
  /** The distro's advisory for it, when one exists and leaves it open. */
  advisory?: { id: string; status: AdvisoryStatus; note?: string };
}

export interface Resolved extends Omit<Finding, "advisory"> {
  advisory: { id: string; status: "fixed" | "not-affected"; fixedVersion?: string; justification?: string; vex?: string };
}

export interface ScanReport {
  target: string;
  ecosystem: string;
  packages: number;
  findings: Finding[];
  /** Matches an advisory resolved: reported for transparency, never counted. */
  resolved: Resolved[];
  counts: Record<Severity, number>;
}

/** Reads the installed packages of a scan target: an image (`oci:DIR[:TAG]` or a registry reference), `.apk`, SBOM, root fs or installed db. */
export async function installedPackages(target: string, opts: { platform?: string; insecure?: boolean } = {}): Promise<InstalledPackage[]> {
  if (!target.startsWith("oci:") && existsSync(target)) {
    const st = statSync(target);
    if (st.isDirectory()) {
      for (const db of ["usr/lib/apk/db/installed", "lib/apk/db/installed"]) {
        const p = join(target, db);
        if (existsSync(p)) return withRelease(fromInstalledDb(readFileSync(p, "utf8"), p, p), rootRelease(target));
      }
      if (existsSync(join(target, "oci-layout"))) return fromImage(endpoint(`oci:${target}`), target, opts.platform);
      throw new UndistroError("SCAN_TARGET", `${target}: a directory without an apk installed database or an OCI layout`, {
        hint: "scan an image (oci:DIR, a registry reference), an .apk, an SBOM, or a root filesystem with lib/apk/db/installed",
      });
    }
    if (target.endsWith(".apk")) {
      const pkg = readPackage(target);
      return [{ name: pkg.info.name, version: pkg.info.version, origin: pkg.info.origin ?? pkg.info.name, arch: pkg.info.arch, location: target }];
    }
    const text = readFileSync(target, "utf8");
    if (basename(target) === "installed" || /^[A-Za-z]:/.test(text)) return fromInstalledDb(text, target, target);
    return fromSbom(text, target);
  }
  // A path that does not exist is not an image reference just because it has a slash.
  const looksLikePath = /^\.{0,2}\//.test(target) || /\.(apk|json)$/.test(target) || !/^[^/]+[.:][^/]*\/|^localhost\//.test(target);
  if (!target.startsWith("oci:") && looksLikePath) {
    throw new UndistroError("SCAN_TARGET", `${target}: no such file, and not an image reference (HOST/REPO[:TAG])`, {
      hint: "use oci:DIR[:TAG] for a local layout or HOST/REPO[:TAG] for a registry",
    });
  }
  return fromImage(endpoint(target, { insecure: opts.insecure ?? false }), target, opts.platform);
}

function withRelease(packages: InstalledPackage[], release: DistroRelease | undefined): InstalledPackage[] {
  return release ? packages.map((p) => ({ ...p, release })) : packages;
}

/** A root filesystem's os-release, read only as a regular file: a link could point outside the root. */
function rootRelease(root: string): DistroRelease | undefined {
  for (const name of ["etc/os-release", "usr/lib/os-release"]) {
    const path = join(root, name);
    if (existsSync(path) && lstatSync(path).isFile()) return distroRelease(readFileSync(path, "utf8"));
  }
  return undefined;
}

function fromInstalledDb(text: string, where: string, location: string): InstalledPackage[] {
  return parseIndex(text, where).map((e) => ({ name: e.name, version: e.version, origin: e.origin ?? e.name, ...(e.arch ? { arch: e.arch } : {}), location }));
}

/** Packages from an SPDX 2.x or CycloneDX JSON SBOM, by their `pkg:apk/…` purls. */
function fromSbom(text: string, file: string): InstalledPackage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UndistroError("SCAN_TARGET", `${file}: not an .apk, an apk installed database or a JSON SBOM`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new UndistroError("SCAN_TARGET", `${file}: JSON, but not an SBOM object`);
  const doc = parsed as Record<string, unknown>;
  const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter((x) => x !== null && typeof x === "object") : []);
  const purls: string[] = [];
  if (typeof doc.spdxVersion === "string") {
    for (const p of list(doc.packages)) {
      for (const r of list(p.externalRefs)) if (r.referenceType === "purl" && typeof r.referenceLocator === "string") purls.push(r.referenceLocator);
    }
  } else if (doc.bomFormat === "CycloneDX") {
    // Nested components, walked without recursion so a deep document cannot overflow the stack.
    const stack = [list(doc.components)];
    for (let components = stack.pop(); components; components = stack.pop()) {
      for (const c of components) {
        if (typeof c.purl === "string") purls.push(c.purl);
        stack.push(list(c.components));
      }
    }
  } else throw new UndistroError("SCAN_TARGET", `${file}: JSON but neither SPDX (spdxVersion) nor CycloneDX (bomFormat)`);
  const out: InstalledPackage[] = [];
  for (const purl of purls) {
    const m = /^pkg:apk\/[^/]+\/([^@?#]+)@([^?#]+)(?:\?([^#]*))?/.exec(purl);
    if (!m) continue;
    const q = new URLSearchParams(m[3] ?? "");
    const arch = q.get("arch");
    const origin = q.get("upstream") ?? q.get("origin");
    let name: string;
    let version: string;
    try {
      name = decodeURIComponent(m[1] as string);
      version = decodeURIComponent(m[2] as string);
    } catch {
      throw new UndistroError("SCAN_TARGET", `${file}: purl ${JSON.stringify(purl.slice(0, 200))} has an invalid percent-escape`);
    }
    out.push({ name, version, ...(origin ? { origin } : {}), ...(arch ? { arch } : {}), location: file, purl });
  }
  return out;
}

/** One platform's image as read from its layers: what a scan, VEX and the catalogue need. */
export interface ImagePlatformContents {
  /** The platform manifest's digest. */
  digest: string;
  /** "linux/amd64", or "" for an image that is a single manifest. */
  platform: string;
  config: Descriptor;
  layers: { descriptor: Descriptor; uncompressedSize: number }[];
  /** The apk installed database's text, when the image has one. */
  installedDb?: string;
  release?: DistroRelease;
}

/** Reads every platform of an image (or the one `platform` names), layer by layer, bounded. */
export async function readImagePlatforms(ep: Endpoint, target: string, platform?: string): Promise<ImagePlatformContents[]> {
  const top = await readManifest(ep, endpointRef(ep));
  if (!top) throw new UndistroError("SCAN_TARGET", `${target}: no such image`, { hint: "check the reference; for a layout, the tag named in its index.json" });
  const images: Array<{ digest: string; body: Buffer; platform: string }> = [];
  const doc = parseOciDocument(top.body, `${target} manifest ${top.digest}`);
  if (doc.manifests) {
    for (const m of doc.manifests) {
      const plat = m.platform ? platformName(m.platform) : "unknown";
      if (platform && !(m.platform && platformMatches(m.platform, platform))) continue;
      const node = await readManifest(ep, m.digest);
      if (node) images.push({ digest: m.digest, body: node.body, platform: plat });
    }
    if (!images.length) throw new UndistroError("SCAN_TARGET", `${target}: no image${platform ? ` for platform ${platform}` : ""} in the index`);
  } else images.push({ digest: top.digest, body: top.body, platform: "" });
  const out: ImagePlatformContents[] = [];
  for (const img of images) {
    const manifest = parseOciDocument(img.body, `${target} manifest ${img.digest}`);
    if (!manifest.config) throw new UndistroError("SCAN_TARGET", `${target}@${img.digest}: a manifest without a config`);
    const contents: ImagePlatformContents = { digest: img.digest, platform: img.platform, config: manifest.config, layers: [] };
    // os-release as a regular file at either place (etc/os-release is usually a link to the other).
    const osRelease = new Map<string, string>();
    for (const layer of manifest.layers ?? []) {
      const blob = await readBlob(ep, layer.digest);
      const tar = layer.mediaType === MEDIA.layerGzip || blob[0] === 0x1f ? gunzipBounded(blob, `${target} layer ${layer.digest}`) : blob;
      contents.layers.push({ descriptor: layer, uncompressedSize: tar.length });
      for (const e of parseTar(tar, (off) => `${target} layer ${layer.digest} offset ${off}`).entries) {
        const name = e.header.name.replace(/^\.?\//, "");
        if (name === "usr/lib/apk/db/installed" || name === "lib/apk/db/installed") contents.installedDb = e.content.toString("utf8");
        if ((name === "etc/os-release" || name === "usr/lib/os-release") && e.content.length > 0) osRelease.set(name, e.content.toString("utf8"));
      }
    }
    const release = distroRelease(osRelease.get("etc/os-release") ?? osRelease.get("usr/lib/os-release"));
    if (release) contents.release = release;
    out.push(contents);
  }
  return out;
}

/** The packages an image's apk database lists, per platform. */
export function platformPackages(target: string, p: ImagePlatformContents): InstalledPackage[] {
  const where = `${target}@${p.digest}${p.platform ? ` (${p.platform})` : ""}`;
  if (p.installedDb === undefined) throw new UndistroError("SCAN_TARGET", `${where}: the image has no apk installed database (usr/lib/apk/db/installed)`);
  return withRelease(fromInstalledDb(p.installedDb, where, where), p.release);
}

async function fromImage(ep: Endpoint, target: string, platform?: string): Promise<InstalledPackage[]> {
  return (await readImagePlatforms(ep, target, platform)).flatMap((p) => platformPackages(target, p));
}

/** Matches packages against the database and applies the advisories. */
export function scanPackages(
  target: string,
  packages: InstalledPackage[],
  db: OsvDatabase,
  advisories: readonly AdvisoryDocument[],
  opts: { ecosystem: string },
): ScanReport {
  const docs = new Map(advisories.map((d) => [d.package, d]));
  const findings: Finding[] = [];
  const resolved: Resolved[] = [];
  for (const pkg of packages) {
    const names = [...new Set([pkg.name, pkg.origin ?? pkg.name])];
    const seen = new Set<string>();
    for (const name of names) {
      for (const { record, affected } of db.byPackage.get(`${opts.ecosystem}\0${name}`) ?? []) {
        if (seen.has(record.id)) continue;
        const verdict = affectsVersion(affected, pkg.version);
        if (!verdict.affected) continue;
        seen.add(record.id);
        const aliases = [...new Set([...(record.aliases ?? []), ...(record.upstream ?? [])])].filter((a) => a !== record.id).sort();
        const sev = recordSeverity(record, affected);
        const base = {
          package: pkg.name,
          version: pkg.version,
          ...(pkg.origin && pkg.origin !== pkg.name ? { origin: pkg.origin } : {}),
          ...(pkg.arch ? { arch: pkg.arch } : {}),
          location: pkg.location,
          vulnerability: record.id,
          aliases,
          severity: sev.severity,
          ...(sev.score !== undefined ? { score: sev.score } : {}),
          ...(verdict.fixedVersion ? { fixedVersion: verdict.fixedVersion } : {}),
          ...(record.summary ? { summary: record.summary } : {}),
        };
        const ids = [record.id, ...aliases];
        const adv = findAdvisory(docs, [pkg.origin ?? pkg.name, pkg.name], ids);
        if (!adv) {
          findings.push(base);
          continue;
        }
        const st = statusAt(adv, pkg.version);
        if (st.status === "fixed" || st.status === "not-affected") {
          const justification = st.justification;
          resolved.push({
            ...base,
            advisory: {
              id: adv.id,
              status: st.status,
              ...(st.fixedVersion ? { fixedVersion: st.fixedVersion } : {}),
              ...(justification ? { justification, vex: VEX_JUSTIFICATION[justification as FalsePositiveType] } : {}),
            },
          });
        } else {
          findings.push({
            ...base,
            ...(st.fixedVersion ? { fixedVersion: st.fixedVersion } : {}),
            advisory: { id: adv.id, status: st.status, ...(st.note ? { note: st.note } : {}) },
          });
        }
      }
    }
  }
  const order = (f: Finding) => -SEVERITIES.indexOf(f.severity);
  const sortKey = (a: Finding, b: Finding) =>
    order(a) - order(b) || a.package.localeCompare(b.package) || a.vulnerability.localeCompare(b.vulnerability) || a.location.localeCompare(b.location);
  findings.sort(sortKey);
  resolved.sort(sortKey);
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;
  return { target, ecosystem: opts.ecosystem, packages: packages.length, findings, resolved, counts };
}

function findAdvisory(docs: ReadonlyMap<string, AdvisoryDocument>, names: string[], ids: string[]) {
  for (const n of new Set(names)) {
    const adv = docs.get(n)?.advisories.find((a) => ids.includes(a.id) || a.aliases.some((x) => ids.includes(x)));
    if (adv) return adv;
  }
  return undefined;
}

/** Whether any finding is at or above `threshold` (the exit code of `scan --fail-on`). */
export function failsAt(report: ScanReport, threshold: Severity): boolean {
  const min = SEVERITIES.indexOf(threshold);
  return report.findings.some((f) => SEVERITIES.indexOf(f.severity) >= min);
}

/** SARIF 2.1.0, one rule per vulnerability, one result per affected package (for code-scanning UIs). */
export function scanSarif(report: ScanReport, tool: { version: string }): Record<string, unknown> {
  const rules = new Map<string, Finding>();
  for (const f of report.findings) if (!rules.has(f.vulnerability)) rules.set(f.vulnerability, f);
  const ruleIds = [...rules.keys()].sort();
  const level = (s: Severity) => (s === "critical" || s === "high" ? "error" : s === "medium" ? "warning" : "note");
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "undistro",
            version: tool.version,
            informationUri: "https://undistro.dev",
            rules: ruleIds.map((id) => {
              const f = rules.get(id) as Finding;
              return {
                id,
                shortDescription: { text: f.summary ?? `${id} in ${f.package}` },
                fullDescription: { text: `${id}${f.aliases.length ? ` (${f.aliases.join(", ")})` : ""}: ${f.summary ?? "vulnerability"}` },
                help: { text: f.fixedVersion ? `Upgrade ${f.package} to ${f.fixedVersion} or later.` : `No fixed version of ${f.package} is known yet.` },
                properties: { tags: ["security", "vulnerability", f.severity], ...(f.score !== undefined ? { "security-severity": f.score.toFixed(1) } : {}) },
              };
            }),
          },
        },
        results: report.findings.map((f) => ({
          ruleId: f.vulnerability,
          ruleIndex: ruleIds.indexOf(f.vulnerability),
          level: level(f.severity),
          message: {
            text: `${f.package} ${f.version} is affected by ${f.vulnerability} (${f.severity})${f.fixedVersion ? `; fixed in ${f.fixedVersion}` : ""}${f.advisory ? `; advisory ${f.advisory.id}: ${f.advisory.status}` : ""}`,
          },
          locations: [
            {
              physicalLocation: { artifactLocation: { uri: f.location.replace(/ \(.*\)$/, "") } },
              logicalLocations: [{ name: `${f.package}@${f.version}`, kind: "package" }],
            },
          ],
        })),
      },
    ],
  };
}
