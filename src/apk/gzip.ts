import zlib from "node:zlib";
import { UndistroError } from "../util/index.js";

/** One gzip member of a multi-member file, with its place in the file. */
export interface GzipMember {
  /** Byte offset of the member's gzip header in the file. */
  offset: number;
  /** Compressed length including header and trailer. */
  length: number;
  /** The compressed bytes (a view into the file buffer). */
  raw: Buffer;
  /** Decompressed content. */
  data: Buffer;
}

/** Names a member for messages: `hello.apk: gzip member 2 (control) at byte 654`. */
export type MemberNamer = (index: number, offset: number) => string;

/**
 * The most bytes one file's gzip members may inflate to, all members together: 2 GiB unless
 * $UNDISTRO_MAX_UNPACKED_BYTES says otherwise. Inflating runs before any signature check, so a
 * small bomb must not take the machine's memory.
 */
export function maxUnpackedBytes(): number {
  const env = process.env.UNDISTRO_MAX_UNPACKED_BYTES;
  if (env && /^\d{1,15}$/.test(env)) return Number(env);
  return 2 * 1024 ** 3;
}

export interface GzipLimits {
  maxMembers?: number;
  /** Decompressed bytes of all members together (default maxUnpackedBytes()). */
  maxBytes?: number;
}

/** One gzip stream inflated with a ceiling: GZIP_TOO_LARGE past `maxBytes` instead of running out of memory. */
export function gunzipBounded(buf: Buffer, where: string, maxBytes = maxUnpackedBytes()): Buffer {
  try {
    return zlib.gunzipSync(buf, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    throw gzipError(err, where, maxBytes);
  }
}

function gzipError(err: unknown, where: string, maxBytes: number): UndistroError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) {
    return new UndistroError("GZIP_TOO_LARGE", `${where}: decompresses to more than ${maxBytes} bytes; refused`, {
      hint: "a compression bomb, or a legitimately huge archive: raise UNDISTRO_MAX_UNPACKED_BYTES if you trust it",
    });
  }
  if (/unexpected end/i.test(e.message)) return truncated(where, "compressed data ends early");
  return new UndistroError("GZIP_CORRUPT", `${where}: corrupt compressed data (${e.message})`, { cause: err });
}

/**
 * Splits `buf` into its gzip members. Node's gunzip would join them; APK needs the boundaries,
 * because the signature covers exactly the compressed bytes of one member. Each member's CRC-32
 * and length trailer are checked.
 */
export function splitGzipMembers(buf: Buffer, name: MemberNamer, limits: GzipLimits = {}): GzipMember[] {
  const maxMembers = limits.maxMembers ?? Number.POSITIVE_INFINITY;
  const maxBytes = limits.maxBytes ?? maxUnpackedBytes();
  let unpacked = 0;
  const members: GzipMember[] = [];
  let offset = 0;
  while (offset < buf.length && members.length < maxMembers) {
    const where = name(members.length, offset);
    if (buf.length - offset < 18) throw truncated(where, "too short for a gzip member");
    if (buf[offset] !== 0x1f || buf[offset + 1] !== 0x8b) {
      throw new UndistroError("GZIP_CORRUPT", `${where}: not a gzip member (bad magic bytes ${buf.subarray(offset, offset + 2).toString("hex")})`);
    }
    if (buf[offset + 2] !== 8) throw new UndistroError("GZIP_CORRUPT", `${where}: unsupported gzip compression method ${buf[offset + 2]}`);
    const flags = buf[offset + 3] as number;
    let pos = offset + 10;
    if (flags & 0x04) {
      if (pos + 2 > buf.length) throw truncated(where, "gzip extra field runs past the end of the file");
      const xlen = buf.readUInt16LE(pos);
      pos += 2 + xlen;
    }
    for (const bit of [0x08, 0x10]) {
      if (flags & bit) {
        const end = buf.indexOf(0, pos);
        if (end < 0) throw truncated(where, "gzip header string is not terminated");
        pos = end + 1;
      }
    }
    if (flags & 0x02) pos += 2;
    if (pos >= buf.length) throw truncated(where, "gzip header runs past the end of the file");
    let data: Buffer;
    let consumed: number;
    const room = maxBytes - unpacked;
    try {
      const result = zlib.inflateRawSync(buf.subarray(pos), { info: true, maxOutputLength: Math.max(1, room) }) as unknown as {
        buffer: Buffer;
        engine: zlib.InflateRaw;
      };
      data = result.buffer;
      consumed = result.engine.bytesWritten;
    } catch (err) {
      throw gzipError(err, where, maxBytes);
    }
    unpacked += data.length;
    const trailer = pos + consumed;
    if (trailer + 8 > buf.length) throw truncated(where, "the 8-byte gzip trailer is missing");
    const crc = buf.readUInt32LE(trailer);
    const isize = buf.readUInt32LE(trailer + 4);
    if (zlib.crc32(data) !== crc) throw new UndistroError("GZIP_CORRUPT", `${where}: CRC-32 mismatch, the member is corrupt`);
    if (data.length >>> 0 !== isize) throw new UndistroError("GZIP_CORRUPT", `${where}: length in trailer (${isize}) does not match the data (${data.length})`);
    const end = trailer + 8;
    members.push({ offset, length: end - offset, raw: buf.subarray(offset, end), data });
    offset = end;
  }
  return members;
}

function truncated(where: string, why: string): UndistroError {
  return new UndistroError("GZIP_TRUNCATED", `${where}: truncated: ${why}`, { hint: "the file is incomplete; download or build it again" });
}

/** The compressor undistro uses for every member it writes: node's zlib, fixed level, no name/mtime in the header. */
export function gzip(data: Uint8Array, level: number): Buffer {
  return zlib.gzipSync(data, { level });
}
