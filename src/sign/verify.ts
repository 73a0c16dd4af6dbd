/**
 * `undistro verify`: every signature and attestation attached to an image, in both storage forms
 * (cosign's `.sig` / `.att` tags and OCI 1.1 bundle referrers), checked offline against one public
 * key. Strict: each attached item must verify, and each required kind must be present.
 */
import { createHash, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ApkKeyring, readPackage, verifyPackage } from "../apk/index.js";
import {
  type Descriptor,
  describeEndpoint,
  digestLike,
  type Endpoint,
  listReferrers,
  parseOciDocument,
  platformName,
  readBlob,
  readManifest,
} from "../oci/index.js";
import { parseJsonInput, UndistroError } from "../util/index.js";
import { attestationTag, checkStatement, checkStatementEnvelope, DSSE_MEDIA_TYPE, PREDICATE_TYPES } from "./attest.js";
import { BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE, openBundle, type SigstoreBundle, type Statement } from "./bundle.js";
import { imageDigest, signatureTag } from "./image.js";
import { COSIGN_SIGNATURE_ANNOTATION, type DsseEnvelope, parseSimpleSigning, SIMPLE_SIGNING_MEDIA_TYPE, type TrustedKeys, verifyBytes } from "./payload.js";

export type Requirement = "signature" | "provenance" | "sbom";
export const REQUIREMENTS: Requirement[] = ["signature", "provenance", "sbom"];

export interface VerifyCheck {
  kind: "signature" | "attestation" | "content" | "package";
  /** "legacy" (cosign tag), "bundle" (OCI 1.1 referrer), or "image" for the content check. */
  form: "legacy" | "bundle" | "image";
  layer: string;
  predicateType?: string;
  ok: boolean;
  reason: string;
  reference?: string;
  /** Set when the item is attached to one platform's manifest ("linux/amd64") rather than the image. */
  platform?: string;
}

export interface VerifyResult {
  image: string;
  digest: string;
  ok: boolean;
  checks: VerifyCheck[];
  requirements: Record<string, boolean>;
}

export interface VerifyOptions {
  /** Kinds that must be present and valid (default: signature). */
  require?: Requirement[];
  /**
   * With APK keys: every package the verified provenance names is looked up in each REPOSITORY/<arch>/
   * (an image may come from several), must have the digest the provenance recorded, and must carry
   * a valid APK signature by one of the keys.
   */
  repositories?: string[];
  apkKeysDir?: string;
  /** APK keys as a keyring (instead of a directory). */
  apkKeys?: ApkKeyring;
  /**
   * `rebuilt:N`: at least N matching rebuild verdicts over the image's digest, each from a
   * different trusted key (the keys are counted, not the verdicts).
   */
  rebuilders?: number;
}

/**
 * The in-toto statements attached to an image (cosign `.att` and OCI 1.1 referrers) that verify
 * with `key` and are about the image's own digest: what a reader of attested records (rebuild-check
 * reading an image's provenance) may trust.
 */
export async function verifiedStatements(ep: Endpoint, key: TrustedKeys): Promise<{ digest: string; statements: Statement[] }> {
  const digest = await imageDigest(ep);
  const scratch: VerifyResult = { image: "", digest, ok: false, checks: [], requirements: {} };
  const statements: Statement[] = [];
  await checkBundles(ep, digest, key, scratch, statements);
  await checkLegacyAttestations(ep, digest, key, scratch, statements);
  return { digest, statements };
}

/** A rebuild verdict counts when it says the rebuild obtained exactly what was expected. */
export function rebuildVerdictMatches(predicate: unknown): boolean {
  // biome-ignore lint/suspicious/noExplicitAny: a predicate is JSON, inspected field by field
  const p = predicate as Record<string, any> | undefined;
  return p?.match === true && typeof p.expected?.sha256 === "string" && p.obtained?.sha256 === p.expected.sha256;
}

function rebuildMatched(st: Statement): boolean {
  return st.predicateType === PREDICATE_TYPES.rebuild && rebuildVerdictMatches(st.predicate);
}

