import { createPrivateKey, createPublicKey, createSign, createVerify, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fsError, UndistroError, writeFileAtomic } from "../util/index.js";

/** Signature schemes apk-tools knows for RSA keys: `.SIGN.RSA.` (SHA-1), `.SIGN.RSA256.`, `.SIGN.RSA512.`. */
export type SignatureAlgorithm = "RSA" | "RSA256" | "RSA512";

const HASH: Record<SignatureAlgorithm, string> = { RSA: "sha1", RSA256: "sha256", RSA512: "sha512" };

export function isSignatureAlgorithm(s: string): s is SignatureAlgorithm {
  return s === "RSA" || s === "RSA256" || s === "RSA512";
}

/** A private RSA key and the name its public half goes by in `/etc/apk/keys` (`NAME.rsa.pub`). */
export interface ApkSigningKey {
  keyName: string;
  privateKey: KeyObject;
}

/** Loads `NAME.rsa` (PEM, PKCS#1 or PKCS#8); the public key name is the file's name plus `.pub`, as melange and abuild do. */
export function loadSigningKey(path: string): ApkSigningKey {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw fsError(err, "read signing key", path);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new UndistroError("KEY_INVALID", `${path}: not a PEM private key (${(err as Error).message})`, {
      hint: "make one with `undistro keygen --apk NAME`",
      cause: err,
    });
  }
  if (privateKey.asymmetricKeyType !== "rsa") {
    throw new UndistroError("KEY_INVALID", `${path}: APK signing needs an RSA key, this is ${privateKey.asymmetricKeyType}`);
  }
  return { keyName: `${basename(path)}.pub`, privateKey };
}

/** RSA PKCS#1 v1.5 signature over `data` (deterministic: the same key and data give the same bytes). */
export function signBytes(data: Uint8Array | readonly Uint8Array[], key: ApkSigningKey, algorithm: SignatureAlgorithm): Buffer {
  const signer = createSign(HASH[algorithm]);
  for (const chunk of data instanceof Uint8Array ? [data] : data) signer.update(chunk);
  return signer.sign(key.privateKey);
}

/** A trusted public key file as read from disk: its bytes are what an image's /etc/apk/keys gets. */
export interface PublicKeyFile {
  name: string;
  path: string;
  pem: Buffer;
  key: KeyObject;
}

/** Exactly one PEM public key block (SPKI or PKCS#1), nothing else in the file but white space. */
const PUBLIC_PEM = /^\s*-----BEGIN (RSA )?PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1PUBLIC KEY-----\s*$/;

/**
 * The one loader of trusted keys (APK keyrings, image configs, install, verify): a file must be a
 * single PEM public key. A private key is refused by name (Node would quietly derive its public
 * half, and the private PEM would then be copied into images as a "trusted key"); anything else
 * gets KEY_INVALID naming the file.
 */
export function readPublicKeyFile(path: string): PublicKeyFile {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw fsError(err, "read key", path);
  }
  const text = pem.toString("latin1");
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw new UndistroError("KEY_PRIVATE", `${path}: is a private key; a keyring holds public keys only`, {
      hint: `give its public half (e.g. ${basename(path)}.pub, or \`openssl pkey -in ${basename(path)} -pubout\`); keep private keys out of keyrings and images`,
    });
  }
  if (!PUBLIC_PEM.test(text)) {
    const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
    throw new UndistroError("KEY_INVALID", `${path}: ${label ? `a PEM ${label}, not a public key` : "not a PEM public key"}`, {
      hint: "a trusted key is one PEM block: -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----",
    });
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (err) {
    throw new UndistroError("KEY_INVALID", `${path}: unreadable public key (${(err as Error).message})`, { hint: "the PEM body is damaged" });
  }
  return { name: basename(path), path, pem, key };
}

/** Public keys by file name, as apk reads `/etc/apk/keys`. */
export class ApkKeyring {
  private readonly keys = new Map<string, KeyObject>();
  private readonly loaded = new Map<string, PublicKeyFile>();

  /** Every public key file in `dir`; other files (private keys, notes) are skipped, as apk does. */
  static fromDirectory(dir: string): ApkKeyring {
    const ring = new ApkKeyring();
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (err) {
      throw fsError(err, "read keys directory", dir);
    }
    for (const name of names) {
      try {
        ring.addFile(readPublicKeyFile(join(dir, name)));
      } catch {
        // not a public key file
      }
    }
    return ring;
  }

  /** Named files: each must be a public key (a private key or other file is an error). */
  static fromFiles(paths: readonly string[]): ApkKeyring {
    const ring = new ApkKeyring();
    for (const path of paths) ring.addFile(readPublicKeyFile(path));
    return ring;
  }

  add(name: string, key: KeyObject): void {
    this.keys.set(name, key);
  }

  addFile(file: PublicKeyFile): void {
    this.keys.set(file.name, file.key);
    this.loaded.set(file.name, file);
  }

  /** The files this ring was loaded from, by name: what an installed root's /etc/apk/keys receives. */
  files(): PublicKeyFile[] {
    return [...this.loaded.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  has(name: string): boolean {
    return this.keys.has(name);
  }

  names(): string[] {
    return [...this.keys.keys()].sort();
  }

  get size(): number {
    return this.keys.size;
  }

  /** True when `signature` is a valid `algorithm` signature of `data` by the key `keyName`. */
  verify(keyName: string, algorithm: SignatureAlgorithm, data: Uint8Array | readonly Uint8Array[], signature: Uint8Array): boolean {
    const key = this.keys.get(keyName);
    if (key === undefined) return false;
    const verifier = createVerify(HASH[algorithm]);
    for (const chunk of data instanceof Uint8Array ? [data] : data) verifier.update(chunk);
    try {
      return verifier.verify(key, signature);
    } catch {
      return false;
    }
  }
}

export interface GeneratedKey {
  privateKeyPath: string;
  publicKeyPath: string;
  keyName: string;
}

/**
 * Writes `NAME.rsa` (PKCS#1 PEM, mode 0600) and `NAME.rsa.pub` (SPKI PEM), as `melange keygen` does.
 * 4096-bit like melange's keys. Refuses to overwrite an existing key.
 */
export function generateApkKey(name: string, options: { bits?: number; force?: boolean } = {}): GeneratedKey {
  const privateKeyPath = name.endsWith(".rsa") ? name : `${name}.rsa`;
  const publicKeyPath = `${privateKeyPath}.pub`;
  if (!options.force && (existsSync(privateKeyPath) || existsSync(publicKeyPath))) {
    throw new UndistroError("KEY_EXISTS", `${privateKeyPath} or ${publicKeyPath} already exists`, {
      hint: "choose another name, or remove the old key first (it may still be needed to verify old packages)",
    });
  }
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: options.bits ?? 4096 });
  writeFileAtomic(privateKeyPath, Buffer.from(privateKey.export({ type: "pkcs1", format: "pem" }) as string), 0o600);
  writeFileAtomic(publicKeyPath, Buffer.from(publicKey.export({ type: "spki", format: "pem" }) as string), 0o644);
  return { privateKeyPath, publicKeyPath, keyName: basename(publicKeyPath) };
}
