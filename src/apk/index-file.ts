import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { fsError, UndistroError, writeFileAtomic } from "../util/index.js";
import { splitGzipMembers } from "./gzip.js";
import { type ApkKeyring, type ApkSigningKey, isSignatureAlgorithm, type SignatureAlgorithm, signBytes } from "./keys.js";
import { readPackage } from "./package-reader.js";
import type { PackageInfo } from "./pkginfo.js";
import { END_OF_ARCHIVE, encodeEntry, parseTar, type TarHeader } from "./tar.js";
import { compareVersions } from "./version.js";

/** One APKINDEX record: package metadata plus the index-only fields. */
export interface IndexEntry extends Omit<PackageInfo, "packager" | "triggers" | "dataHash"> {
  /** `C:` — `Q1` + base64 SHA-1 of the package's control member. */
  checksum: string;
  /** `S:` — size of the .apk file. */
  fileSize: number;
}

/** Fields an index record is read with (apk reads r: and q: too; other letters are kept as extras). */
const READ_FIELDS = ["C", "P", "V", "A", "S", "I", "T", "U", "L", "o", "m", "t", "c", "k", "D", "p", "i", "r", "q"] as const;

/**
 * One APKINDEX record as apk-tools 2.14 writes it (`apk index`): C, P, V, A (when the package has
 * an architecture), then S, I, T, U and L always, empty or not; o, m, t, c and k when set; D, p and
 * i when they list something. The installed database's fields (r:, q:, …) are not index fields:
 * apk reads replaces from the package itself, and so does undistro's installer.
 */
export function formatIndexEntry(e: IndexEntry): string {
  const lines: string[] = [];
  const put = (letter: string, value: string | number | undefined, always = false) => {
    if (value === undefined || (value === "" && !always)) return;
    const text = String(value);
    if (/[\n\r]/.test(text)) throw new UndistroError("APK_BAD_FIELD", `index record ${e.name}: field ${letter} must be a single line`);
    lines.push(`${letter}:${text}`);
  };
  put("C", e.checksum, true);
  put("P", e.name, true);
  put("V", e.version, true);
  put("A", e.arch);
  put("S", e.fileSize, true);
  put("I", e.installedSize ?? 0, true);
  put("T", e.description ?? "", true);
  put("U", e.url ?? "", true);
  put("L", e.license ?? "", true);
  put("o", e.origin);
  put("m", e.maintainer);
  put("t", e.buildDate || undefined);
  put("c", e.commit);
  put("k", e.providerPriority || undefined);
  put("D", e.depends.join(" "));
  put("p", e.provides.join(" "));
  put("i", e.installIf.join(" "));
  return `${lines.join("\n")}\n`;
}

/** Text of an APKINDEX: records separated by a blank line (and one after the last, as apk writes). */
export function formatIndex(entries: readonly IndexEntry[]): string {
  return entries.map((e) => `${formatIndexEntry(e)}\n`).join("");
}

