/**
 * Dependency detection over a package's files, as melange does it: shared libraries needed by ELF
 * files (so:), the program interpreter, libraries offered (so: provides), commands in bin
 * directories (cmd:), pkg-config modules (pc:), and script interpreters from shebang lines.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { readElf } from "./elf.js";

export interface ScaFile {
  /** Path relative to the package root ("usr/bin/hello"). */
  path: string;
  type: "file" | "symlink" | "directory";
  mode: number;
  linkTarget?: string;
  /** Content of regular files (read lazily by the walker). */
  content?: Buffer;
}

export interface ScaResult {
  depends: string[];
  provides: string[];
  /** Why each entry was added, for build logs and SBOMs. */
  reasons: Record<string, string>;
  /** Interpreters and libraries found, for the record. */
  elf: Array<{ path: string; needed: string[]; soname?: string; interpreter?: string; rpath: string[] }>;
}

const BIN_DIRS = ["bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/local/bin/", "usr/local/sbin/"];
const PC_DIRS = ["usr/lib/pkgconfig/", "usr/share/pkgconfig/", "usr/lib64/pkgconfig/"];
/** Interpreters every image has (busybox or the base layout): no dependency is recorded for them. */
const BASE_INTERPRETERS = new Set(["sh"]);

/** Reads a staged package directory into ScaFile records. */
export function walkPackageDir(root: string): ScaFile[] {
  const out: ScaFile[] = [];
  const visit = (rel: string) => {
    const dir = rel ? join(root, rel) : root;
    for (const name of readdirSync(dir).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      if (st.isDirectory()) {
        out.push({ path, type: "directory", mode: st.mode & 0o7777 });
        visit(path);
      } else if (st.isSymbolicLink()) out.push({ path, type: "symlink", mode: 0o777, linkTarget: readlinkSync(join(root, path)) });
      else if (st.isFile()) out.push({ path, type: "file", mode: st.mode & 0o7777, content: readFileSync(join(root, path)) });
    }
  };
  visit("");
  return out;
}

function soVersion(soname: string): string {
  const m = /\.so\.(.+)$/.exec(soname);
  return m ? (m[1] as string) : "0";
}

/** `Version:` of a .pc file, with ${var} references from the same file expanded. */
function pcVersion(text: string): string | undefined {
  const vars = new Map<string, string>();
  let version: string | undefined;
  for (const line of text.split("\n")) {
    const v = /^([A-Za-z0-9_.]+)\s*=\s*(.*)$/.exec(line);
    if (v) vars.set(v[1] as string, (v[2] as string).trim());
    const f = /^Version:\s*(.*)$/.exec(line);
    if (f) version = (f[1] as string).trim();
  }
  if (version === undefined) return undefined;
  return version.replace(/\$\{([^}]+)\}/g, (_, k: string) => vars.get(k) ?? "");
}

function shebangInterpreter(content: Buffer): string | undefined {
  if (content.length < 3 || content[0] !== 0x23 || content[1] !== 0x21) return undefined;
  const end = content.indexOf(0x0a);
  const line = content.toString("utf8", 2, end < 0 ? Math.min(content.length, 256) : end).trim();
  const parts = line.split(/\s+/).filter(Boolean);
  let cmd = parts[0];
  if (cmd === undefined) return undefined;
  if (basename(cmd) === "env") {
    let i = 1;
    while (parts[i]?.startsWith("-")) i++;
    cmd = parts[i];
    if (cmd === undefined) return undefined;
  }
  return basename(cmd);
}

/**
 * Computes depends and provides. `fullVersion` is the package's version-rEPOCH (cmd: provides carry
 * it); `options` mirror melange's no-provides / no-depends / no-commands. With `machine` (the
 * package's architecture's ELF e_machine), ELF files of another machine give no so: provides or
 * needs: a cross compiler's target libraries (gcc-aarch64's aarch64 libstdc++ in an x86_64
 * package) are not libraries this architecture's programs can load, nor do they need its libc.
 */
export function analyzePackage(
  files: readonly ScaFile[],
  fullVersion: string,
  options: { noProvides?: boolean; noDepends?: boolean; noCommands?: boolean } = {},
  machine?: number,
): ScaResult {
  const depends = new Map<string, string>();
  const provides = new Map<string, string>();
  const elfs: ScaResult["elf"] = [];
  const providedSonames = new Set<string>();
  const needed: Array<{ lib: string; from: string }> = [];
  for (const f of files) {
    if (f.type !== "file" || f.content === undefined) continue;
    const elf = readElf(f.content);
    if (elf === null) continue;
    const record: ScaResult["elf"][number] = { path: f.path, needed: elf.needed, rpath: [...elf.rpath, ...elf.runpath] };
    if (elf.soname) record.soname = elf.soname;
    if (elf.interpreter) record.interpreter = elf.interpreter;
    elfs.push(record);
    if (machine !== undefined && elf.machine !== machine) continue;
    if (elf.interpreter) needed.push({ lib: basename(elf.interpreter), from: `${f.path} (program interpreter ${elf.interpreter})` });
    for (const lib of elf.needed) needed.push({ lib, from: `${f.path} (DT_NEEDED)` });
    if (elf.soname && elf.type === 3 && elf.soname.includes(".so")) {
      providedSonames.add(elf.soname);
      provides.set(`so:${elf.soname}=${soVersion(elf.soname)}`, `${f.path} has DT_SONAME ${elf.soname}`);
    }
  }
  for (const { lib, from } of needed) {
    if (providedSonames.has(lib)) continue; // satisfied inside the package
    depends.set(`so:${lib}`, from);
  }
  for (const f of files) {
    const inBin = BIN_DIRS.some((d) => f.path.startsWith(d) && !f.path.slice(d.length).includes("/"));
    if (inBin && (f.type === "file" || f.type === "symlink") && (f.type === "symlink" || f.mode & 0o111)) {
      if (!options.noCommands) provides.set(`cmd:${basename(f.path)}=${fullVersion}`, `${f.path} is a command`);
      if (f.type === "file" && f.content) {
        const interp = shebangInterpreter(f.content);
        if (interp && !BASE_INTERPRETERS.has(interp)) depends.set(`cmd:${interp}`, `${f.path} starts with #! ${interp}`);
      }
    }
    if (f.type === "file" && f.path.endsWith(".pc") && f.content && (PC_DIRS.some((d) => f.path.startsWith(d)) || f.path.includes("/pkgconfig/"))) {
      const v = pcVersion(f.content.toString("utf8"));
      if (v !== undefined) provides.set(`pc:${basename(f.path, ".pc")}=${v}`, `${f.path} declares Version ${v}`);
    }
  }
  const sort = (m: Map<string, string>) => [...m.keys()].sort();
  const reasons: Record<string, string> = {};
  for (const [k, v] of [...depends, ...provides]) reasons[k] = v;
  return {
    depends: options.noDepends ? [] : sort(depends),
    provides: options.noProvides ? [] : sort(provides),
    reasons,
    elf: elfs,
  };
}
