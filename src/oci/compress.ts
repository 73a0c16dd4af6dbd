/**
 * gzip for layers, in parallel for large ones: the input is cut into fixed 1 MiB chunks, each
 * deflated on the thread pool with the previous 32 KiB as dictionary and a sync flush, and the raw
 * deflate pieces are joined under one gzip header and trailer (pigz's scheme). The chunk size is
 * fixed, so the bytes depend only on the input and level, never on the number of cores.
 */
import { promisify } from "node:util";
import zlib from "node:zlib";

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Uint8Array, opts: zlib.ZlibOptions) => Promise<Buffer>;

export const PARALLEL_CHUNK = 1 << 20;
/** Below this, one zlib call is as fast and the output is plain single-stream gzip. */
export const PARALLEL_THRESHOLD = 4 << 20;
const WINDOW = 32 * 1024;

export async function gzipLayer(data: Buffer, level = 6): Promise<Buffer> {
  if (data.length < PARALLEL_THRESHOLD) return zlib.gzipSync(data, { level });
  const pieces: Array<Promise<Buffer>> = [];
  for (let off = 0; off < data.length; off += PARALLEL_CHUNK) {
    const end = Math.min(off + PARALLEL_CHUNK, data.length);
    const last = end === data.length;
    const opts: zlib.ZlibOptions = { level, finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH };
    if (off > 0) opts.dictionary = data.subarray(Math.max(0, off - WINDOW), off);
    pieces.push(deflateRaw(data.subarray(off, end), opts));
  }
  // gzip header: magic, deflate, no flags, mtime 0, xfl 0, OS 3 (unix) — what Node's own gzip writes.
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(data), 0);
  trailer.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([header, ...(await Promise.all(pieces)), trailer]);
}