/** How many of `keys` each signed a matching rebuild verdict over `digest`. */
async function countRebuilders(ep: Endpoint, digest: string, key: TrustedKeys): Promise<number> {
  const keys = Array.isArray(key) ? (key as readonly KeyObject[]) : [key as KeyObject];
  const seen = new Set<string>();
  let count = 0;
  for (const k of keys) {
    const der = k.export({ format: "der", type: "spki" }).toString("base64");
    if (seen.has(der)) continue;
    seen.add(der);
    const scratch: VerifyResult = { image: "", digest, ok: false, checks: [], requirements: {} };
    const statements: Statement[] = [];
    await checkBundles(ep, digest, k, scratch, statements);
    await checkLegacyAttestations(ep, digest, k, scratch, statements);
    if (statements.some(rebuildMatched)) count++;
  }
  return count;
}

export async function verifyImage(ep: Endpoint, key: TrustedKeys, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const require = opts.require ?? ["signature"];
  for (const r of require) if (!REQUIREMENTS.includes(r)) throw new UndistroError("USAGE", `--require ${r}: use ${REQUIREMENTS.join(", ")}`);
  // Requiring nothing would pass any image whose bytes match its digest, signed or not.
  if (require.length === 0 && opts.rebuilders === undefined)
    throw new UndistroError("USAGE", `--require names nothing: give one or more of ${REQUIREMENTS.join(", ")}`);
  const digest = await imageDigest(ep);
  const result: VerifyResult = { image: describeEndpoint(ep), digest, ok: false, checks: [], requirements: {} };
  await checkContent(ep, digest, result);
  const statements: Statement[] = [];
  await checkBundles(ep, digest, key, result, statements);
  await checkLegacySignatures(ep, digest, key, result);
  await checkLegacyAttestations(ep, digest, key, result, statements);
  // Attestations of each platform's manifest (an SBOM describes one platform's files).
  const platforms = await platformManifests(ep, digest);
  for (const p of platforms) {
    const before = result.checks.length;
    await checkBundles(ep, p.digest, key, result, statements);
    await checkLegacyAttestations(ep, p.digest, key, result, statements);
    for (const c of result.checks.slice(before)) c.platform = p.name;
  }
  const apkKeys = opts.apkKeys ?? (opts.apkKeysDir ? ApkKeyring.fromDirectory(opts.apkKeysDir) : undefined);
  if (opts.repositories?.length && apkKeys) checkPackages(statements, opts.repositories, apkKeys, result);
  const good = result.checks.filter((c) => c.ok);
  const isSbom = (c: VerifyCheck) => c.predicateType === PREDICATE_TYPES.spdxjson || c.predicateType === PREDICATE_TYPES.cyclonedx;
  const satisfied: Record<Requirement, boolean> = {
    // A signature counts when it is over the image's own digest, not one platform's.
    signature: good.some((c) => c.kind === "signature" && c.platform === undefined),
    provenance: good.some((c) => c.predicateType === PREDICATE_TYPES.slsaprovenance1),
    // An SBOM of the whole image, or one for every platform.
    sbom:
      good.some((c) => isSbom(c) && c.platform === undefined) ||
      (platforms.length > 0 && platforms.every((p) => good.some((c) => isSbom(c) && c.platform === p.name))),
  };
  for (const r of require) result.requirements[r] = satisfied[r];
  let rebuilt = true;
  if (opts.rebuilders !== undefined) {
    const n = await countRebuilders(ep, digest, key);
    rebuilt = n >= opts.rebuilders;
    result.requirements[`rebuilt:${opts.rebuilders}`] = rebuilt;
    result.checks.push({
      kind: "attestation",
      form: "image",
      layer: "rebuild verdicts",
      predicateType: PREDICATE_TYPES.rebuild,
      ok: rebuilt,
      reason: `${n} trusted key${n === 1 ? "" : "s"} signed a matching rebuild verdict; ${opts.rebuilders} required`,
    });
  }
  result.ok = result.checks.length > 0 && result.checks.every((c) => c.ok) && require.every((r) => satisfied[r]) && rebuilt;
  return result;
}

async function layersOf(ep: Endpoint, tag: string): Promise<Descriptor[]> {
  const node = await readManifest(ep, tag);
  return node ? ((parseOciDocument(node.body, `${describeEndpoint(ep)}:${tag}`).layers ?? []) as Descriptor[]) : [];
}