/** Parses APKINDEX text (the file inside APKINDEX.tar.gz, or a bare one as in apk's test repos). */
export function parseIndex(text: string, where: string): IndexEntry[] {
  const entries: IndexEntry[] = [];
  let cur: Map<string, string> | undefined;
  let startLine = 0;
  const finish = () => {
    if (cur === undefined) return;
    entries.push(recordToEntry(cur, `${where}: record at line ${startLine}`));
    cur = undefined;
  };
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line === "") {
      finish();
      return;
    }
    if (line.length < 2 || line[1] !== ":") {
      throw new UndistroError("APK_BAD_INDEX", `${where}: line ${i + 1} is not "X:value": ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (cur === undefined) {
      cur = new Map();
      startLine = i + 1;
    }
    const key = line[0] as string;
    const value = line.slice(2);
    if (cur.has(key)) cur.set(key, `${cur.get(key)} ${value}`);
    else cur.set(key, value);
  });
  finish();
  return entries;
}

/**
 * P:, V: and A: become file names (NAME-VERSION.apk, ARCH/ in caches and repositories): a value
 * with a slash, a NUL or other control byte, white space or a leading dot could name a path
 * outside the directory it is joined to, so it is refused as apk's own name and version rules do.
 */
export function isSafeFileComponent(value: string): boolean {
  return value !== "" && !/[/\\\s\x00-\x1f\x7f]/.test(value) && !value.startsWith(".") && !value.startsWith("-");
}

function checkPathComponent(key: string, value: string, where: string): void {
  if (!isSafeFileComponent(value)) {
    throw new UndistroError(
      "APK_BAD_INDEX",
      `${where}: ${key}: ${JSON.stringify(value.slice(0, 80))} is not a valid ${key === "A" ? "architecture" : key === "V" ? "version" : "package name"}`,
      {
        hint: "a name, version or architecture with a slash, a control character, white space or a leading dot or dash would be a path: the index is damaged or hostile",
      },
    );
  }
}

function recordToEntry(rec: Map<string, string>, where: string): IndexEntry {
  const need = (k: string, what: string) => {
    const v = rec.get(k);
    if (v === undefined || v === "") throw new UndistroError("APK_BAD_INDEX", `${where}: missing ${k}: (${what})`);
    return v;
  };
  const int = (k: string) => {
    const v = rec.get(k);
    if (v === undefined || v === "") return undefined;
    if (!/^-?[0-9]+$/.test(v)) throw new UndistroError("APK_BAD_INDEX", `${where}: ${k}: is not a number: ${JSON.stringify(v)}`);
    return Number(v);
  };
  const list = (k: string) => (rec.get(k) ?? "").split(" ").filter(Boolean);
  const name = need("P", "package name");
  const e: IndexEntry = {
    checksum: rec.get("C") ?? "",
    name,
    version: need("V", "version"),
    arch: rec.get("A") ?? "noarch",
    fileSize: int("S") ?? 0,
    installedSize: int("I") ?? 0,
    depends: list("D"),
    provides: list("p"),
    installIf: list("i"),
    replaces: list("r"),
    extra: [],
  };
  checkPathComponent("P", e.name, where);
  checkPathComponent("V", e.version, where);
  checkPathComponent("A", e.arch, where);
  const opt = <K extends keyof IndexEntry>(key: K, value: IndexEntry[K] | undefined) => {
    if (value !== undefined) e[key] = value;
  };
  opt("description", rec.get("T"));
  opt("url", rec.get("U"));
  opt("license", rec.get("L"));
  opt("origin", rec.get("o"));
  opt("maintainer", rec.get("m"));
  opt("buildDate", int("t"));
  opt("commit", rec.get("c"));
  opt("providerPriority", int("k"));
  opt("replacesPriority", int("q"));
  const known = new Set<string>(READ_FIELDS);
  for (const [k, v] of rec) if (!known.has(k)) e.extra.push([k, v]);
  return e;
}

export function indexEntryFromPackage(info: PackageInfo, checksum: string, fileSize: number): IndexEntry {
  const { packager: _p, triggers: _t, dataHash: _d, ...rest } = info;
  return { ...rest, checksum, fileSize, extra: [] };
}

/** Record order in an index we write: name, then version ascending, then arch and checksum (stable output). */
export function compareIndexEntries(a: IndexEntry, b: IndexEntry): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  const v = compareVersions(a.version, b.version);
  if (v !== 0) return v;
  if (a.arch !== b.arch) return a.arch < b.arch ? -1 : 1;
  return a.checksum < b.checksum ? -1 : a.checksum > b.checksum ? 1 : 0;
}

export interface ApkIndex {
  source: string;
  description: string;
  entries: IndexEntry[];
  signatures: Array<{ algorithm: string; keyName: string; signature: Buffer }>;
  /** The compressed member(s) the signature covers (everything after the signature member). */
  signedBytes: Buffer;
  /** Entry order inside the index tar, e.g. ["DESCRIPTION", "APKINDEX"]. */
  layout: string[];
  /** Whether the signature member came first (apk-tools and melange) or signatures sat elsewhere. */
  signatureFirst: boolean;
}

/** The architectures a repository directory holds an index for (its ARCH/APKINDEX.tar.gz), sorted; none when it is not a directory. */
export function repositoryArchitectures(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((a) => existsSync(join(dir, a, "APKINDEX.tar.gz")))
    .sort();
}

export function readIndexFile(path: string): ApkIndex {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw fsError(err, "read index", path);
  }
  return parseIndexArchive(buf, path);
}

/**
 * Parses APKINDEX.tar.gz. Both layouts in the wild parse: apk-tools writes a signature member then a
 * member with DESCRIPTION and APKINDEX; melange writes APKINDEX then DESCRIPTION and signs that whole
 * member. An archive whose `.SIGN.` entries are not in a leading member of their own is read but
 * counts as unsigned (apk ignores such signatures too).
 */
export function parseIndexArchive(buf: Buffer, source: string): ApkIndex {
  const members = splitGzipMembers(buf, (i, off) => `${source}: gzip member ${i + 1} at byte ${off}`);
  if (members.length === 0) throw new UndistroError("APK_BAD_INDEX", `${source}: the file is empty`);
  const first = members[0] as (typeof members)[0];
  const firstTar = parseTar(first.data, (off) => `${source}: gzip member 1, tar offset ${off}`);
  const signatureFirst = firstTar.entries.length > 0 && firstTar.entries.every((e) => e.header.name.startsWith(".SIGN."));
  const signatures: ApkIndex["signatures"] = [];
  let bodyMembers = members;
  if (signatureFirst) {
    for (const e of firstTar.entries) {
      const rest = e.header.name.slice(".SIGN.".length);
      const dot = rest.indexOf(".");
      signatures.push({ algorithm: rest.slice(0, dot), keyName: rest.slice(dot + 1), signature: Buffer.from(e.content) });
    }
    bodyMembers = members.slice(1);
  }
  if (bodyMembers.length === 0)
    throw new UndistroError("APK_BAD_INDEX", `${source}: signature member but no index after it`, { hint: "the file is incomplete" });
  const bodyStart = (bodyMembers[0] as (typeof members)[0]).offset;
  const body = bodyMembers.length === 1 ? (bodyMembers[0] as (typeof members)[0]).data : Buffer.concat(bodyMembers.map((m) => m.data));
  const tar = parseTar(body, (off) => `${source}: index member at byte ${bodyStart}, tar offset ${off}`);
  let text: string | undefined;
  let description = "";
  const layout: string[] = [];
  for (const e of tar.entries) {
    layout.push(e.header.name);
    if (e.header.name === "APKINDEX") text = e.content.toString("utf8");
    else if (e.header.name === "DESCRIPTION") description = e.content.toString("utf8");
  }
  if (text === undefined) throw new UndistroError("APK_BAD_INDEX", `${source}: no APKINDEX entry in the archive (found: ${layout.join(", ") || "nothing"})`);
  return {
    source,
    description,
    entries: parseIndex(text, `${source}: APKINDEX`),
    signatures,
    signedBytes: buf.subarray(bodyStart),
    layout,
    signatureFirst,
  };
}

export function verifyIndex(index: ApkIndex, keyring: ApkKeyring): { keyName: string; algorithm: string; packages: number } {
  if (index.signatures.length === 0) {
    throw new UndistroError("APK_UNSIGNED", `${index.source}: the index has no leading signature member`, {
      hint: "sign it with `undistro index DIR --signing-key KEY.rsa`",
    });
  }
  const problems: string[] = [];
  for (const sig of index.signatures) {
    if (!isSignatureAlgorithm(sig.algorithm)) {
      problems.push(`.SIGN.${sig.algorithm}.${sig.keyName}: unsupported algorithm`);
    } else if (!keyring.has(sig.keyName)) {
      problems.push(`.SIGN.${sig.algorithm}.${sig.keyName}: no such key in the keyring`);
    } else if (keyring.verify(sig.keyName, sig.algorithm, index.signedBytes, sig.signature)) {
      return { keyName: sig.keyName, algorithm: sig.algorithm, packages: index.entries.length };
    } else {
      problems.push(`.SIGN.${sig.algorithm}.${sig.keyName}: signature does not match the index`);
    }
  }
  const unknownOnly = problems.every((p) => p.endsWith("no such key in the keyring"));
  throw new UndistroError(unknownOnly ? "APK_UNKNOWN_KEY" : "APK_BAD_SIGNATURE", `${index.source}: signature verification failed: ${problems.join("; ")}`, {
    hint: unknownOnly
      ? `add the signer's public key to the keys directory (known: ${keyring.names().join(", ") || "none"})`
      : "the index was modified after signing, or signed by another key",
  });
}

