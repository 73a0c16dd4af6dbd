/**
 * The images the catalogue shows: each OCI layout given, every version (tagged digest) in it, per
 * platform its layers, sizes and installed packages; its signatures and attestations as
 * `undistro verify` checks them with the trusted keys given; its vulnerabilities as `undistro scan`
 * finds them with the advisories applied. Nothing is fetched from the network.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import {
  type AdvisoryDocument,
  type Finding,
  type InstalledPackage,
  type OsvDatabase,
  platformPackages,
  readImagePlatforms,
  scanPackages,
} from "../advisory/index.js";
import { type Endpoint, endpoint, MEDIA, OciLayout } from "../oci/index.js";
import type { TrustedKeys } from "../sign/index.js";
import { PREDICATE_TYPES, verifiedStatements, verifyImage } from "../sign/index.js";
import { UndistroError } from "../util/index.js";

export interface ImageLayerInfo {
  digest: string;
  mediaType: string;
  size: number;
  uncompressedSize: number;
  /** What the layer holds, when the image builder said (origin layering). */
  title?: string;
}

export interface ImagePlatformInfo {
  platform: string;
  digest: string;
  /** Config and layers as stored (compressed). */
  size: number;
  /** Layers unpacked. */
  uncompressedSize: number;
  layers: ImageLayerInfo[];
  packages: { name: string; version: string; origin: string }[];
}

export interface ImageCheck {
  ok: boolean;
  what: string;
  reason: string;
}

export interface ImageVerification {
  /** False when no trusted image key was given: nothing was checked. */
  checked: boolean;
  signed: boolean;
  checks: ImageCheck[];
}

export interface ImageVulnerabilities {
  counts: Record<string, number>;
  findings: Finding[];
  /** Matches an advisory resolved (fixed, not affected). */
  resolved: number;
}

export interface ImageVersion {
  digest: string;
  tags: string[];
  platforms: ImagePlatformInfo[];
  verification: ImageVerification;
  vulnerabilities?: ImageVulnerabilities;
  /** SBOM files beside the layout (sboms/, as `undistro image build` writes them) that name this version's manifests. */
  sbomFiles: string[];
  /**
   * SBOMs attested for a platform of this version and verified with the trusted keys (a pulled
   * image carries its SBOMs only so): file name → the SBOM document's bytes.
   */
  attestedSboms: Map<string, Buffer>;
}

export interface CatalogImage {
  name: string;
  /** The layout directory. */
  layout: string;
  /** Oldest first, as the layout's index lists them. */
  versions: ImageVersion[];
}

export interface ImageLoadOptions {
  /** Image (cosign) public keys: signatures and attestations are verified with these. */
  keys?: TrustedKeys;
  /** OSV records and the distro's advisories: the vulnerability summary. */
  osv?: OsvDatabase;
  advisories?: readonly AdvisoryDocument[];
  ecosystem?: string;
}

const REF_NAME = "org.opencontainers.image.ref.name";
const TITLE = "org.opencontainers.image.title";
/** cosign's companion tags (signatures, attestations, SBOMs, referrers) are not versions of the image. */
const COMPANION_TAG = /^sha256-[0-9a-f]{64}(\.[a-z]+)?$/;

/** `oci:DIR` or `DIR`, optionally `NAME=` before it: an image layout and the name to show it under. */
export function parseImageSpec(spec: string): { name: string; layout: string } {
  const eq = spec.indexOf("=");
  const named = eq > 0 && !spec.slice(0, eq).includes("/") ? { name: spec.slice(0, eq), rest: spec.slice(eq + 1) } : undefined;
  const dir = (named?.rest ?? spec).replace(/^oci:/, "");
  if (!existsSync(join(dir, "oci-layout")) || !existsSync(join(dir, "index.json")))
    throw new UndistroError("USAGE", `--image ${spec}: ${dir} is not an OCI layout (no oci-layout and index.json)`, {
      hint: "give a directory `undistro image build --out` or `undistro pull` wrote",
    });
  const name = named?.name ?? basename(resolve(dir));
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name))
    throw new UndistroError("USAGE", `--image ${spec}: ${JSON.stringify(name)} is not an image name`, { hint: "name it: --image NAME=oci:DIR" });
  return { name, layout: dir };
}

