/**
 * One keyring for everything undistro trusts: APK signing keys (RSA, looked up by file name, as apk
 * does) and image signing keys (cosign's ECDSA P-256 or Ed25519 SPKI public keys). Load files or
 * directories holding both kinds; each key is classified by what it is, never by where it lies, so
 * `verify --keyring DIR` checks image signatures and package signatures from one trusted directory.
 */
import { createHash, type KeyObject } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ApkKeyring, type PublicKeyFile, readPublicKeyFile } from "../apk/index.js";
import { fsError, UndistroError } from "../util/index.js";
import { keyHint } from "./bundle.js";

export type KeyUse = "apk" | "image";

export interface KeyringEntry {
  /** File name (APK signatures name their key by it). */
  name: string;
  path: string;
  /** apk: RSA keys that sign packages and indexes; image: cosign-style keys that sign images and attestations. */
  use: KeyUse;
  algorithm: string;
  /** cosign's key hint: base64 SHA-256 of the SPKI DER (what Sigstore bundles carry). */
  hint: string;
  /** hex SHA-256 of the SPKI DER. */
  fingerprint: string;
  key: KeyObject;
}

export interface SkippedKeyFile {
  path: string;
  reason: string;
}

export class Keyring {
  readonly entries: KeyringEntry[] = [];
  readonly skipped: SkippedKeyFile[] = [];

  /** Loads public keys from files and directories (not recursive); private keys and other files are skipped, with a reason. */
  static load(paths: readonly string[]): Keyring {
    const ring = new Keyring();
    for (const p of paths) {
      let isDir: boolean;
      try {
        isDir = statSync(p).isDirectory();
      } catch (err) {
        throw fsError(err, "read keyring", p);
      }
      if (isDir) {
        for (const n of readdirSync(p).sort()) {
          const f = join(p, n);
          if (statSync(f).isFile()) ring.addFile(f, false);
        }
      } else ring.addFile(p, true);
    }
    return ring;
  }

  private addFile(path: string, explicit: boolean): void {
    let file: PublicKeyFile;
    try {
      file = readPublicKeyFile(path);
    } catch (err) {
      // A named file must be a public key; in a directory, other files are passed over with the reason.
      if (explicit || !(err instanceof UndistroError)) throw err;
      this.skipped.push({ path, reason: err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message });
      return;
    }
    const key = file.key;
    const type = key.asymmetricKeyType ?? "unknown";
    const details = key.asymmetricKeyDetails ?? {};
    const algorithm =
      type === "rsa" ? `rsa-${details.modulusLength}` : type === "ec" ? `ecdsa-${String(details.namedCurve).replace("prime256v1", "p256")}` : type;
    const der = key.export({ format: "der", type: "spki" });
    this.entries.push({
      name: basename(path),
      path,
      use: type === "rsa" ? "apk" : "image",
      algorithm,
      hint: keyHint(key),
      fingerprint: createHash("sha256").update(der).digest("hex"),
      key,
    });
  }

  /** Keys that verify image signatures and attestations. */
  imageKeys(): KeyObject[] {
    return this.entries.filter((e) => e.use === "image").map((e) => e.key);
  }

  /** Keys that verify APK packages and indexes, by file name. */
  apkKeyring(): ApkKeyring {
    const ring = new ApkKeyring();
    for (const e of this.entries) if (e.use === "apk") ring.add(e.name, e.key);
    return ring;
  }
}
