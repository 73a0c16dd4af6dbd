import { chmodSync, closeSync, fchmodSync, fchownSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fsError, UndistroError } from "../util/index.js";
import type { RootFs } from "./rootfs.js";

/**
 * Writes an assembled tree to a directory. Paths were resolved inside the tree already; on disk
 * every parent is checked again so nothing is written through a symlink planted beforehand (each
 * directory once: entries come sorted, parents first). Files get their mode and owner through the
 * open descriptor, and an existing path is looked at only when creating fails: one open, one
 * write and a close per file, as few syscalls as apk's own extraction makes.
 */
export function writeRootFs(fs: RootFs, root: string): void {
  mkdirSync(root, { recursive: true });
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const dirModes: Array<[string, number]> = [];
  const checkedDirs = new Set<string>();
  for (const e of fs.sorted()) {
    const target = join(root, e.path);
    const parts = e.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      if (checkedDirs.has(rel)) continue;
      const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) throw new UndistroError("INSTALL_UNSAFE_PATH", `${root}: ${e.path}: ${rel} is a symlink on disk; refusing to write through it`);
      checkedDirs.add(rel);
    }
    try {
      if (e.type === "directory") {
        makeDirectory(target);
        checkedDirs.add(e.path);
        dirModes.push([target, e.mode]);
        if (asRoot) lchownSync(target, e.uid, e.gid);
      } else if (e.type === "file") {
        writeFile(target, e.content ?? Buffer.alloc(0), e.mode, asRoot ? [e.uid, e.gid] : undefined);
      } else if (e.type === "symlink" || e.type === "hardlink") {
        clearForNonDirectory(target);
        if (e.type === "symlink") {
          symlinkSync(e.linkname ?? "", target);
          if (asRoot) lchownSync(target, e.uid, e.gid);
        } else {
          // The link shares the file's inode, owner and mode: a chown here would clear its
          // set-user-ID bit.
          linkSync(join(root, e.linkname ?? ""), target);
        }
      } // device nodes are not created on disk
    } catch (err) {
      throw fsError(err, "install", target);
    }
  }
  for (const [dir, mode] of dirModes.reverse()) chmodSync(dir, mode);
}

function makeDirectory(target: string): void {
  try {
    mkdirSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    if (!lstatSync(target).isDirectory()) throw new UndistroError("INSTALL_PATH_CONFLICT", `${target} exists and is not a directory`);
  }
}

/** Removes what stands at `target` (a file or link from an earlier package); a directory is a conflict. */
function clearForNonDirectory(target: string): void {
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new UndistroError("INSTALL_PATH_CONFLICT", `${target} is a directory`);
  if (existing) rmSync(target);
}

function writeFile(target: string, data: Buffer, mode: number, owner?: [number, number]): void {
  let fd: number;
  try {
    fd = openSync(target, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    clearForNonDirectory(target);
    fd = openSync(target, "wx", 0o600);
  }
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off);
    // Owner first: a chown (even root's) clears set-user-ID and set-group-ID bits on Linux.
    if (owner) fchownSync(fd, owner[0], owner[1]);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}