export interface BuildIndexOptions {
  signingKey?: ApkSigningKey;
  signatureAlgorithm?: SignatureAlgorithm;
  description?: string;
  sourceDateEpoch: number;
  compressionLevel?: number;
}

function tarHeader(name: string, size: number, mtime: number, mode = 0o644): TarHeader {
  return { name, type: "file", mode, uid: 0, gid: 0, uname: "root", gname: "root", mtime, size, linkname: "", pax: {} };
}

/** Serialises a signed APKINDEX.tar.gz (apk-tools layout: signature member, then DESCRIPTION and APKINDEX). */
export function encodeIndexArchive(entries: readonly IndexEntry[], opts: BuildIndexOptions): Buffer {
  const level = opts.compressionLevel ?? 9; // indexes are small and fetched often: smallest wins
  const sorted = [...entries].sort(compareIndexEntries);
  const text = Buffer.from(formatIndex(sorted), "utf8");
  const description = Buffer.from(opts.description ?? "", "utf8");
  const body = zlib.gzipSync(
    Buffer.concat([
      ...encodeEntry(tarHeader("DESCRIPTION", description.length, opts.sourceDateEpoch), description),
      ...encodeEntry(tarHeader("APKINDEX", text.length, opts.sourceDateEpoch), text),
      END_OF_ARCHIVE,
    ]),
    { level },
  );
  if (opts.signingKey === undefined) return body;
  const algorithm = opts.signatureAlgorithm ?? "RSA256";
  const sig = signBytes(body, opts.signingKey, algorithm);
  const sigMember = zlib.gzipSync(
    Buffer.concat(encodeEntry(tarHeader(`.SIGN.${algorithm}.${opts.signingKey.keyName}`, sig.length, opts.sourceDateEpoch), sig)),
    { level },
  );
  return Buffer.concat([sigMember, body]);
}

