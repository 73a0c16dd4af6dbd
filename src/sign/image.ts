/**
 * Image signatures in cosign's legacy form: a manifest tagged `sha256-<hex>.sig` beside the
 * image, one layer per signature holding the simple-signing payload, the base64 DER signature in
 * the `dev.cosignproject.cosign/signature` annotation. Works on layouts and registries alike.
 */
import { createHash, type KeyObject } from "node:crypto";
import { basename } from "node:path";
import { canonicalJson, type Descriptor, describeEndpoint, type Endpoint, endpointRef, MEDIA, pushArtifact, readBlob, readManifest } from "../oci/index.js";
import { UndistroError } from "../util/index.js";
import { COSIGN_SIGNATURE_ANNOTATION, parseSimpleSigning, SIMPLE_SIGNING_MEDIA_TYPE, signBytes, simpleSigningPayload, verifyBytes } from "./payload.js";

const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export function signatureTag(digest: string): string {
  return `${digest.replace(":", "-")}.sig`;
}

/** The repository cosign names in `docker-reference`. */
export function dockerReference(ep: Endpoint): string {
  return ep.kind === "registry" ? `${ep.ref.registry}/${ep.ref.repository}` : `oci/${basename(ep.layout.dir)}`;
}

async function imageDigest(ep: Endpoint): Promise<string> {
  const ref = endpointRef(ep);
  const node = await readManifest(ep, ref);
  if (!node) throw new UndistroError("OCI_NOT_FOUND", `${describeEndpoint(ep)}: no image ${ref}`);
  return node.digest;
}

export interface SignResult {
  image: string;
  digest: string;
  signatureTag: string;
  signatureManifest: string;
  signatures: number;
}

/** Signs the image an endpoint names; an existing signature manifest gains a layer, as with cosign. */
export async function signImage(ep: Endpoint, key: KeyObject, opts: { reference?: string; annotations?: Record<string, unknown> } = {}): Promise<SignResult> {
  const digest = await imageDigest(ep);
  const payload = simpleSigningPayload(opts.reference ?? dockerReference(ep), digest, opts.annotations ?? null);
  const sig = signBytes(payload, key).toString("base64");
  const tag = signatureTag(digest);
  const existing = await readManifest(ep, tag);
  const layers: Descriptor[] = existing ? ((JSON.parse(existing.body.toString("utf8")) as { layers?: Descriptor[] }).layers ?? []) : [];
  const blobs: { data: Buffer; mediaType: string }[] = [];
  for (const l of layers) blobs.push({ data: await readBlob(ep, l.digest), mediaType: l.mediaType });
  const layer: Descriptor = {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    digest: sha256(payload),
    size: payload.length,
    annotations: { [COSIGN_SIGNATURE_ANNOTATION]: sig },
  };
  if (!layers.some((l) => l.digest === layer.digest && l.annotations?.[COSIGN_SIGNATURE_ANNOTATION] === sig)) {
    layers.push(layer);
    blobs.push({ data: payload, mediaType: SIMPLE_SIGNING_MEDIA_TYPE });
  }
  // The config cosign writes for signature images: empty platform, the layers as diff_ids.
  const config = canonicalJson({
    architecture: "",
    config: {},
    created: "0001-01-01T00:00:00Z",
    history: [{ created: "0001-01-01T00:00:00Z" }],
    os: "",
    rootfs: { diff_ids: layers.map((l) => l.digest), type: "layers" },
  });
  const configDesc: Descriptor = { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config: configDesc, layers }));
  const manifestDigest = await pushArtifact(ep, [{ data: config, mediaType: configDesc.mediaType }, ...blobs], manifest, MEDIA.manifest, tag);
  return { image: describeEndpoint(ep), digest, signatureTag: tag, signatureManifest: manifestDigest, signatures: layers.length };
}

export interface SignatureCheck {
  layer: string;
  ok: boolean;
  reason: string;
  reference?: string;
}

export interface VerifyResult {
  image: string;
  digest: string;
  ok: boolean;
  signatures: SignatureCheck[];
}

/** Checks every legacy signature of the image against a public key: payload digest, signature, signed image digest. */
export async function verifyImageSignatures(ep: Endpoint, key: KeyObject): Promise<VerifyResult> {
  const digest = await imageDigest(ep);
  const where = describeEndpoint(ep);
  const sigs = await readManifest(ep, signatureTag(digest));
  const result: VerifyResult = { image: where, digest, ok: false, signatures: [] };
  if (!sigs) return result;
  const layers = (JSON.parse(sigs.body.toString("utf8")) as { layers?: Descriptor[] }).layers ?? [];
  for (const l of layers) {
    if (l.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    const check: SignatureCheck = { layer: l.digest, ok: false, reason: "" };
    result.signatures.push(check);
    let payload: Buffer;
    try {
      payload = await readBlob(ep, l.digest);
    } catch (err) {
      check.reason = `payload ${l.digest}: ${(err as Error).message}`;
      continue;
    }
    if (sha256(payload) !== l.digest) {
      check.reason = `payload ${l.digest} does not match its digest`;
      continue;
    }
    const sig = l.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    if (!sig) {
      check.reason = `layer ${l.digest} has no ${COSIGN_SIGNATURE_ANNOTATION} annotation`;
      continue;
    }
    if (!verifyBytes(payload, Buffer.from(sig, "base64"), key)) {
      check.reason = "signature does not verify with the key";
      continue;
    }
    let doc: ReturnType<typeof parseSimpleSigning>;
    try {
      doc = parseSimpleSigning(payload, `${where} ${l.digest}`);
    } catch (err) {
      check.reason = (err as Error).message;
      continue;
    }
    check.reference = doc.critical.identity["docker-reference"];
    const signed = doc.critical.image["docker-manifest-digest"];
    if (signed !== digest) {
      check.reason = `signed digest ${signed} is not the image's ${digest}`;
      continue;
    }
    check.ok = true;
    check.reason = "signature verified";
  }
  result.ok = result.signatures.some((s) => s.ok);
  return result;
}
