import { randomBytes } from "node:crypto";
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fsError } from "./errors.js";

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

/**
 * Writes `chunks` to `path` atomically: a temp file beside it, fsync, then rename. A reader (or a
 * crash) never sees a half-written file.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | readonly Uint8Array[], mode = 0o644): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", mode);
    fchmodSync(fd, mode); // exact mode, whatever the umask
    for (const chunk of chunks instanceof Uint8Array ? [chunks] : chunks) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw fsError(err, "write", path);
  }
}