/** The layout's versions: tagged images and indexes, companion tags left out, one entry per digest. */
function layoutVersions(layout: string): { digest: string; tags: string[] }[] {
  const index = new OciLayout(layout).readIndex();
  const byDigest = new Map<string, string[]>();
  for (const m of index.manifests) {
    const tag = m.annotations?.[REF_NAME];
    if (tag === undefined || COMPANION_TAG.test(tag)) continue;
    if (m.mediaType !== MEDIA.index && m.mediaType !== MEDIA.manifest) continue;
    byDigest.set(m.digest, [...(byDigest.get(m.digest) ?? []), tag]);
  }
  return [...byDigest].map(([digest, tags]) => ({ digest, tags }));
}

async function verification(ep: Endpoint, keys: TrustedKeys | undefined): Promise<ImageVerification> {
  if (!keys || (Array.isArray(keys) && keys.length === 0)) return { checked: false, signed: false, checks: [] };
  const r = await verifyImage(ep, keys, { require: ["signature"] });
  const checks = r.checks.map((c) => ({
    ok: c.ok,
    what: `${c.kind === "attestation" ? `attestation ${c.predicateType ?? ""}` : c.kind}${c.form === "image" ? "" : ` (${c.form})`}${c.platform ? ` ${c.platform}` : ""}`,
    reason: c.reason,
  }));
  return { checked: true, signed: r.requirements.signature === true, checks };
}

function vulnerabilities(target: string, packages: InstalledPackage[], opts: ImageLoadOptions): ImageVulnerabilities | undefined {
  if (!opts.osv) return undefined;
  const r = scanPackages(target, packages, opts.osv, opts.advisories ?? [], { ecosystem: opts.ecosystem ?? "undistro" });
  return { counts: r.counts, findings: r.findings, resolved: r.resolved.length };
}

const SBOM_KINDS: Record<string, string> = { [PREDICATE_TYPES.spdxjson as string]: "spdx", [PREDICATE_TYPES.cyclonedx as string]: "cdx" };

/** The SBOM predicates attested for each platform manifest, verified with `keys` (none without keys: unverified SBOMs are not offered). */
async function attestedSboms(
  ep: Extract<Endpoint, { kind: "layout" }>,
  platforms: ImagePlatformInfo[],
  keys: TrustedKeys | undefined,
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if (!keys || (Array.isArray(keys) && !keys.length)) return out;
  for (const p of platforms) {
    const { statements } = await verifiedStatements({ ...ep, tag: p.digest }, keys);
    for (const st of statements) {
      const kind = SBOM_KINDS[st.predicateType];
      if (!kind) continue;
      const name = `attested-${p.digest.replace(/^sha256:/, "").slice(0, 12)}-${p.platform.replace(/\//g, "-")}.${kind}.json`;
      out.set(name, Buffer.from(`${JSON.stringify(st.predicate, null, 2)}\n`));
    }
  }
  return out;
}

