/**
 * A small synchronous ustar/PAX codec.
 *
 * Written here rather than taken from tar-stream because APK needs things a general tar library
 * does not give: byte-exact control of every header field (reproducible output), tar sections that
 * stop without the end-of-archive blocks (the signature and control members of an .apk are "cut"
 * tars that continue in the next gzip member), PAX `APK-TOOLS.checksum.*` records, and parse errors
 * that name the byte offset inside a given gzip member.
 */
import { UndistroError } from "../util/index.js";

export const BLOCK = 512;
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  linkname: string;
  /** Device numbers for character and block devices ("other"), kept so nothing is lost. */
  typeflag?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX extended records that apply to this entry (path/linkpath/size are folded into the fields). */
  pax: Record<string, string>;
}

const TYPEFLAG: Record<Exclude<TarEntryType, "other">, string> = { file: "0", directory: "5", symlink: "2", hardlink: "1" };

function writeString(buf: Buffer, value: string, offset: number, length: number): boolean {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > length) return false;
  bytes.copy(buf, offset);
  return true;
}

/** Octal, zero-padded to length-1 digits, then NUL (the layout Go, GNU tar and busybox write). */
function writeOctal(buf: Buffer, value: number, offset: number, length: number): boolean {
  const digits = value.toString(8);
  if (digits.length > length - 1) return false;
  buf.write(digits.padStart(length - 1, "0"), offset, "ascii");
  buf[offset + length - 1] = 0;
  return true;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body, "utf8");
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(len - bodyLen).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function encodeBlock(h: Omit<TarHeader, "pax">, typeflag: string): Buffer | undefined {
  const buf = Buffer.alloc(BLOCK);
  if (!writeString(buf, h.name, 0, 100)) return undefined;
  writeOctal(buf, h.mode & 0o7777, 100, 8);
  if (!writeOctal(buf, h.uid, 108, 8) || !writeOctal(buf, h.gid, 116, 8)) return undefined;
  if (!writeOctal(buf, h.size, 124, 12) || !writeOctal(buf, h.mtime, 136, 12)) return undefined;
  buf.fill(0x20, 148, 156);
  buf.write(typeflag, 156, "ascii");
  if (!writeString(buf, h.linkname, 157, 100)) return undefined;
  buf.write("ustar\u000000", 257, "binary");
  if (!writeString(buf, h.uname, 265, 32) || !writeString(buf, h.gname, 297, 32)) return undefined;
  if (h.devmajor !== undefined) writeOctal(buf, h.devmajor, 329, 8);
  if (h.devminor !== undefined) writeOctal(buf, h.devminor, 337, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i] as number;
  buf.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, "binary");
  return buf;
}

/** The longest prefix of `s` whose UTF-8 form fits `max` bytes (ustar's fixed-width fields). */
function truncateBytes(s: string, max: number): string {
  let out = s;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}

function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem);
}

/**
 * Encodes one entry: an optional PAX header (for `pax` records, or for a name, link target or size
 * that does not fit ustar), the ustar header, the content and its padding. Returns the pieces in
 * order; no copy of `content` is made.
 */
