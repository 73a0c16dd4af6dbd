import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fsError, UndistroError } from "../util/index.js";
import { splitGzipMembers } from "./gzip.js";
import { type ApkKeyring, isSignatureAlgorithm, type SignatureAlgorithm } from "./keys.js";
import { SCRIPT_NAMES } from "./package-writer.js";
import { type PackageInfo, parsePkgInfo } from "./pkginfo.js";
import { parseTar, type TarEntry } from "./tar.js";

export interface PackageSignature {
  algorithm: SignatureAlgorithm | string;
  keyName: string;
  signature: Buffer;
}

export interface PackageFile {
  path: string;
  type: TarEntry["header"]["type"];
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkTarget?: string;
  /** Declared per-file checksum from the PAX header, e.g. `SHA1:5445…` (hex). */
  checksum?: string;
  /** Where its header sits in the decompressed data tar. */
  offset: number;
}

export interface ApkPackage {
  source: string;
  info: PackageInfo;
  signatures: PackageSignature[];
  /** `Q1…`: base64 SHA-1 of the control member, the package's identity in an index (`C:`). */
  checksum: string;
  /** Hex SHA-256 of the data member(s) to end of file: what `datahash` must equal. */
  computedDataHash: string;
  /** Install scripts (.pre-install, …, .trigger), by name. */
  scripts: Record<string, Buffer>;
  /** Every other dot-file of the control section (a builder's record: .melange.yaml, .undistro-build.json). */
  controlFiles: Record<string, Buffer>;
  files: PackageFile[];
  fileSize: number;
  /** Compressed control member (what the signature covers when there is a datahash). */
  controlMember: Buffer;
  /** Compressed bytes from the control member to end of file (signed when there is no datahash). */
  controlAndData: Buffer;
  /** Data tar entries with content (views into the decompressed data). */
  dataEntries: TarEntry[];
}

const MEMBER_ROLES = ["signature", "control", "data"] as const;

/** Reads and parses an .apk; checks structure and paths but not signatures (see verifyPackage). */
export function readPackage(path: string): ApkPackage {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw fsError(err, "read package", path);
  }
  return parsePackage(buf, path);
}

