import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { fsError, UndistroError, writeFileAtomic } from "../util/index.js";
import { type ApkSigningKey, type SignatureAlgorithm, signBytes } from "./keys.js";
import { formatPkgInfo, type PackageInfo } from "./pkginfo.js";
import { END_OF_ARCHIVE, encodeEntry, type TarHeader } from "./tar.js";

/** Install scripts, by the control-file name apk runs them under. */
export const SCRIPT_NAMES = [".pre-install", ".post-install", ".pre-upgrade", ".post-upgrade", ".pre-deinstall", ".post-deinstall", ".trigger"] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

/**
 * zlib's own default. Measured on 100 MB of package-like content (npm run bench): level 9 made the
 * package 1.7% smaller and took 2.4x as long, so 6 is the default and 9 is an option.
 */
export const DEFAULT_COMPRESSION_LEVEL = 6;

export interface CreatePackageOptions {
  /** The staged root: its contents become the package's files. */
  sourceDir: string;
  /** Metadata; installedSize, dataHash and builddate are filled in. */
  info: PackageInfo;
  /** Without a key the package is written unsigned (apk then needs --allow-untrusted). */
  signingKey?: ApkSigningKey;
  signatureAlgorithm?: SignatureAlgorithm;
  /** Every mtime and builddate; see sourceDateEpoch() in util. */
  sourceDateEpoch: number;
  /** gzip level for all three members (default DEFAULT_COMPRESSION_LEVEL). */
  compressionLevel?: number;
  scripts?: Partial<Record<ScriptName, string | Uint8Array>>;
  /**
   * More control files, by name (each starts with "."; apk-tools ignores names it does not know):
   * the builder's record of how the package was built (.melange.yaml, .undistro-build.json).
   */
  controlFiles?: Record<string, string | Uint8Array>;
  /**
   * By default file modes are normalised so the umask of whoever staged the files does not show:
   * directories 0755, files 0755 when any execute bit is set and 0644 otherwise, setuid/setgid kept,
   * sticky directories 1777. `preserveModes` keeps them as staged (the builder uses it:
   * its sandbox runs with a fixed umask).
   */
  preserveModes?: boolean;
}

export interface CreatedPackage {
  /** The whole .apk, as the three gzip members in order. */
  members: { signature: Buffer | undefined; control: Buffer; data: Buffer };
  info: PackageInfo;
  /** `Q1` + base64 SHA-1 of the control member: the package's identity in an APKINDEX (`C:`). */
  checksum: string;
  size: number;
  fileCount: number;
}

interface StagedEntry {
  path: string;
  stats: Stats;
  absolute: string;
}

/** Byte order of UTF-8 names, so the order does not depend on locale or UTF-16 quirks. */
function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Depth-first walk, parents before children, siblings in byte order (as melange writes data tars). */
function walk(root: string): StagedEntry[] {
  const out: StagedEntry[] = [];
  const visit = (rel: string) => {
    const dir = rel === "" ? root : join(root, rel);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      throw fsError(err, "read staged directory", dir);
    }
    names.sort(byteCompare);
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const absolute = join(root, path);
      const stats = lstatSync(absolute);
      out.push({ path, stats, absolute });
      if (stats.isDirectory()) visit(path);
    }
  };
  try {
    if (!lstatSync(root).isDirectory()) throw new UndistroError("APK_BAD_INPUT", `${root} is not a directory`);
  } catch (err) {
    throw fsError(err, "read staged directory", root);
  }
  visit("");
  return out;
}

export function normaliseMode(kind: "directory" | "file" | "symlink", mode: number): number {
  const special = mode & 0o6000;
  if (kind === "symlink") return 0o777;
  if (kind === "directory") {
    // The sticky bit only means something on a world-writable directory (/tmp): a umask may have
    // narrowed the rest, the sticky bit says what was meant.
    if (mode & 0o1000) return 0o1777;
    return 0o755 | special;
  }
  return (mode & 0o111 ? 0o755 : 0o644) | special;
}

function q1(control: Buffer): string {
  return `Q1${createHash("sha1").update(control).digest("base64")}`;
}

function header(name: string, type: TarHeader["type"], mode: number, mtime: number, size = 0, linkname = "", pax: Record<string, string> = {}): TarHeader {
  return { name, type, mode, uid: 0, gid: 0, uname: "root", gname: "root", mtime, size, linkname, pax };
}

/**
 * Streams the data tar through gzip, reading files as it goes so memory stays flat while the
 * compressor runs on the thread pool.
 */