export function encodeEntry(header: TarHeader, content?: Uint8Array): Buffer[] {
  const typeflag = header.typeflag ?? (header.type === "other" ? "0" : TYPEFLAG[header.type]);
  const pax: Record<string, string> = { ...header.pax };
  const base = { ...header };
  if (Buffer.byteLength(header.name) > 100) {
    pax.path = header.name;
    base.name = truncateBytes(header.name, 100);
  }
  if (Buffer.byteLength(header.linkname) > 100) {
    pax.linkpath = header.linkname;
    base.linkname = "";
  }
  if (header.size > 0o77777777777) {
    pax.size = String(header.size);
    base.size = 0;
  }
  const out: Buffer[] = [];
  const keys = Object.keys(pax).sort();
  if (keys.length > 0) {
    const body = Buffer.from(keys.map((k) => paxRecord(k, pax[k] as string)).join(""), "utf8");
    const slash = base.name.lastIndexOf("/", base.name.length - 2);
    const paxName0 = slash < 0 ? `PaxHeaders/${base.name}` : `${base.name.slice(0, slash)}/PaxHeaders/${base.name.slice(slash + 1)}`;
    const paxName = truncateBytes(paxName0, 100);
    const paxHeader = encodeBlock(
      { name: paxName, type: "file", mode: 0o644, uid: 0, gid: 0, uname: "", gname: "", mtime: header.mtime, size: body.length, linkname: "" },
      "x",
    );
    if (paxHeader === undefined) throw new Error(`tar: cannot encode PAX header for ${header.name}`);
    out.push(paxHeader, body, padding(body.length));
  }
  const block = encodeBlock(base, typeflag);
  if (block === undefined) throw new Error(`tar: cannot encode header for ${header.name}`);
  out.push(block);
  if (content !== undefined && content.length > 0) {
    out.push(Buffer.from(content.buffer, content.byteOffset, content.length), padding(content.length));
  }
  return out;
}

export interface TarEntry {
  header: TarHeader;
  /** Offset of the entry's (first) header block in the buffer that was parsed. */
  offset: number;
  /** Content of regular files; a view into the parsed buffer. */
  content: Buffer;
}

function readString(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString("utf8", offset, end < 0 || end > offset + length ? offset + length : end);
}