export function parsePackage(buf: Buffer, source: string): ApkPackage {
  let hasSignatureMember = true;
  const roleOf = (i: number) => (hasSignatureMember ? MEMBER_ROLES[Math.min(i, 2)] : MEMBER_ROLES[Math.min(i + 1, 2)]) as string;
  const members = splitGzipMembers(buf, (i, off) => `${source}: gzip member ${i + 1} (${roleOf(i)}) at byte ${off}`);
  if (members.length === 0) throw new UndistroError("APK_EMPTY", `${source}: the file is empty`);
  const describe = (i: number) => (off: number) => `${source}: ${roleOf(i)} member at byte ${members[i]?.offset}, tar offset ${off}`;
  const first = parseTar((members[0] as (typeof members)[0]).data, describe(0));
  hasSignatureMember = first.entries.length > 0 && first.entries.every((e) => e.header.name.startsWith(".SIGN."));
  const signatures: PackageSignature[] = [];
  let controlIndex = 0;
  if (hasSignatureMember) {
    controlIndex = 1;
    for (const e of first.entries) {
      const rest = e.header.name.slice(".SIGN.".length);
      const dot = rest.indexOf(".");
      signatures.push({ algorithm: rest.slice(0, dot), keyName: rest.slice(dot + 1), signature: Buffer.from(e.content) });
    }
  }
  const controlMember = members[controlIndex];
  if (controlMember === undefined) {
    throw new UndistroError("APK_TRUNCATED", `${source}: no control member after the signature`, { hint: "the file is incomplete" });
  }
  const control = controlIndex === 0 ? first : parseTar(controlMember.data, describe(controlIndex));
  let pkginfoText: string | undefined;
  const scripts: Record<string, Buffer> = {};
  const controlFiles: Record<string, Buffer> = {};
  for (const e of control.entries) {
    if (e.header.name === ".PKGINFO") pkginfoText = e.content.toString("utf8");
    else if ((SCRIPT_NAMES as readonly string[]).includes(e.header.name)) scripts[e.header.name] = Buffer.from(e.content);
    else if (e.header.name.startsWith(".")) controlFiles[e.header.name] = Buffer.from(e.content);
    else if (pkginfoText === undefined) {
      throw new UndistroError(
        "APK_NO_PKGINFO",
        `${source}: gzip member ${controlIndex + 1} holds ${JSON.stringify(e.header.name)} before any .PKGINFO: this is a plain tarball, not an APK v2 package`,
        { hint: "an .apk starts with a signature member and a control member holding .PKGINFO" },
      );
    } else {
      throw new UndistroError("APK_BAD_STRUCTURE", `${source}: control member holds ${JSON.stringify(e.header.name)}; control files start with "."`);
    }
  }
  if (pkginfoText === undefined) {
    throw new UndistroError("APK_NO_PKGINFO", `${source}: the control member (gzip member ${controlIndex + 1}) has no .PKGINFO`, {
      hint: "this is not an APK package, or it was damaged",
    });
  }
  const info = parsePkgInfo(pkginfoText, `${source}: .PKGINFO`);
  const dataMembers = members.slice(controlIndex + 1);
  const dataStart = dataMembers[0]?.offset ?? buf.length;
  const dataBuf = dataMembers.length === 1 ? (dataMembers[0] as (typeof members)[0]).data : Buffer.concat(dataMembers.map((m) => m.data));
  const dataTar = parseTar(dataBuf, (off) => `${source}: data member at byte ${dataStart}, tar offset ${off}`);
  const files: PackageFile[] = dataTar.entries.map((e) => {
    const h = e.header;
    const file: PackageFile = { path: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: h.size, offset: e.offset };
    if (h.type === "symlink" || h.type === "hardlink") file.linkTarget = h.linkname;
    for (const [k, v] of Object.entries(h.pax)) {
      if (k.startsWith("APK-TOOLS.checksum.")) file.checksum = `${k.slice("APK-TOOLS.checksum.".length)}:${v}`;
    }
    return file;
  });
  checkPaths(files, source);
  return {
    source,
    info,
    signatures,
    checksum: `Q1${createHash("sha1").update(controlMember.raw).digest("base64")}`,
    computedDataHash: createHash("sha256").update(buf.subarray(dataStart)).digest("hex"),
    scripts,
    controlFiles,
    files,
    fileSize: buf.length,
    controlMember: controlMember.raw,
    controlAndData: buf.subarray(controlMember.offset),
    dataEntries: dataTar.entries,
  };
}

/** Normalises a tar path (no leading `./`, no trailing `/`) or returns undefined if it escapes. */
export function safeRelativePath(name: string): string | undefined {
  if (name.startsWith("/") || name.includes("\0")) return undefined;
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) return undefined;
  return parts.join("/");
}

/**
 * Refuses entries that would land outside the install root: absolute names, `..`, hardlinks whose
 * target escapes, and any entry whose parent path goes through a symlink in the same package
 * (writing through it would follow the link wherever it points).
 */
function checkPaths(files: PackageFile[], source: string): void {
  const symlinks = new Set<string>();
  for (const f of files) {
    const rel = safeRelativePath(f.path);
    if (rel === undefined || rel === "") {
      throw new UndistroError("APK_UNSAFE_PATH", `${source}: data entry ${JSON.stringify(f.path)} would be written outside the install root`, {
        hint: "package paths must be relative and must not contain ..",
      });
    }
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (symlinks.has(parent)) {
        throw new UndistroError(
          "APK_UNSAFE_PATH",
          `${source}: data entry ${JSON.stringify(f.path)} goes through symlink ${JSON.stringify(parent)} of the same package`,
          {
            hint: "a package may not write through its own symlinks",
          },
        );
      }
    }
    if (f.type === "hardlink") {
      const target = safeRelativePath(f.linkTarget ?? "");
      if (target === undefined || target === "") {
        throw new UndistroError(
          "APK_UNSAFE_PATH",
          `${source}: hardlink ${JSON.stringify(f.path)} points outside the install root (${JSON.stringify(f.linkTarget)})`,
        );
      }
    }
    if (f.type === "symlink") symlinks.add(rel);
  }
}

export interface VerifyReport {
  source: string;
  name: string;
  version: string;
  /** The key that verified the package. */
  keyName: string;
  algorithm: string;
  dataHash: string;
  filesChecked: number;
}

