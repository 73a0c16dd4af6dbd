/**
 * Image signatures in cosign's legacy form: a manifest tagged `sha256-<hex>.sig` beside the
 * image, one layer per signature holding the simple-signing payload, the base64 DER signature in
 * the `dev.cosignproject.cosign/signature` annotation. Works on layouts and registries alike.
 */
import { createHash, type KeyObject } from "node:crypto";
import { basename } from "node:path";
import {
  canonicalJson,
  type Descriptor,
  describeEndpoint,
  type Endpoint,
  endpointRef,
  listReferrers,
  MEDIA,
  pushArtifact,
  readBlob,
  readManifest,
} from "../oci/index.js";
import { UndistroError } from "../util/index.js";
import { BUNDLE_MEDIA_TYPE, bundleStatement, COSIGN_SIGN_PREDICATE, openBundle, type SigstoreBundle, statementFor } from "./bundle.js";
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
  /** The OCI 1.1 referrer holding the Sigstore bundle. */
  bundleManifest: string;
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
  const bundleManifest = await attachBundle(
    ep,
    digest,
    Buffer.from(JSON.stringify(bundleStatement(statementFor(digest, COSIGN_SIGN_PREDICATE), key))),
    COSIGN_SIGN_PREDICATE,
  );
  return { image: describeEndpoint(ep), digest, signatureTag: tag, signatureManifest: manifestDigest, signatures: layers.length, bundleManifest };
}

/** Stores a Sigstore bundle as an OCI 1.1 artifact whose subject is the image. */
export async function attachBundle(ep: Endpoint, imageDigest: string, bundle: Buffer, predicateType: string): Promise<string> {
  const subject = await readManifest(ep, imageDigest);
  if (!subject) throw new UndistroError("OCI_NOT_FOUND", `${describeEndpoint(ep)}: no manifest ${imageDigest}`);
  const empty = Buffer.from("{}");
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: 2 },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: sha256(bundle), size: bundle.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.body.length },
      annotations: { "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": predicateType },
    }),
  );
  return pushArtifact(
    ep,
    [
      { data: empty, mediaType: "application/vnd.oci.empty.v1+json" },
      { data: bundle, mediaType: BUNDLE_MEDIA_TYPE },
    ],
    manifest,
    MEDIA.manifest,
  );
}

export interface SignatureCheck {
  /** "legacy" (.sig tag) or "bundle" (OCI 1.1 referrer). */
  form: "legacy" | "bundle";
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
  await checkBundles(ep, digest, key, result);
  const layers = sigs ? ((JSON.parse(sigs.body.toString("utf8")) as { layers?: Descriptor[] }).layers ?? []) : [];
  for (const l of layers) {
    if (l.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    const check: SignatureCheck = { form: "legacy", layer: l.digest, ok: false, reason: "" };
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
  // Strict: at least one signature, and every signature attached must verify (a tampered or
  // foreign signature beside the image is reported, not skipped as cosign does).
  result.ok = result.signatures.length > 0 && result.signatures.every((s) => s.ok);
  return result;
}

async function checkBundles(ep: Endpoint, digest: string, key: KeyObject, result: VerifyResult): Promise<void> {
  for (const ref of await listReferrers(ep, digest)) {
    if (ref.artifactType !== BUNDLE_MEDIA_TYPE) continue;
    const check: SignatureCheck = { form: "bundle", layer: ref.digest, ok: false, reason: "" };
    result.signatures.push(check);
    try {
      const node = await readManifest(ep, ref.digest);
      if (!node) throw new Error(`referrer ${ref.digest} is missing`);
      const m = JSON.parse(node.body.toString("utf8")) as { layers?: Descriptor[]; subject?: Descriptor };
      if (m.subject?.digest !== digest) throw new Error(`referrer subject ${m.subject?.digest} is not the image's ${digest}`);
      const layer = m.layers?.find((l) => l.mediaType === BUNDLE_MEDIA_TYPE);
      if (!layer) throw new Error("referrer holds no bundle layer");
      check.layer = layer.digest;
      const data = await readBlob(ep, layer.digest);
      if (sha256(data) !== layer.digest) throw new Error(`bundle ${layer.digest} does not match its digest`);
      const opened = openBundle(JSON.parse(data.toString("utf8")) as SigstoreBundle, key);
      if (!opened.statement) throw new Error(opened.error);
      const [algo, hex] = digest.split(":") as [string, string];
      if (!opened.statement.subject.some((s) => s.digest[algo] === hex)) throw new Error(`statement subject is not the image's ${digest}`);
      if (opened.statement.predicateType !== COSIGN_SIGN_PREDICATE)
        throw new Error(`predicateType ${opened.statement.predicateType} is not ${COSIGN_SIGN_PREDICATE}`);
      check.ok = true;
      check.reason = "bundle verified";
    } catch (err) {
      check.reason = (err as Error).message;
    }
  }
}
