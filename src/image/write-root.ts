import { chmodSync, closeSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fsError, UndistroError } from "../util/index.js";
import type { RootFs } from "./rootfs.js";

/**
 * Writes an assembled tree to a directory. Paths were resolved inside the tree already; on disk
 * every parent is checked again so nothing is written through a symlink planted beforehand.
 */
export function writeRootFs(fs: RootFs, root: string): void {
  mkdirSync(root, { recursive: true });
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const dirModes: Array<[string, number]> = [];
  for (const e of fs.sorted()) {
    const target = join(root, e.path);
    const parts = e.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = join(root, ...parts.slice(0, i));
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (st?.isSymbolicLink())
        throw new UndistroError("INSTALL_UNSAFE_PATH", `${root}: ${e.path}: ${parts.slice(0, i).join("/")} is a symlink on disk; refusing to write through it`);
    }
    try {
      const existing = lstatSync(target, { throwIfNoEntry: false });
      if (e.type === "directory") {
        if (!existing) mkdirSync(target);
        else if (!existing.isDirectory()) throw new UndistroError("INSTALL_PATH_CONFLICT", `${target} exists and is not a directory`);
        dirModes.push([target, e.mode]);
      } else {
        if (existing?.isDirectory()) throw new UndistroError("INSTALL_PATH_CONFLICT", `${target} is a directory`);
        if (existing) rmSync(target);
        if (e.type === "symlink") symlinkSync(e.linkname ?? "", target);
        else if (e.type === "hardlink") linkSync(join(root, e.linkname ?? ""), target);
        else if (e.type === "file") {
          const fd = openSync(target, "wx", 0o600);
          try {
            const data = e.content ?? Buffer.alloc(0);
            let off = 0;
            while (off < data.length) off += writeSync(fd, data, off);
          } finally {
            closeSync(fd);
          }
          chmodSync(target, e.mode);
        } else continue; // device nodes are not created on disk
      }
      if (asRoot) lchownSync(target, e.uid, e.gid);
    } catch (err) {
      throw fsError(err, "install", target);
    }
  }
  for (const [dir, mode] of dirModes.reverse()) chmodSync(dir, mode);
}
