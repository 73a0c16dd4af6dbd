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

/** Public keys by file name, as apk reads `/etc/apk/keys`. */
export class ApkKeyring {
  private readonly keys = new Map<string, KeyObject>();

  static fromDirectory(dir: string): ApkKeyring {
    const ring = new ApkKeyring();
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (err) {
      throw fsError(err, "read keys directory", dir);
    }
    for (const name of names) {
      const path = join(dir, name);
      let pem: Buffer;
      try {
        pem = readFileSync(path);
      } catch {
        continue; // sub-directories and unreadable files are not keys
      }
      if (!pem.includes("-----BEGIN")) continue;
      try {
        ring.add(name, createPublicKey(pem));
      } catch {
        // Not a public key (a private key or other PEM lying beside): skip, as apk does.
      }
    }
    return ring;
  }

  static fromFiles(paths: readonly string[]): ApkKeyring {
    const ring = new ApkKeyring();
    for (const path of paths) {
      try {
        ring.add(basename(path), createPublicKey(readFileSync(path)));
      } catch (err) {
        throw new UndistroError("KEY_INVALID", `${path}: not a PEM public key (${(err as Error).message})`, { cause: err });
      }
    }
    return ring;
  }

  add(name: string, key: KeyObject): void {
    this.keys.set(name, key);
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
