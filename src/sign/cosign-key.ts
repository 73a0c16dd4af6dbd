/**
 * cosign's key files. The private key PEM (`ENCRYPTED SIGSTORE PRIVATE KEY`, formerly
 * `ENCRYPTED COSIGN PRIVATE KEY`) wraps a JSON document: scrypt parameters and salt, a
 * nacl/secretbox nonce, and the ciphertext of a PKCS#8 DER private key. The public key is a plain
 * SPKI PEM. Node's crypto has scrypt but not XSalsa20-Poly1305, which comes from @noble/ciphers.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, scryptSync } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { UndistroError, writeFileAtomic } from "../util/index.js";

export const SIGSTORE_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY";
export const COSIGN_PEM = "ENCRYPTED COSIGN PRIVATE KEY";

/** The scrypt costs cosign has written (N=32768 before v2, 65536 since); others are refused, so a key file cannot make us burn memory. */
const ALLOWED_SCRYPT = new Set(["32768/8/1", "65536/8/1"]);

interface EncryptedKeyDoc {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

function pemBody(text: string, file: string): { type: string; der: Buffer } {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) throw new UndistroError("KEY_FORMAT", `${file}: not a PEM file`);
  return { type: m[1] as string, der: Buffer.from((m[2] as string).replace(/\s+/g, ""), "base64") };
}

/**
 * Node 20's OpenSSL refuses PKCS#8 v2 (OneAsymmetricKey with the public key attached) for
 * Ed25519; the 32-byte seed is all that is needed, so rewrap it as v1.
 */
function normalisePkcs8(der: Buffer): Buffer {
  const v2Ed25519 = Buffer.from("020101300506032b657004220420", "hex");
  if (der[0] === 0x30 && der.subarray(2, 2 + v2Ed25519.length).equals(v2Ed25519)) {
    const seed = der.subarray(2 + v2Ed25519.length, 2 + v2Ed25519.length + 32);
    return Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  }
  return der;
}

function scryptKey(password: string, salt: Buffer, N: number, r: number, p: number): Buffer {
  return scryptSync(Buffer.from(password, "utf8"), salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
}

/** Decrypts a cosign private key file with its password. */
export function decryptCosignKey(pem: string, password: string, file = "<key>"): KeyObject {
  const { type, der } = pemBody(pem, file);
  if (type !== SIGSTORE_PEM && type !== COSIGN_PEM) {
    throw new UndistroError("KEY_FORMAT", `${file}: PEM type ${type} is not a cosign key`, { hint: `expected ${SIGSTORE_PEM} or ${COSIGN_PEM}` });
  }
  let doc: EncryptedKeyDoc;
  try {
    doc = JSON.parse(der.toString("utf8")) as EncryptedKeyDoc;
  } catch {
    throw new UndistroError("KEY_FORMAT", `${file}: the PEM body is not cosign's JSON key document`);
  }
  if (doc.kdf?.name !== "scrypt") throw new UndistroError("KEY_FORMAT", `${file}: kdf.name ${String(doc.kdf?.name)}: only scrypt is supported`);
  if (doc.cipher?.name !== "nacl/secretbox")
    throw new UndistroError("KEY_FORMAT", `${file}: cipher.name ${String(doc.cipher?.name)}: only nacl/secretbox is supported`);
  const { N, r, p } = doc.kdf.params ?? {};
  if (!ALLOWED_SCRYPT.has(`${N}/${r}/${p}`)) {
    throw new UndistroError("KEY_FORMAT", `${file}: kdf.params N=${N} r=${r} p=${p} are not scrypt parameters cosign writes`, {
      hint: "allowed: N=32768 or 65536, r=8, p=1",
    });
  }
  const salt = Buffer.from(doc.kdf.salt ?? "", "base64");
  const nonce = Buffer.from(doc.cipher.nonce ?? "", "base64");
  if (nonce.length !== 24) throw new UndistroError("KEY_FORMAT", `${file}: cipher.nonce must be 24 bytes, found ${nonce.length}`);
  const box = Buffer.from(doc.ciphertext ?? "", "base64");
  let plain: Uint8Array;
  try {
    plain = xsalsa20poly1305(scryptKey(password, salt, N as number, r as number, p as number), nonce).decrypt(box);
  } catch {
    throw new UndistroError("KEY_PASSWORD", `${file}: wrong password (the key does not decrypt)`, {
      hint: "set UNDISTRO_PASSWORD (or COSIGN_PASSWORD) to the key's password",
    });
  }
  try {
    return createPrivateKey({ key: normalisePkcs8(Buffer.from(plain)), format: "der", type: "pkcs8" });
  } catch {
    throw new UndistroError("KEY_FORMAT", `${file}: the decrypted key is not PKCS#8`, {
      hint: "cosign keys hold PKCS#8; SEC1 or PKCS#1 keys must be re-imported (cosign import-key-pair)",
    });
  }
}

/** Encrypts a private key as cosign does today (scrypt N=65536 r=8 p=1, random salt and nonce). */
export function encryptCosignKey(key: KeyObject, password: string): string {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const der = key.export({ format: "der", type: "pkcs8" });
  const ciphertext = xsalsa20poly1305(scryptKey(password, salt, 65536, 8, 1), nonce).encrypt(der);
  const doc = {
    kdf: { name: "scrypt", params: { N: 65536, r: 8, p: 1 }, salt: salt.toString("base64") },
    cipher: { name: "nacl/secretbox", nonce: nonce.toString("base64") },
    ciphertext: Buffer.from(ciphertext).toString("base64"),
  };
  const b64 = Buffer.from(JSON.stringify(doc)).toString("base64");
  return `-----BEGIN ${SIGSTORE_PEM}-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END ${SIGSTORE_PEM}-----\n`;
}

export function publicKeyPem(key: KeyObject): string {
  return createPublicKey(key).export({ format: "pem", type: "spki" }).toString();
}

/** Reads a private key: a cosign encrypted key (with password), or a plain PKCS#8/SEC1/PKCS#1 PEM. */
export function loadCosignPrivateKey(path: string, password: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UndistroError("KEY_NOT_FOUND", `${path}: cannot read the key`);
  }
  if (text.includes(`BEGIN ${SIGSTORE_PEM}`) || text.includes(`BEGIN ${COSIGN_PEM}`)) return decryptCosignKey(text, password, path);
  try {
    return createPrivateKey(text);
  } catch {
    throw new UndistroError("KEY_FORMAT", `${path}: not a private key undistro can read`);
  }
}

export interface CosignKeyFiles {
  privateKeyPath: string;
  publicKeyPath: string;
  publicKeyPem: string;
}

/** `keygen --cosign NAME`: NAME.key (encrypted, 0600) and NAME.pub, an ECDSA P-256 pair as cosign generates. */
export function generateCosignKey(name: string, password: string, opts: { force?: boolean } = {}): CosignKeyFiles {
  const privateKeyPath = `${name}.key`;
  const publicKeyPath = `${name}.pub`;
  if (!opts.force && (existsSync(privateKeyPath) || existsSync(publicKeyPath))) {
    throw new UndistroError("KEY_EXISTS", `${privateKeyPath} or ${publicKeyPath} already exists`, { hint: "pass --force to overwrite" });
  }
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pub = publicKeyPem(privateKey);
  writeFileAtomic(privateKeyPath, Buffer.from(encryptCosignKey(privateKey, password)), 0o600);
  writeFileAtomic(publicKeyPath, Buffer.from(pub), 0o644);
  return { privateKeyPath, publicKeyPath, publicKeyPem: pub };
}