/** Reads a blob and checks it against its descriptor. */
async function blobFor(ep: Endpoint, d: Descriptor): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readBlob(ep, d.digest);
  } catch {
    throw new Error(`${d.digest} is missing or does not match its digest`);
  }
  if (digestLike(d.digest, data) !== d.digest) throw new Error(`${d.digest} does not match its digest`);
  return data;
}

async function checkLegacySignatures(ep: Endpoint, digest: string, key: TrustedKeys, result: VerifyResult): Promise<void> {
  for (const l of await layersOf(ep, signatureTag(digest))) {
    if (l.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    const check: VerifyCheck = { kind: "signature", form: "legacy", layer: l.digest, ok: false, reason: "" };
    result.checks.push(check);
    try {
      const payload = await blobFor(ep, l);
      const sig = l.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
      if (!sig) throw new Error(`no ${COSIGN_SIGNATURE_ANNOTATION} annotation`);
      if (!verifyBytes(payload, Buffer.from(sig, "base64"), key)) throw new Error("signature does not verify with the key");
      const doc = parseSimpleSigning(payload, `${result.image} ${l.digest}`);
      check.reference = doc.critical.identity["docker-reference"];
      const signed = doc.critical.image["docker-manifest-digest"];
      if (signed !== digest) throw new Error(`signed digest ${signed} is not the image's ${digest}`);
      check.ok = true;
      check.reason = "signature verified";
    } catch (err) {
      check.reason = (err as Error).message;
    }
  }
}

async function checkLegacyAttestations(ep: Endpoint, digest: string, key: TrustedKeys, result: VerifyResult, statements: Statement[]): Promise<void> {
  for (const l of await layersOf(ep, attestationTag(digest))) {
    if (l.mediaType !== DSSE_MEDIA_TYPE) continue;
    const check: VerifyCheck = { kind: "attestation", form: "legacy", layer: l.digest, ok: false, reason: "" };
    result.checks.push(check);
    try {
      const env = parseJsonInput(await blobFor(ep, l), `attestation layer ${l.digest}`) as DsseEnvelope;
      const r = checkStatementEnvelope(env, key, digest);
      check.predicateType = r.predicateType;
      if (r.error || !r.statement) throw new Error(r.error);
      statements.push(r.statement);
      check.ok = true;
      check.reason = "attestation verified";
    } catch (err) {
      check.reason = (err as Error).message;
    }
  }
}

async function checkBundles(ep: Endpoint, digest: string, key: TrustedKeys, result: VerifyResult, statements: Statement[]): Promise<void> {
  for (const ref of await listReferrers(ep, digest)) {
    if (ref.artifactType !== BUNDLE_MEDIA_TYPE) continue;
    const check: VerifyCheck = { kind: "signature", form: "bundle", layer: ref.digest, ok: false, reason: "" };
    result.checks.push(check);
    try {
      const node = await readManifest(ep, ref.digest);
      if (!node) throw new Error(`referrer ${ref.digest} is missing`);
      const m = parseOciDocument(node.body, `referrer ${ref.digest}`);
      if (m.subject?.digest !== digest) throw new Error(`referrer subject ${m.subject?.digest} is not the image's ${digest}`);
      const layer = m.layers?.find((l) => l.mediaType === BUNDLE_MEDIA_TYPE);
      if (!layer) throw new Error("referrer holds no bundle layer");
      check.layer = layer.digest;
      const opened = openBundle(parseJsonInput(await blobFor(ep, layer), `bundle layer ${layer.digest}`) as SigstoreBundle, key);
      if (!opened.statement) throw new Error(opened.error);
      check.predicateType = opened.statement.predicateType;
      if (opened.statement.predicateType !== COSIGN_SIGN_PREDICATE) check.kind = "attestation";
      const problem = checkStatement(opened.statement, digest);
      if (problem) throw new Error(problem);
      statements.push(opened.statement);
      check.ok = true;
      check.reason = check.kind === "signature" ? "bundle verified" : "attestation bundle verified";
    } catch (err) {
      check.reason = (err as Error).message;
    }
  }
}

/** The platform manifests of an image index (none for a single manifest). */
async function platformManifests(ep: Endpoint, digest: string): Promise<Array<{ digest: string; name: string }>> {
  const node = await readManifest(ep, digest);
  if (!node) return [];
  const doc = parseOciDocument(node.body, `${describeEndpoint(ep)} manifest ${digest}`);
  return (doc.manifests ?? [])
    .filter((m) => m.platform && m.platform.architecture !== "unknown")
    .map((m) => ({ digest: m.digest, name: platformName(m.platform ?? {}) }));
}

/**
 * The image itself: every manifest below the signed digest, every config and layer, read in full
 * and checked against its descriptor (a signature over a digest proves nothing about bytes that
 * no longer match it).
 */
async function checkContent(ep: Endpoint, digest: string, result: VerifyResult): Promise<void> {
  const check: VerifyCheck = { kind: "content", form: "image", layer: digest, ok: false, reason: "" };
  result.checks.push(check);
  let blobs = 0;
  const walk = async (d: string): Promise<void> => {
    let node: Awaited<ReturnType<typeof readManifest>>;
    try {
      node = await readManifest(ep, d);
    } catch {
      throw new Error(`manifest ${d} does not match its digest`);
    }
    if (!node) throw new Error(`manifest ${d} is missing`);
    if (node.digest !== d) throw new Error(`manifest ${d} does not match its digest`);
    const doc = parseOciDocument(node.body, `manifest ${d}`);
    for (const m of doc.manifests ?? []) await walk(m.digest);
    for (const b of [doc.config, ...(doc.layers ?? [])]) {
      if (!b) continue;
      const data = await blobFor(ep, b).catch((err: Error) => {
        throw new Error(`${b === doc.config ? "config" : "layer"} ${err.message}`);
      });
      if (data.length !== b.size) throw new Error(`${b.digest} is ${data.length} bytes, its descriptor says ${b.size}`);
      blobs++;
    }
  };
  try {
    await walk(digest);
    check.ok = true;
    check.reason = `${blobs} configs and layers match their digests`;
  } catch (err) {
    check.reason = (err as Error).message;
  }
}

interface ProvenanceDependency {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
}

/**
 * Each APK package named by verified provenance: present in one of the repositories with the digest
 * the provenance records (a file of the same name with other bytes, in another repository, does
 * not stand in for it), and validly signed.
 */
function checkPackages(statements: Statement[], repositories: string[], ring: ApkKeyring, result: VerifyResult): void {
  const seen = new Set<string>();
  for (const st of statements) {
    if (st.predicateType !== PREDICATE_TYPES.slsaprovenance1) continue;
    const deps = ((st.predicate as { buildDefinition?: { resolvedDependencies?: ProvenanceDependency[] } }).buildDefinition?.resolvedDependencies ?? []).filter(
      (d) => d.uri?.startsWith("pkg:apk/"),
    );
    for (const d of deps) {
      const arch = /[?&]arch=([^&]+)/.exec(d.uri ?? "")?.[1] ?? "";
      const key = `${arch}/${d.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const check: VerifyCheck = { kind: "package", form: "image", layer: key, ok: false, reason: "" };
      result.checks.push(check);
      try {
        const path = packageWithDigest(repositories, arch, d);
        const v = verifyPackage(readPackage(path), ring);
        check.ok = true;
        check.reason = `APK signature by ${v.keyName}, ${v.filesChecked} files checked${repositories.length > 1 ? ` (${dirname(dirname(path))})` : ""}`;
      } catch (err) {
        check.reason = (err as Error).message;
      }
    }
  }
}

/** The first REPOSITORY/ARCH/NAME whose sha256 is the one the provenance records; else an error saying what was found. */
function packageWithDigest(repositories: string[], arch: string, d: ProvenanceDependency): string {
  const where = repositories.map((r) => join(r, arch)).join(" or ");
  const candidates = d.name ? repositories.map((r) => join(r, arch, d.name as string)).filter((p) => existsSync(p)) : [];
  if (!candidates.length) throw new Error(`not in ${where}`);
  const digests: string[] = [];
  for (const path of candidates) {
    const actual = createHash("sha256").update(readFileSync(path)).digest("hex");
    if (actual === d.digest?.sha256) return path;
    digests.push(actual);
  }
  throw new Error(`sha256 ${digests.join(", ")} ${digests.length > 1 ? "are" : "is"} not the ${d.digest?.sha256} the provenance records`);
}
