/**
 * The image's root filesystem, assembled in memory from packages: every path resolved inside the
 * root (a symlink can never lead outside it), ownership conflicts refused unless `replaces` allows
 * them, and apk's installed database kept alongside, so the result is exactly what `apk add` into
 * an empty root would leave.
 */
import { createHash } from "node:crypto";
import { type ApkPackage, formatIndexEntry, indexEntryFromPackage, safeRelativePath } from "../apk/index.js";
import { UndistroError } from "../util/index.js";

export type FsType = "file" | "directory" | "symlink" | "hardlink" | "char";

export interface FsEntry {
  path: string;
  type: FsType;
  mode: number;
  uid: number;
  gid: number;
  content?: Buffer;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Package that owns it (undefined for what the image builder made). */
  owner?: string;
}

const MAX_SYMLINK_HOPS = 40;

export class RootFs {
  readonly entries = new Map<string, FsEntry>();
  /** Installed packages in install order, with what they put where. */
  readonly installed: Array<{ pkg: ApkPackage; paths: string[] }> = [];

  /**
   * Resolves the directories of `path` inside the root, following symlinks that already exist
   * there the way the kernel would when unpacking, but clamped at the root: absolute targets start
   * at the image root and `..` never climbs above it.
   */
  resolveParent(path: string, where: string): string {
    const parts = path.split("/");
    const name = parts.pop() as string;
    let resolved: string[] = [];
    let hops = 0;
    const queue = [...parts];
    while (queue.length > 0) {
      const part = queue.shift() as string;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        resolved.pop();
        continue;
      }
      const candidate = [...resolved, part].join("/");
      const e = this.entries.get(candidate);
      if (e?.type === "symlink" && e.linkname !== undefined) {
        if (++hops > MAX_SYMLINK_HOPS) throw new UndistroError("IMAGE_UNSAFE_PATH", `${where}: ${path}: too many symlinks`);
        const target = e.linkname;
        if (target.startsWith("/")) resolved = [];
        queue.unshift(...target.split("/"));
        continue;
      }
      if (e && e.type !== "directory") throw new UndistroError("IMAGE_PATH_CONFLICT", `${where}: ${path}: ${candidate} is a ${e.type}, not a directory`);
      resolved.push(part);
    }
    return [...resolved, name].filter(Boolean).join("/");
  }

  /** A regular file's content, following symlinks inside the root; undefined when there is none. */
  readFile(path: string): Buffer | undefined {
    let current = path.replace(/^\/+/, "");
    for (let hops = 0; hops <= MAX_SYMLINK_HOPS; hops++) {
      const resolved = this.resolveParent(current, "image");
      const e = this.entries.get(resolved);
      if (e?.type !== "symlink" || e.linkname === undefined) return e?.type === "file" ? e.content : undefined;
      const dir = resolved.split("/").slice(0, -1).join("/");
      current = e.linkname.startsWith("/") ? e.linkname.slice(1) : `${dir}/${e.linkname}`;
    }
    return undefined;
  }

  /** Makes sure every directory above `path` exists (0755 root). */
  private ensureParents(path: string): void {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!this.entries.has(dir)) this.entries.set(dir, { path: dir, type: "directory", mode: 0o755, uid: 0, gid: 0 });
    }
  }

  /** Adds or replaces an entry the image builder makes itself. */
  put(entry: FsEntry): void {
    const path = this.resolveParent(entry.path, "image");
    this.ensureParents(path);
    this.entries.set(path, { ...entry, path });
  }

  installPackage(pkg: ApkPackage, replaces: (owner: string) => boolean): void {
    const name = pkg.info.name;
    const paths: string[] = [];
    for (const e of pkg.dataEntries) {
      const rel = safeRelativePath(e.header.name);
      if (rel === undefined || rel === "") throw new UndistroError("IMAGE_UNSAFE_PATH", `${pkg.source}: ${e.header.name} would land outside the image root`);
      const h = e.header;
      // A directory where the tree already has a symlink follows it (merged-/usr style links).
      const path = h.type === "directory" ? this.resolveParent(`${rel}/.`, pkg.source).replace(/\/?\.?$/, "") : this.resolveParent(rel, pkg.source);
      if (path === "") continue;
      const existing = this.entries.get(path);
      if (h.type === "directory") {
        if (existing && existing.type !== "directory") {
          throw new UndistroError(
            "IMAGE_PATH_CONFLICT",
            `${pkg.source}: ${path} is a directory in ${name} but a ${existing.type} from ${existing.owner ?? "the image"}`,
          );
        }
        this.ensureParents(path);
        if (!existing) this.entries.set(path, { path, type: "directory", mode: h.mode, uid: h.uid, gid: h.gid, owner: name });
        paths.push(path);
        continue;
      }
      if (existing?.type === "directory") {
        throw new UndistroError("IMAGE_PATH_CONFLICT", `${pkg.source}: ${path} is a ${h.type} in ${name} but a directory already exists there`);
      }
      if (existing?.owner && existing.owner !== name && !replaces(existing.owner)) {
        throw new UndistroError("IMAGE_FILE_CONFLICT", `${path} is in both ${existing.owner} and ${name}`, {
          hint: `packages may only overwrite each other's files when one declares replaces: the other (or they share an origin)`,
        });
      }
      this.ensureParents(path);
      const entry: FsEntry = { path, type: "file", mode: h.mode, uid: h.uid, gid: h.gid, owner: name };
      if (h.type === "file") entry.content = e.content;
      else if (h.type === "symlink") {
        entry.type = "symlink";
        entry.linkname = h.linkname;
      } else if (h.type === "hardlink") {
        const target = safeRelativePath(h.linkname);
        if (target === undefined || target === "") throw new UndistroError("IMAGE_UNSAFE_PATH", `${pkg.source}: hardlink ${path} points outside the root`);
        const t = this.entries.get(this.resolveParent(target, pkg.source));
        if (t?.type !== "file") throw new UndistroError("IMAGE_PATH_CONFLICT", `${pkg.source}: hardlink ${path} → ${target}, which is not a file`);
        entry.type = "hardlink";
        entry.linkname = t.path;
      } else {
        throw new UndistroError("IMAGE_UNSUPPORTED_ENTRY", `${pkg.source}: ${path}: device, FIFO and other special files are not installed from packages`);
      }
      this.entries.set(path, entry);
      paths.push(path);
    }
    this.installed.push({ pkg, paths });
  }

  /** apk's installed database text for everything installed so far. */
  installedDatabase(): string {
    const blocks: string[] = [];
    for (const { pkg, paths } of this.installed) {
      const entry = indexEntryFromPackage(pkg.info, pkg.checksum, pkg.fileSize);
      // apk's installed database: the index record, then what only the database keeps (replaces
      // and their priority), then the files.
      let block = formatIndexEntry(entry);
      if (pkg.info.replaces.length) block += `r:${pkg.info.replaces.join(" ")}\n`;
      if (pkg.info.replacesPriority) block += `q:${pkg.info.replacesPriority}\n`;
      let currentDir: string | undefined;
      const lines: string[] = [];
      for (const p of paths) {
        const e = this.entries.get(p);
        if (!e) continue;
        // Directories are listed for every package that has them (apk counts references);
        // files only while this package still owns them (a later package may have replaced them).
        if (e.type !== "directory" && e.owner !== pkg.info.name) continue;
        if (e.type === "directory") {
          lines.push(`F:${p}`);
          currentDir = p;
          if (e.uid !== 0 || e.gid !== 0 || (e.mode & 0o7777) !== 0o755) lines.push(`M:${e.uid}:${e.gid}:${(e.mode & 0o7777).toString(8)}`);
          continue;
        }
        const slash = p.lastIndexOf("/");
        const dir = slash < 0 ? "" : p.slice(0, slash);
        if (dir !== currentDir) {
          lines.push(`F:${dir}`);
          currentDir = dir;
        }
        lines.push(`R:${p.slice(slash + 1)}`);
        // As apk-tools 2.14 writes it: the entry's tar mode, owner and group unless they are 0644
        // root:root (so a symlink, usually 0777, gets one too), the mode in octal without padding.
        if (e.uid !== 0 || e.gid !== 0 || (e.mode & 0o7777) !== 0o644) lines.push(`a:${e.uid}:${e.gid}:${(e.mode & 0o7777).toString(8)}`);
        const subject = e.type === "symlink" ? Buffer.from(e.linkname ?? "") : e.type === "hardlink" ? this.entries.get(e.linkname ?? "")?.content : e.content;
        if (subject) lines.push(`Z:Q1${createHash("sha1").update(subject).digest("base64")}`);
      }
      if (lines.length) block += `${lines.join("\n")}\n`;
      blocks.push(block);
    }
    return blocks.map((b) => `${b}\n`).join("");
  }

  /** Sorted entries, parents before children (byte order of paths). */
  sorted(): FsEntry[] {
    return [...this.entries.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }
}
