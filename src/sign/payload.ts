/**
 * Signed payloads: cosign's simple-signing document and DSSE envelopes (with the PAE encoding).
 */
import { createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { UndistroError } from "../util/index.js";

/**
 * JSON as Go's encoding/json writes it (cosign's payloads are Go-marshalled, and signatures are
 * over those exact bytes): object keys sorted, no spaces, and <, >, &, U+2028, U+2029 escaped.
 */
export function goJson(value: unknown): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v as Record<string, unknown>)
          .sort()
          .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sortKeys(value)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export const SIMPLE_SIGNING_TYPE = "cosign container image signature";
export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
export const COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";

/** The simple-signing payload cosign signs for an image: byte-exact with cosign's. */
export function simpleSigningPayload(dockerReference: string, manifestDigest: string, optional: Record<string, unknown> | null = null): Buffer {
  const critical = goJson({
    identity: { "docker-reference": dockerReference },
    image: { "docker-manifest-digest": manifestDigest },
    type: SIMPLE_SIGNING_TYPE,
  });
  return Buffer.from(`{"critical":${critical},"optional":${optional === null ? "null" : goJson(optional)}}`);
}

export interface SimpleSigning {
  critical: { identity: { "docker-reference": string }; image: { "docker-manifest-digest": string }; type: string };
  optional: Record<string, unknown> | null;
}

export function parseSimpleSigning(payload: Buffer, where: string): SimpleSigning {
  let doc: SimpleSigning;
  try {
    doc = JSON.parse(payload.toString("utf8")) as SimpleSigning;
  } catch {
    throw new UndistroError("SIGNATURE_PAYLOAD", `${where}: the signed payload is not JSON`);
  }
  if (doc?.critical?.type !== SIMPLE_SIGNING_TYPE || typeof doc.critical.image?.["docker-manifest-digest"] !== "string") {
    throw new UndistroError("SIGNATURE_PAYLOAD", `${where}: the signed payload is not a cosign simple-signing document`);
  }
  return doc;
}

// ---- DSSE ---------------------------------------------------------------------------------------

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: { keyid?: string; sig: string }[];
}

/** DSSE's pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

function hashFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === "ed25519" ? null : "sha256";
}

/** Signs with the DER (ASN.1) ECDSA encoding cosign writes. */
export function signBytes(data: Uint8Array, key: KeyObject): Buffer {
  return sign(hashFor(key), data, key);
}

/** Verifies an ECDSA signature in DER or in IEEE P1363 (r||s) form, or RSA / Ed25519. */
/** One trusted key, or several (a keyring): a signature is good when any of them verifies it. */
export type TrustedKeys = KeyObject | readonly KeyObject[];

export function verifyBytes(data: Uint8Array, sig: Uint8Array, keys: TrustedKeys): boolean {
  if (Array.isArray(keys)) return (keys as readonly KeyObject[]).some((k) => verifyBytes(data, sig, k));
  const key = keys as KeyObject;
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const hash = hashFor(pub);
  try {
    if (verify(hash, data, pub, sig)) return true;
  } catch {
    // not DER
  }
  if (pub.asymmetricKeyType === "ec") {
    try {
      return verify(hash, data, { key: pub, dsaEncoding: "ieee-p1363" }, sig);
    } catch {
      return false;
    }
  }
  return false;
}

export function signDsse(payloadType: string, payload: Uint8Array, key: KeyObject, keyid = ""): DsseEnvelope {
  return {
    payload: Buffer.from(payload).toString("base64"),
    payloadType,
    signatures: [{ keyid, sig: signBytes(pae(payloadType, payload), key).toString("base64") }],
  };
}

/** True when any signature of the envelope verifies with the key. */
export function verifyDsse(env: DsseEnvelope, key: TrustedKeys): boolean {
  // The envelope is outside input: anything but strings where DSSE has strings verifies nothing.
  if (typeof env?.payload !== "string" || typeof env.payloadType !== "string" || !Array.isArray(env.signatures)) return false;
  const body = Buffer.from(env.payload, "base64");
  return env.signatures.some((s) => typeof s?.sig === "string" && verifyBytes(pae(env.payloadType, body), Buffer.from(s.sig, "base64"), key));
}
