/**
 * Signatures in the OCI 1.1 referrer form cosign v3 writes: a Sigstore bundle v0.3 holding a DSSE
 * envelope over an in-toto statement (predicate type `https://sigstore.dev/cosign/sign/v1`, the
 * image digest as subject), stored as an artifact manifest whose subject is the image. Key-based:
 * the bundle names the key by hint and carries no certificate or transparency-log entry.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { type DsseEnvelope, signDsse, type TrustedKeys, verifyDsse } from "./payload.js";

export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
export const STATEMENT_V1 = "https://in-toto.io/Statement/v1";
/** Statement types read: v1 (written by undistro) and v0.1 (still written by cosign's `attest`); the two
 * differ only in what a subject may omit, which the checks below do not rely on. */
const STATEMENT_TYPES = new Set([STATEMENT_V1, "https://in-toto.io/Statement/v0.1"]);
export const COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";

export interface SigstoreBundle {
  mediaType: string;
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: unknown[]; timestampVerificationData?: { rfc3161Timestamps: unknown[] } };
  dsseEnvelope: DsseEnvelope;
}

export interface Statement {
  _type: string;
  subject: { name?: string; digest: Record<string, string>; annotations?: Record<string, unknown> }[];
  predicateType: string;
  predicate?: unknown;
}

/** cosign's key hint: base64 of the SHA-256 of the public key's DER SPKI. */
export function keyHint(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256")
    .update(pub.export({ format: "der", type: "spki" }))
    .digest("base64");
}

export function statementFor(imageDigest: string, predicateType: string, predicate?: unknown, name?: string): Statement {
  const [algo, hex] = imageDigest.split(":") as [string, string];
  const st: Statement = { _type: STATEMENT_V1, subject: [{ ...(name ? { name } : {}), digest: { [algo]: hex } }], predicateType };
  if (predicate !== undefined) st.predicate = predicate;
  return st;
}

export function bundleStatement(statement: Statement, key: KeyObject): SigstoreBundle {
  return {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: keyHint(key) }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: signDsse(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), key),
  };
}

/** Checks a bundle's envelope with the key and returns its statement, or why it failed. */
export function openBundle(bundle: SigstoreBundle, key: TrustedKeys): { statement?: Statement; error?: string } {
  const env = bundle?.dsseEnvelope;
  if (bundle?.mediaType !== BUNDLE_MEDIA_TYPE || !env?.payload || !Array.isArray(env.signatures))
    return { error: "not a Sigstore bundle v0.3 with a DSSE envelope" };
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) return { error: `payloadType ${env.payloadType} is not ${IN_TOTO_PAYLOAD_TYPE}` };
  if (!verifyDsse(env, key)) return { error: "envelope signature does not verify with the key" };
  try {
    const statement = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8")) as Statement;
    if (!STATEMENT_TYPES.has(statement._type) || !Array.isArray(statement.subject)) return { error: "payload is not an in-toto Statement (v1 or v0.1)" };
    return { statement };
  } catch {
    return { error: "payload is not JSON" };
  }
}