async function writeDataMember(entries: StagedEntry[], opts: CreatePackageOptions): Promise<{ data: Buffer; installedSize: number; files: number }> {
  const gz = zlib.createGzip({ level: opts.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL, chunkSize: 256 * 1024 });
  const out: Buffer[] = [];
  gz.on("data", (chunk: Buffer) => out.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    gz.on("end", resolve);
    gz.on("error", reject);
  });
  // Small tar pieces are gathered into ~1 MiB writes: each write to a zlib stream is a round trip to
  // the thread pool, and thousands of 512-byte writes would cost more than the compression.
  const BATCH = 1 << 20;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    if (!gz.write(chunk)) await new Promise<void>((r) => gz.once("drain", r));
  };
  const write = async (chunks: Buffer[]) => {
    for (const c of chunks) {
      if (c.length === 0) continue;
      pending.push(c);
      pendingBytes += c.length;
    }
    if (pendingBytes >= BATCH) await flush();
  };
  const mtime = opts.sourceDateEpoch;
  const seenInodes = new Map<string, string>();
  let installedSize = 0;
  let files = 0;
  for (const e of entries) {
    const st = e.stats;
    const modeOf = (kind: "directory" | "file" | "symlink") => (opts.preserveModes ? st.mode & 0o7777 : normaliseMode(kind, st.mode));
    if (st.isDirectory()) {
      await write(encodeEntry(header(e.path, "directory", modeOf("directory"), mtime)));
    } else if (st.isSymbolicLink()) {
      const target = readlinkSync(e.absolute);
      const sum = createHash("sha1").update(target).digest("hex");
      await write(encodeEntry(header(e.path, "symlink", 0o777, mtime, 0, target, { "APK-TOOLS.checksum.SHA1": sum })));
      files++;
    } else if (st.isFile()) {
      const inode = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? seenInodes.get(inode) : undefined;
      if (first !== undefined) {
        await write(encodeEntry(header(e.path, "hardlink", modeOf("file"), mtime, 0, first)));
      } else {
        if (st.nlink > 1) seenInodes.set(inode, e.path);
        let content: Buffer;
        try {
          content = readFileSync(e.absolute);
        } catch (err) {
          throw fsError(err, "read staged file", e.absolute);
        }
        const sum = createHash("sha1").update(content).digest("hex");
        installedSize += content.length;
        await write(encodeEntry(header(e.path, "file", modeOf("file"), mtime, content.length, "", { "APK-TOOLS.checksum.SHA1": sum }), content));
      }
      files++;
    } else {
      throw new UndistroError(
        "APK_BAD_INPUT",
        `${e.absolute}: only regular files, directories and symlinks can be packaged (this is a device, FIFO or socket)`,
        {
          hint: "create device nodes at install time from a script instead",
        },
      );
    }
  }
  await write([END_OF_ARCHIVE]);
  await flush();
  gz.end();
  await done;
  return { data: Buffer.concat(out), installedSize, files };
}

function cutTar(chunks: Buffer[]): Buffer {
  // No end-of-archive blocks: the tar continues in the next gzip member.
  return Buffer.concat(chunks);
}

/** A control file of our own: a dot-file name apk-tools attaches no meaning to. */
export function isExtraControlName(name: string): boolean {
  return (
    /^\.[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name) && name !== ".PKGINFO" && !name.startsWith(".SIGN.") && !(SCRIPT_NAMES as readonly string[]).includes(name)
  );
}

/** Builds a package in memory. Output is a pure function of the staged tree's content, the options and the key. */
export async function createPackage(opts: CreatePackageOptions): Promise<CreatedPackage> {
  const level = opts.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
  const entries = walk(opts.sourceDir);
  for (const e of entries) {
    if (
      e.path.startsWith(".") &&
      !e.path.includes("/") &&
      (e.path === ".PKGINFO" || e.path.startsWith(".SIGN.") || (SCRIPT_NAMES as readonly string[]).includes(e.path))
    ) {
      throw new UndistroError("APK_BAD_INPUT", `${e.absolute}: the staged tree may not contain control file ${e.path}`, {
        hint: "pass scripts as options; .PKGINFO and signatures are written by undistro",
      });
    }
  }
  const { data, installedSize, files } = await writeDataMember(entries, opts);
  const info: PackageInfo = {
    ...opts.info,
    installedSize,
    buildDate: opts.sourceDateEpoch,
    dataHash: createHash("sha256").update(data).digest("hex"),
  };
  const pkginfo = Buffer.from(formatPkgInfo(info), "utf8");
  const controlChunks: Buffer[] = [...encodeEntry(header(".PKGINFO", "file", 0o644, opts.sourceDateEpoch, pkginfo.length), pkginfo)];
  for (const name of SCRIPT_NAMES) {
    const script = opts.scripts?.[name];
    if (script === undefined) continue;
    const body = typeof script === "string" ? Buffer.from(script, "utf8") : Buffer.from(script);
    controlChunks.push(...encodeEntry(header(name, "file", 0o755, opts.sourceDateEpoch, body.length), body));
  }
  for (const [name, content] of Object.entries(opts.controlFiles ?? {}).sort(([a], [b]) => byteCompare(a, b))) {
    if (!isExtraControlName(name)) {
      throw new UndistroError("APK_BAD_INPUT", `control file name ${JSON.stringify(name)} is not a plain dot-file name, or is one apk-tools gives a meaning`, {
        hint: "name extra control files .NAME (not .PKGINFO, .SIGN.*, or an install script's name)",
      });
    }
    const body = typeof content === "string" ? Buffer.from(content, "utf8") : Buffer.from(content);
    controlChunks.push(...encodeEntry(header(name, "file", 0o644, opts.sourceDateEpoch, body.length), body));
  }
  const control = zlib.gzipSync(cutTar(controlChunks), { level });
  let signature: Buffer | undefined;
  if (opts.signingKey !== undefined) {
    const algorithm = opts.signatureAlgorithm ?? "RSA256";
    const sig = signBytes(control, opts.signingKey, algorithm);
    const name = `.SIGN.${algorithm}.${opts.signingKey.keyName}`;
    signature = zlib.gzipSync(cutTar(encodeEntry(header(name, "file", 0o644, opts.sourceDateEpoch, sig.length), sig)), { level });
  }
  const size = (signature?.length ?? 0) + control.length + data.length;
  return { members: { signature, control, data }, info, checksum: q1(control), size, fileCount: files };
}

/** Builds a package and writes it to `outPath` atomically (temp file, fsync, rename). */
export async function writePackage(opts: CreatePackageOptions, outPath: string): Promise<CreatedPackage> {
  const pkg = await createPackage(opts);
  const { signature, control, data } = pkg.members;
  writeFileAtomic(outPath, signature === undefined ? [control, data] : [signature, control, data]);
  return pkg;
}
