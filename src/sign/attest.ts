/**
 * Attestations: an in-toto statement about an image (SLSA provenance, an SBOM, or any predicate)
 * in a DSSE envelope, stored both as cosign does (`sha256-<hex>.att`, one layer per envelope,
 * `predicateType` annotation) and as an OCI 1.1 referrer holding a Sigstore bundle.
 */
import type { KeyObject } from "node:crypto";
import { type Descriptor, describeEndpoint, type Endpoint, parseOciDocument, platformMatches, platformName, readManifest, sha256Digest } from "../oci/index.js";
import { UndistroError } from "../util/index.js";
import { bundleStatement, COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE, type Statement, statementFor } from "./bundle.js";
import { appendCompanionLayer, attachBundle, dockerReference, imageDigest } from "./image.js";
import { checkVex } from "./openvex-predicate.js";
import { COSIGN_SIGNATURE_ANNOTATION, type DsseEnvelope, signDsse, type TrustedKeys, verifyDsse } from "./payload.js";

export const DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";

/** The `--type` names cosign accepts, and the predicate type URIs they stand for. */
export const PREDICATE_TYPES: Record<string, string> = {
  slsaprovenance1: "https://slsa.dev/provenance/v1",
  spdxjson: "https://spdx.dev/Document",
  cyclonedx: "https://cyclonedx.org/bom",
  custom: "https://cosign.sigstore.dev/attestation/v1",
  // cosign's `--type openvex` stands for the unversioned namespace; the document's @context carries the version.
  openvex: "https://openvex.dev/ns",
  // undistro rebuild-check's verdict (docs/rebuild-check.md).
  rebuild: "https://undistro.dev/attestations/rebuild/v1",
};

export function attestationTag(digest: string): string {
  return `${digest.replace(":", "-")}.att`;
}

/** What a predicate must look like to be accepted (at attest time and at verify time). */
export function checkPredicate(predicateType: string, predicate: unknown): string | undefined {
  // biome-ignore lint/suspicious/noExplicitAny: predicates are arbitrary JSON, inspected field by field
  const p = predicate as Record<string, any> | null;
  if (p === null || typeof p !== "object") return "predicate is not a JSON object";
  if (predicateType === PREDICATE_TYPES.rebuild) {
    if (typeof p.rebuilder?.id !== "string") return "rebuild verdict: rebuilder.id missing";
    if (typeof p.expected?.sha256 !== "string") return "rebuild verdict: expected.sha256 missing";
    if (typeof p.match !== "boolean") return "rebuild verdict: match is not true or false";
    if (!Array.isArray(p.variations)) return "rebuild verdict: variations is not a list";
  }
  if (predicateType === PREDICATE_TYPES.slsaprovenance1) {
    if (typeof p.buildDefinition?.buildType !== "string") return "SLSA provenance v1: buildDefinition.buildType missing";
    if (typeof p.buildDefinition?.externalParameters !== "object") return "SLSA provenance v1: buildDefinition.externalParameters missing";
    if (typeof p.runDetails?.builder?.id !== "string") return "SLSA provenance v1: runDetails.builder.id missing";
    for (const [i, d] of (p.buildDefinition.resolvedDependencies ?? []).entries()) {
      if (!d?.digest || Object.keys(d.digest).length === 0) return `SLSA provenance v1: resolvedDependencies[${i}] has no digest`;
    }
  } else if (predicateType === PREDICATE_TYPES.spdxjson) {
    if (typeof p.spdxVersion !== "string" || !p.spdxVersion.startsWith("SPDX-")) return "SPDX: spdxVersion missing";
    if (!Array.isArray(p.packages)) return "SPDX: packages missing";
  } else if (predicateType === PREDICATE_TYPES.cyclonedx) {
    if (p.bomFormat !== "CycloneDX" || typeof p.specVersion !== "string") return "CycloneDX: bomFormat/specVersion missing";
  } else if (predicateType === PREDICATE_TYPES.openvex) {
    return checkVex(p);
  }
  return undefined;
}