function readNumber(buf: Buffer, offset: number, length: number, where: () => string, field: string): number {
  const first = buf[offset] as number;
  if (first & 0x80) {
    // GNU base-256 encoding for values that do not fit octal; 0xff starts a negative number, which
    // no field may hold (a negative size would make a reader revisit the same header for ever).
    if (first === 0xff) throw new UndistroError("TAR_CORRUPT", `${where()}: tar header field ${field} is negative (base-256)`);
    let v = first & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + (buf[offset + i] as number);
    if (!Number.isSafeInteger(v)) throw new UndistroError("TAR_CORRUPT", `${where()}: tar header field ${field} is too large`);
    return v;
  }
  const text = buf
    .toString("ascii", offset, offset + length)
    .replace(/[\0 ]+$/, "")
    .replace(/^[ \0]+/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new UndistroError("TAR_CORRUPT", `${where()}: tar header field ${field} is not octal (${JSON.stringify(text)})`);
  return Number.parseInt(text, 8);
}

/** A PAX number (size, uid, gid): decimal digits only, a safe integer; never negative, never text. */
function paxNumber(value: string, key: string, where: () => string): number {
  if (!/^\d{1,15}$/.test(value))
    throw new UndistroError("TAR_CORRUPT", `${where()}: PAX ${key} ${JSON.stringify(value.slice(0, 40))} is not a non-negative decimal number`);
  return Number(value);
}

/** Bounds on what one parse may produce; a tar comes from outside and is read before any signature check. */
export interface TarLimits {
  /** Entries (PAX and GNU long-name headers not counted); default 1,000,000. */
  maxEntries?: number;
}

export const DEFAULT_MAX_TAR_ENTRIES = 1_000_000;

function parsePax(body: Buffer, where: () => string): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space < 0) break;
    const lenText = body.toString("ascii", pos, space);
    const len = /^\d{1,15}$/.test(lenText) ? Number(lenText) : Number.NaN;
    if (!Number.isFinite(len) || len <= space - pos + 1 || pos + len > body.length) {
      throw new UndistroError("TAR_CORRUPT", `${where()}: malformed PAX record at byte ${pos} of the extended header`);
    }
    const record = body.toString("utf8", space + 1, pos + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

/**
 * Parses the tar stream in `buf` up to its end or the first zero block. `describe(offset)` names the
 * place for error messages (file, gzip member, offset). A truncated entry is an error.
 */
export function parseTar(buf: Buffer, describe: (offset: number) => string, limits: TarLimits = {}): { entries: TarEntry[]; sawEnd: boolean } {
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_TAR_ENTRIES;
  const entries: TarEntry[] = [];
  let pos = 0;
  let pendingPax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (pos + BLOCK <= buf.length) {
    const start = pos;
    const where = () => describe(start);
    const block = buf.subarray(pos, pos + BLOCK);
    if (block.every((b) => b === 0)) return { entries, sawEnd: true };
    const stored = readNumber(block, 148, 8, where, "chksum");
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    if (sum !== stored) throw new UndistroError("TAR_CORRUPT", `${where()}: tar header checksum mismatch (stored ${stored}, computed ${sum})`);
    const typeflag = String.fromCharCode(block[156] as number);
    let size = readNumber(block, 124, 12, where, "size");
    if (pendingPax.size !== undefined) size = paxNumber(pendingPax.size, "size", where);
    const dataStart = pos + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length) {
      throw new UndistroError("TAR_TRUNCATED", `${where()}: tar entry claims ${size} bytes but the stream ends ${buf.length - dataStart} bytes later`);
    }
    const content = buf.subarray(dataStart, dataEnd);
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === "x") {
      pendingPax = { ...pendingPax, ...parsePax(content, where) };
      continue;
    }
    if (typeflag === "g") continue;
    if (typeflag === "L") {
      longName = content.toString("utf8").replace(/\0+$/, "");
      continue;
    }
    if (typeflag === "K") {
      longLink = content.toString("utf8").replace(/\0+$/, "");
      continue;
    }
    const magic = block.toString("binary", 257, 263);
    let name = readString(block, 0, 100);
    if (magic === "ustar\u0000") {
      const prefix = readString(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    if (pendingPax.path !== undefined) name = pendingPax.path;
    let linkname = readString(block, 157, 100);
    if (longLink !== undefined) linkname = longLink;
    if (pendingPax.linkpath !== undefined) linkname = pendingPax.linkpath;
    const type: TarEntryType =
      typeflag === "0" || typeflag === "\0" || typeflag === "7"
        ? "file"
        : typeflag === "5"
          ? "directory"
          : typeflag === "2"
            ? "symlink"
            : typeflag === "1"
              ? "hardlink"
              : "other";
    const pax = { ...pendingPax };
    delete pax.path;
    delete pax.linkpath;
    delete pax.size;
    const header: TarHeader = {
      name,
      type,
      mode: readNumber(block, 100, 8, where, "mode") & 0o7777,
      uid: pendingPax.uid !== undefined ? paxNumber(pendingPax.uid, "uid", where) : readNumber(block, 108, 8, where, "uid"),
      gid: pendingPax.gid !== undefined ? paxNumber(pendingPax.gid, "gid", where) : readNumber(block, 116, 8, where, "gid"),
      uname: readString(block, 265, 32),
      gname: readString(block, 297, 32),
      mtime: readNumber(block, 136, 12, where, "mtime"),
      size,
      linkname,
      pax,
    };
    if (type === "other") {
      header.typeflag = typeflag;
      header.devmajor = readNumber(block, 329, 8, where, "devmajor");
      header.devminor = readNumber(block, 337, 8, where, "devminor");
    }
    if (entries.length >= maxEntries) {
      throw new UndistroError("TAR_TOO_MANY_ENTRIES", `${where()}: more than ${maxEntries} entries; refused`, {
        hint: "an archive this large is not a package undistro reads",
      });
    }
    entries.push({ header, offset: start, content });
    pendingPax = {};
    longName = undefined;
    longLink = undefined;
  }
  if (pos !== buf.length) {
    throw new UndistroError("TAR_TRUNCATED", `${describe(pos)}: tar stream ends inside a header block (${buf.length - pos} stray bytes)`);
  }
  return { entries, sawEnd: false };
}