export interface IndexedDirectory {
  path: string;
  packages: number;
  entries: IndexEntry[];
}

/** Indexes `dir/*.apk` into `dir/APKINDEX.tar.gz` (written atomically). Packages are parsed, not trusted blindly. */
export function indexDirectory(dir: string, opts: BuildIndexOptions, onPackage?: (file: string) => void): IndexedDirectory {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith(".apk"))
      .sort();
  } catch (err) {
    throw fsError(err, "read repository directory", dir);
  }
  const entries: IndexEntry[] = [];
  for (const name of names) {
    const file = join(dir, name);
    if (!statSync(file).isFile()) continue;
    const pkg = readPackage(file);
    entries.push(indexEntryFromPackage(pkg.info, pkg.checksum, pkg.fileSize));
    onPackage?.(file);
  }
  const path = join(dir, "APKINDEX.tar.gz");
  writeFileAtomic(path, encodeIndexArchive(entries, opts));
  return { path, packages: entries.length, entries: [...entries].sort(compareIndexEntries) };
}

/**
 * Versioned provides that two or more packages (by name) of one index share: apk will not install
 * two packages that provide the same name with a version ("conflicting provides"), so such a pair
 * can never be in one root. The usual case is a `cmd:` of a tool that a busybox applet also provides.
 */
export function overlappingProvides(entries: readonly IndexEntry[]): Array<{ provide: string; packages: string[] }> {
  const by = new Map<string, Set<string>>();
  for (const e of entries) {
    for (const p of e.provides) {
      const eq = p.indexOf("=");
      if (eq < 0) continue; // unversioned provides may be shared
      const name = p.slice(0, eq);
      const set = by.get(name) ?? new Set<string>();
      set.add(e.name);
      by.set(name, set);
    }
  }
  return [...by]
    .filter(([, pkgs]) => pkgs.size > 1)
    .map(([provide, pkgs]) => ({ provide, packages: [...pkgs].sort() }))
    .sort((a, b) => (a.provide < b.provide ? -1 : a.provide > b.provide ? 1 : 0));
}

/** The `Q1…` checksum of a package's control member, from the compressed member bytes. */
export function controlChecksum(controlMember: Uint8Array): string {
  return `Q1${createHash("sha1").update(controlMember).digest("base64")}`;
}