export interface AttestResult {
  image: string;
  digest: string;
  predicateType: string;
  attestationTag: string;
  attestationManifest: string;
  bundleManifest: string;
}

/**
 * Attests the image (its index, for a multi-platform image) or, with `platform` ("linux/amd64"),
 * one platform's manifest: the subject an SBOM of that platform's files belongs to.
 */
export async function attestImage(
  ep: Endpoint,
  key: KeyObject,
  predicateType: string,
  predicate: unknown,
  opts: { platform?: string } = {},
): Promise<AttestResult> {
  const problem = checkPredicate(predicateType, predicate);
  if (problem) throw new UndistroError("ATTEST_PREDICATE", `${describeEndpoint(ep)}: ${problem}`);
  const top = await imageDigest(ep);
  const digest = opts.platform ? await platformDigest(ep, top, opts.platform) : top;
  const statement = statementFor(digest, predicateType, predicate, dockerReference(ep));
  const envelope = Buffer.from(JSON.stringify(signDsse(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), key)));
  const tag = attestationTag(digest);
  // cosign reads a layer of a companion manifest only with its signature annotation, empty for DSSE.
  const layer: Descriptor = {
    mediaType: DSSE_MEDIA_TYPE,
    digest: sha256Digest(envelope),
    size: envelope.length,
    annotations: { [COSIGN_SIGNATURE_ANNOTATION]: "", predicateType },
  };
  const { manifest: attestationManifest } = await appendCompanionLayer(ep, tag, layer, envelope);
  const bundleManifest = await attachBundle(ep, digest, Buffer.from(JSON.stringify(bundleStatement(statement, key))), predicateType);
  return { image: describeEndpoint(ep), digest, predicateType, attestationTag: tag, attestationManifest, bundleManifest };
}

/** The digest of one platform's manifest in an image index. */
export async function platformDigest(ep: Endpoint, indexDigest: string, platform: string): Promise<string> {
  const node = await readManifest(ep, indexDigest);
  const doc = node ? parseOciDocument(node.body, `${describeEndpoint(ep)} manifest ${indexDigest}`) : {};
  const names = (doc.manifests ?? []).map((m) => ({ m, name: platformName(m.platform ?? {}) }));
  const hit = names.find((x) => platformMatches(x.m.platform ?? {}, platform));
  if (!hit) {
    throw new UndistroError("OCI_NOT_FOUND", `${describeEndpoint(ep)}: no ${platform} manifest in ${indexDigest}`, {
      hint: names.length ? `platforms: ${names.map((x) => x.name).join(", ")}` : "the image is not a multi-platform index",
    });
  }
  return hit.m.digest;
}

/** Checks a DSSE envelope (from a `.att` layer) against the key, the image digest and the predicate's shape. */
export function checkStatementEnvelope(env: DsseEnvelope, key: TrustedKeys, digest: string): { predicateType: string; statement?: Statement; error?: string } {
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) return { predicateType: "", error: `payloadType ${env.payloadType} is not ${IN_TOTO_PAYLOAD_TYPE}` };
  if (!verifyDsse(env, key)) return { predicateType: "", error: "envelope signature does not verify with the key" };
  let st: Statement;
  try {
    st = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8")) as Statement;
  } catch {
    return { predicateType: "", error: "payload is not JSON" };
  }
  const problem = checkStatement(st, digest);
  return problem ? { predicateType: st.predicateType, error: problem } : { predicateType: st.predicateType, statement: st };
}

export function checkStatement(st: Statement, digest: string): string | undefined {
  const [algo, hex] = digest.split(":") as [string, string];
  if (!Array.isArray(st.subject) || !st.subject.some((s) => s.digest?.[algo] === hex)) return `statement subject is not the image's ${digest}`;
  // cosign's signature statement carries no predicate.
  if (st.predicateType === COSIGN_SIGN_PREDICATE && st.predicate === undefined) return undefined;
  return checkPredicate(st.predicateType, st.predicate);
}
