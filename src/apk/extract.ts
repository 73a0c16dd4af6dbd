import { chmodSync, closeSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync, utimesSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fsError, UndistroError } from "../util/index.js";
import { type ApkPackage, safeRelativePath } from "./package-reader.js";

export interface ExtractResult {
  directories: number;
  files: number;
  symlinks: number;
  hardlinks: number;
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Makes sure every parent of `rel` under `root` is a real directory, creating missing ones and
 * refusing any that is a symlink: files are never written through a link, wherever it points.
 */
function ensureParents(root: string, rel: string, source: string): void {
  const parts = rel.split("/");
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = join(cur, parts[i] as string);
    const st = lstatOrUndefined(cur);
    if (st === undefined) {
      mkdirSync(cur, { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      throw new UndistroError(
        "APK_UNSAFE_PATH",
        `${source}: ${rel}: parent ${parts.slice(0, i + 1).join("/")} is a symlink in the target root; refusing to write through it`,
      );
    } else if (!st.isDirectory()) {
      throw new UndistroError("APK_PATH_CONFLICT", `${source}: ${rel}: parent ${parts.slice(0, i + 1).join("/")} exists and is not a directory`);
    }
  }
}

/**
 * Writes a package's files under `root` as apk would install them (no scripts run). Owners are set
 * when running as root; modes and mtimes always.
 */
export function extractPackage(pkg: ApkPackage, root: string): ExtractResult {
  const result: ExtractResult = { directories: 0, files: 0, symlinks: 0, hardlinks: 0 };
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const dirModes: Array<[string, number, number]> = [];
  try {
    mkdirSync(root, { recursive: true });
  } catch (err) {
    throw fsError(err, "create", root);
  }
  for (const entry of pkg.dataEntries) {
    const h = entry.header;
    const rel = safeRelativePath(h.name);
    if (rel === undefined || rel === "") throw new UndistroError("APK_UNSAFE_PATH", `${pkg.source}: refusing entry ${JSON.stringify(h.name)}`);
    const target = join(root, rel);
    try {
      ensureParents(root, rel, pkg.source);
      const existing = lstatOrUndefined(target);
      if (h.type === "directory") {
        if (existing === undefined) mkdirSync(target, { mode: 0o755 });
        else if (!existing.isDirectory()) {
          throw new UndistroError("APK_PATH_CONFLICT", `${pkg.source}: ${rel}: a directory is wanted but a file is there`);
        }
        if (asRoot) lchownSync(target, h.uid, h.gid);
        dirModes.push([target, h.mode, h.mtime]);
        result.directories++;
        continue;
      }
      if (existing?.isDirectory()) throw new UndistroError("APK_PATH_CONFLICT", `${pkg.source}: ${rel}: a directory is in the way`);
      if (existing !== undefined) rmSync(target);
      if (h.type === "symlink") {
        symlinkSync(h.linkname, target);
        if (asRoot) lchownSync(target, h.uid, h.gid);
        lutimesSync(target, h.mtime, h.mtime);
        result.symlinks++;
      } else if (h.type === "hardlink") {
        const linkRel = safeRelativePath(h.linkname);
        if (linkRel === undefined || linkRel === "") throw new UndistroError("APK_UNSAFE_PATH", `${pkg.source}: hardlink ${rel} points outside the root`);
        ensureParents(root, linkRel, pkg.source);
        const src = join(root, linkRel);
        const srcStat = lstatOrUndefined(src);
        if (srcStat === undefined || !srcStat.isFile()) {
          throw new UndistroError("APK_BAD_STRUCTURE", `${pkg.source}: hardlink ${rel} points at ${linkRel}, which is not a regular file written before it`);
        }
        linkSync(src, target);
        result.hardlinks++;
      } else if (h.type === "file") {
        // "wx": O_CREAT|O_EXCL never follows a symlink planted at the target.
        const fd = openSync(target, "wx", 0o600);
        try {
          let off = 0;
          while (off < entry.content.length) off += writeSync(fd, entry.content, off);
        } finally {
          closeSync(fd);
        }
        if (asRoot) lchownSync(target, h.uid, h.gid);
        chmodSync(target, h.mode);
        utimesSync(target, h.mtime, h.mtime);
        result.files++;
      } else {
        throw new UndistroError("APK_BAD_STRUCTURE", `${pkg.source}: ${rel}: device, FIFO and other special entries are not extracted`);
      }
    } catch (err) {
      throw fsError(err, "extract", target);
    }
  }
  // Directory modes last and deepest first, so a read-only directory does not block its own contents.
  for (const [dir, mode, mtime] of dirModes.reverse()) {
    chmodSync(dir, mode);
    utimesSync(dir, mtime, mtime);
  }
  return result;
}
