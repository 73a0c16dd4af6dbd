/**
 * Image signatures in cosign's legacy form: a manifest tagged `sha256-<hex>.sig` beside the
 * image, one layer per signature holding the simple-signing payload, the base64 DER signature in
 * the `dev.cosignproject.cosign/signature` annotation. Works on layouts and registries alike.
 */
import type { KeyObject } from "node:crypto";
import { basename } from "node:path";
import {
  canonicalJson,
  type Descriptor,
  describeEndpoint,
  type Endpoint,
  endpointRef,
  MEDIA,
  parseOciDocument,
  pushArtifact,
  readBlob,
  readManifest,
  sha256Digest,
} from "../oci/index.js";
import { UndistroError } from "../util/index.js";
import { BUNDLE_MEDIA_TYPE, bundleStatement, COSIGN_SIGN_PREDICATE, statementFor } from "./bundle.js";
import { COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, signBytes, simpleSigningPayload } from "./payload.js";

export function signatureTag(digest: string): string {
  return `${digest.replace(":", "-")}.sig`;
}

/** The repository cosign names in `docker-reference`. */
export function dockerReference(ep: Endpoint): string {
  return ep.kind === "registry" ? `${ep.ref.registry}/${ep.ref.repository}` : `oci/${basename(ep.layout.dir)}`;
}

export async function imageDigest(ep: Endpoint): Promise<string> {
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
  const layer: Descriptor = {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    digest: sha256Digest(payload),
    size: payload.length,
    annotations: { [COSIGN_SIGNATURE_ANNOTATION]: sig },
  };
  const { manifest: manifestDigest, layers } = await appendCompanionLayer(ep, tag, layer, payload);
  const bundleManifest = await attachBundle(
    ep,
    digest,
    Buffer.from(JSON.stringify(bundleStatement(statementFor(digest, COSIGN_SIGN_PREDICATE), key))),
    COSIGN_SIGN_PREDICATE,
  );
  return { image: describeEndpoint(ep), digest, signatureTag: tag, signatureManifest: manifestDigest, signatures: layers, bundleManifest };
}

/**
 * Adds one layer to a cosign companion image (the `.sig` / `.att` manifest tagged beside an image),
 * keeping the layers already there, unless an identical layer is present. Returns the manifest's
 * digest and how many layers it now has.
 */
export async function appendCompanionLayer(ep: Endpoint, tag: string, layer: Descriptor, data: Buffer): Promise<{ manifest: string; layers: number }> {
  const existing = await readManifest(ep, tag);
  const layers = (existing ? (parseOciDocument(existing.body, `${describeEndpoint(ep)}:${tag}`).layers ?? []) : []) as Descriptor[];
  const blobs: { data: Buffer; mediaType: string }[] = [];
  for (const l of layers) blobs.push({ data: await readBlob(ep, l.digest), mediaType: l.mediaType });
  if (!layers.some((l) => l.digest === layer.digest && JSON.stringify(l.annotations) === JSON.stringify(layer.annotations))) {
    layers.push(layer);
    blobs.push({ data, mediaType: layer.mediaType });
  }
  // The config cosign writes for these images: empty platform, the layers as diff_ids.
  const config = canonicalJson({
    architecture: "",
    config: {},
    created: "0001-01-01T00:00:00Z",
    history: [{ created: "0001-01-01T00:00:00Z" }],
    os: "",
    rootfs: { diff_ids: layers.map((l) => l.digest), type: "layers" },
  });
  const configDesc: Descriptor = { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256Digest(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config: configDesc, layers }));
  return {
    manifest: await pushArtifact(ep, [{ data: config, mediaType: configDesc.mediaType }, ...blobs], manifest, MEDIA.manifest, tag),
    layers: layers.length,
  };
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
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(empty), size: 2 },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: sha256Digest(bundle), size: bundle.length }],
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