async function loadVersion(layout: string, digest: string, tags: string[], opts: ImageLoadOptions): Promise<ImageVersion> {
  const target = `oci:${layout}@${digest}`;
  const ep: Extract<Endpoint, { kind: "layout" }> = { ...(endpoint(`oci:${layout}`) as Extract<Endpoint, { kind: "layout" }>), tag: tags[0] as string };
  const platforms: ImagePlatformInfo[] = [];
  const installed: InstalledPackage[] = [];
  for (const p of await readImagePlatforms(ep, target)) {
    const packages = p.installedDb === undefined ? [] : platformPackages(target, p);
    installed.push(...packages);
    const layers = p.layers.map(({ descriptor: d, uncompressedSize }) => ({
      digest: d.digest,
      mediaType: d.mediaType,
      size: d.size,
      uncompressedSize,
      ...(d.annotations?.[TITLE] ? { title: d.annotations[TITLE] } : {}),
    }));
    platforms.push({
      platform: p.platform || "single",
      digest: p.digest,
      size: p.config.size + layers.reduce((n, l) => n + l.size, 0),
      uncompressedSize: layers.reduce((n, l) => n + l.uncompressedSize, 0),
      layers,
      packages: packages.map((x) => ({ name: x.name, version: x.version, origin: x.origin ?? x.name })).sort((a, b) => (a.name < b.name ? -1 : 1)),
    });
  }
  const vulns = vulnerabilities(target, installed, opts);
  return {
    digest,
    tags,
    platforms,
    verification: await verification(ep, opts.keys),
    ...(vulns ? { vulnerabilities: vulns } : {}),
    sbomFiles: [],
    attestedSboms: await attestedSboms(ep, platforms, opts.keys),
  };
}

/**
 * SBOM files beside the layout, each given to the version whose platform manifest it names (an
 * image SBOM names its manifest digest): a layout that holds several versions keeps each one's.
 */
function assignSbomFiles(layout: string, versions: ImageVersion[]): void {
  const dir = join(layout, "sboms");
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)
    .filter((x) => /\.(spdx|cdx)\.json$/.test(x))
    .sort()) {
    const text = readFileSync(join(dir, f), "utf8");
    const owner = versions.find((v) => v.platforms.some((p) => text.includes(p.digest)));
    owner?.sbomFiles.push(f);
  }
}

export async function loadImage(spec: string, opts: ImageLoadOptions = {}): Promise<CatalogImage> {
  const { name, layout } = parseImageSpec(spec);
  const versions: ImageVersion[] = [];
  for (const v of layoutVersions(layout)) versions.push(await loadVersion(layout, v.digest, v.tags, opts));
  if (!versions.length)
    throw new UndistroError("USAGE", `--image ${spec}: the layout has no tagged image`, { hint: "tag it: undistro copy oci:DIR@DIGEST oci:DIR:TAG" });
  assignSbomFiles(layout, versions);
  return { name, layout, versions };
}

export function readSbomFile(image: CatalogImage, file: string): Buffer {
  return readFileSync(join(image.layout, "sboms", file));
}

/** What changed between two versions of an image, per platform: the daily rebuild's question. */
export interface ImageDiff {
  platform: string;
  added: { name: string; version: string }[];
  removed: { name: string; version: string }[];
  changed: { name: string; from: string; to: string }[];
}

export function diffVersions(from: ImageVersion, to: ImageVersion): { platforms: ImageDiff[]; cvesGained: string[]; cvesLost: string[] } {
  const platforms: ImageDiff[] = [];
  const names = [...new Set([...from.platforms, ...to.platforms].map((p) => p.platform))].sort();
  for (const platform of names) {
    const a = new Map((from.platforms.find((p) => p.platform === platform)?.packages ?? []).map((p) => [p.name, p.version]));
    const b = new Map((to.platforms.find((p) => p.platform === platform)?.packages ?? []).map((p) => [p.name, p.version]));
    const d: ImageDiff = { platform, added: [], removed: [], changed: [] };
    for (const [name, version] of [...b].sort()) {
      const was = a.get(name);
      if (was === undefined) d.added.push({ name, version });
      else if (was !== version) d.changed.push({ name, from: was, to: version });
    }
    for (const [name, version] of [...a].sort()) if (!b.has(name)) d.removed.push({ name, version });
    platforms.push(d);
  }
  const ids = (v: ImageVersion) => new Set((v.vulnerabilities?.findings ?? []).map((f) => f.vulnerability));
  const before = ids(from);
  const after = ids(to);
  return {
    platforms,
    cvesGained: [...after].filter((x) => !before.has(x)).sort(),
    cvesLost: [...before].filter((x) => !after.has(x)).sort(),
  };
}