/**
 * Verifies signature (one valid signature from a key in `keyring` suffices, as in apk), datahash and
 * every per-file checksum. Throws an UndistroError naming the first failure.
 */
export function verifyPackage(pkg: ApkPackage, keyring: ApkKeyring): VerifyReport {
  const src = pkg.source;
  // Every check runs, so a damaged package reports all that is wrong with it, not only the first.
  const failures: Array<{ code: string; message: string; hint: string }> = [];
  let verifiedBy: PackageSignature | undefined;
  if (pkg.signatures.length === 0) {
    failures.push({ code: "APK_UNSIGNED", message: "the package has no signature", hint: "sign it with `undistro apk create --signing-key`" });
  } else {
    // With a datahash the signature covers the control member only; without, control and data.
    const signed = pkg.info.dataHash !== undefined ? pkg.controlMember : pkg.controlAndData;
    const problems: string[] = [];
    for (const sig of pkg.signatures) {
      if (!isSignatureAlgorithm(sig.algorithm)) problems.push(`.SIGN.${sig.algorithm}.${sig.keyName}: unsupported algorithm`);
      else if (!keyring.has(sig.keyName)) problems.push(`.SIGN.${sig.algorithm}.${sig.keyName}: no such key in the keyring`);
      else if (keyring.verify(sig.keyName, sig.algorithm, signed, sig.signature)) {
        verifiedBy = sig;
        break;
      } else problems.push(`.SIGN.${sig.algorithm}.${sig.keyName}: signature does not match the control member`);
    }
    if (verifiedBy === undefined) {
      const unknownOnly = problems.every((p) => p.endsWith("no such key in the keyring"));
      failures.push({
        code: unknownOnly ? "APK_UNKNOWN_KEY" : "APK_BAD_SIGNATURE",
        message: `signature verification failed: ${problems.join("; ")}`,
        hint: unknownOnly
          ? `add the signer's public key to the keys directory (known: ${keyring.names().join(", ") || "none"})`
          : "the package was modified after signing, or signed by another key",
      });
    }
  }
  if (pkg.info.dataHash !== undefined && pkg.info.dataHash !== pkg.computedDataHash) {
    failures.push({
      code: "APK_DATAHASH_MISMATCH",
      message: `data member sha256 is ${pkg.computedDataHash} but .PKGINFO datahash says ${pkg.info.dataHash}`,
      hint: "the package contents were changed or truncated after it was built",
    });
  }
  let filesChecked = 0;
  try {
    filesChecked = verifyFileChecksums(pkg);
  } catch (err) {
    if (!(err instanceof UndistroError)) throw err;
    failures.push({ code: err.code, message: err.message.replace(`${src}: `, ""), hint: err.hint ?? "" });
  }
  const first = failures[0];
  if (first !== undefined || verifiedBy === undefined) {
    const f = first ?? { code: "APK_UNSIGNED", message: "no signature verified", hint: "" };
    throw new UndistroError(f.code, `${src}: ${failures.map((x) => x.message).join("; and ")}`, { hint: f.hint });
  }
  return {
    source: src,
    name: pkg.info.name,
    version: pkg.info.version,
    keyName: verifiedBy.keyName,
    algorithm: verifiedBy.algorithm,
    dataHash: pkg.computedDataHash,
    filesChecked,
  };
}

/** Checks each data entry against its PAX APK-TOOLS.checksum; returns how many were checked. */
export function verifyFileChecksums(pkg: ApkPackage): number {
  let checked = 0;
  for (const e of pkg.dataEntries) {
    for (const [key, expected] of Object.entries(e.header.pax)) {
      if (!key.startsWith("APK-TOOLS.checksum.")) continue;
      const algo = key.slice("APK-TOOLS.checksum.".length).toLowerCase();
      if (algo !== "sha1" && algo !== "md5" && algo !== "sha256") continue;
      const subject = e.header.type === "symlink" ? Buffer.from(e.header.linkname, "utf8") : e.content;
      const actual = createHash(algo).update(subject).digest("hex");
      if (actual !== expected.toLowerCase()) {
        throw new UndistroError("APK_FILE_CHECKSUM_MISMATCH", `${pkg.source}: ${e.header.name}: ${algo} is ${actual} but the package says ${expected}`, {
          hint: "the package's data member was altered",
        });
      }
      checked++;
    }
  }
  return checked;
}
