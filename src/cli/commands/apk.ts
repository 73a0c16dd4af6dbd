import { readFileSync } from "node:fs";
import type { Command } from "commander";
import {
  type CreatedPackage,
  describePackage,
  emptyPackageInfo,
  extractPackageFile,
  isSignatureAlgorithm,
  isValidVersion,
  loadSigningKey,
  parseDependency,
  SCRIPT_NAMES,
  type ScriptName,
  verifyPackageFile,
  writePackage,
} from "../../apk/index.js";
import { fsError, sourceDateEpoch, UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action, collect } from "./shared.js";

interface CreateFlags {
  name?: string;
  version?: string;
  arch: string;
  depends: string[];
  provides: string[];
  replaces: string[];
  installIf: string[];
  description?: string;
  url?: string;
  license?: string;
  origin?: string;
  commit?: string;
  maintainer?: string;
  providerPriority?: string;
  script: string[];
  signingKey?: string;
  signatureAlgorithm: string;
  compressionLevel: string;
  preserveModes?: boolean;
  out?: string;
  json?: boolean;
}

export function registerApk(program: Command, io: Io): void {
  const apk = program.command("apk").description("create, inspect, verify and extract APK v2 packages");

  apk
    .command("create <dir>")
    .description("package a staged directory as a signed .apk (plumbing for prebuilt files)")
    .option("--name <name>", "package name (pkgname)")
    .option("--version <version>", "full version with release, e.g. 1.2.3-r0")
    .option("--arch <arch>", "architecture", "x86_64")
    .option("--depends <atom>", "runtime dependency (repeatable)", collect, [])
    .option("--provides <atom>", "provided name (repeatable)", collect, [])
    .option("--replaces <name>", "package whose files this one may overwrite (repeatable)", collect, [])
    .option("--install-if <atom>", "install_if condition (repeatable)", collect, [])
    .option("--description <text>", "one-line description (pkgdesc)")
    .option("--url <url>", "upstream URL")
    .option("--license <spdx>", "SPDX license expression")
    .option("--origin <name>", "source package name (default: the package name)")
    .option("--commit <sha>", "source repository commit")
    .option("--maintainer <who>", "maintainer")
    .option("--provider-priority <n>", "provider_priority for unversioned provides")
    .option("--script <kind=FILE>", `install script, kind one of ${SCRIPT_NAMES.map((s) => s.slice(1)).join(", ")} (repeatable)`, collect, [])
    .option("--signing-key <key.rsa>", "RSA private key (NAME.rsa); its public half is NAME.rsa.pub")
    .option("--signature-algorithm <alg>", "RSA256 (SHA-256) or RSA (SHA-1, for old apk-tools)", "RSA256")
    .option("--compression-level <n>", "gzip level 1-9", "6")
    .option("--preserve-modes", "keep file modes as staged instead of normalising them")
    .option("--out <file.apk>", "output file")
    .option("--json", "print the result as JSON")
    .action(
      action(io, async (dir: string, f: CreateFlags) => {
        const created = await createFromFlags(dir, f);
        if (f.json) {
          printJson(io, { file: f.out, checksum: created.checksum, size: created.size, files: created.fileCount, info: created.info });
        } else {
          io.out(
            `wrote ${f.out}: ${created.info.name}-${created.info.version} (${created.info.arch}), ${created.fileCount} files, ${created.size} bytes, ${created.checksum}\n`,
          );
        }
      }),
    );

  apk
    .command("info <file>")
    .description("show a package's metadata, signatures and files")
    .option("--json", "print as JSON")
    .action(
      action(io, async (file: string, f: { json?: boolean }) => {
        const d = describePackage(file);
        if (f.json) return printJson(io, d);
        const i = d.info;
        const rows: Array<[string, string | number | undefined]> = [
          ["name", i.name],
          ["version", i.version],
          ["arch", i.arch],
          ["description", i.description],
          ["url", i.url],
          ["license", i.license],
          ["origin", i.origin],
          ["commit", i.commit],
          ["build date", i.buildDate],
          ["installed size", i.installedSize],
          ["file size", d.fileSize],
          ["checksum", d.checksum],
          ["datahash", i.dataHash === undefined ? undefined : `${i.dataHash}${d.dataHashMatches ? "" : " (DOES NOT MATCH the data)"}`],
          ["depends", i.depends.join(" ")],
          ["provides", i.provides.join(" ")],
          ["replaces", i.replaces.join(" ")],
          ["install_if", i.installIf.join(" ")],
          ["provider_priority", i.providerPriority],
          ["triggers", i.triggers.join(" ")],
          ["scripts", d.scripts.join(" ")],
          ["signatures", d.signatures.map((s) => `${s.algorithm}:${s.keyName}`).join(" ") || "none"],
        ];
        for (const [k, v] of rows) if (v !== undefined && v !== "") io.out(`${`${k}:`.padEnd(19)}${v}\n`);
        io.out(`files (${d.files.length}):\n`);
        for (const file of d.files) {
          io.out(
            `  ${file.mode} ${String(file.uid).padStart(4)}:${String(file.gid).padEnd(4)} ${String(file.size).padStart(10)} ${file.path}${file.linkTarget ? ` -> ${file.linkTarget}` : ""}\n`,
          );
        }
      }),
    );

  apk
    .command("verify <file>")
    .description("verify signature, datahash and every file checksum against a keys directory")
    .requiredOption("--keys-dir <dir>", "directory of trusted public keys (like /etc/apk/keys)")
    .option("--json", "print as JSON")
    .action(
      action(io, async (file: string, f: { keysDir: string; json?: boolean }) => {
        const r = verifyPackageFile(file, f.keysDir);
        if (f.json) printJson(io, { ok: true, ...r });
        else io.out(`${file}: OK ${r.name}-${r.version}, signed ${r.algorithm} by ${r.keyName}, datahash ${r.dataHash}, ${r.filesChecked} file checksums\n`);
      }),
    );

  apk
    .command("extract <file> <dir>")
    .description("extract a package's files into a directory (refusing paths that escape it)")
    .option("--keys-dir <dir>", "verify against these keys first")
    .option("--json", "print as JSON")
    .action(
      action(io, async (file: string, dir: string, f: { keysDir?: string; json?: boolean }) => {
        const r = extractPackageFile(file, dir, f.keysDir);
        if (f.json) printJson(io, r);
        else
          io.out(
            `extracted ${file} into ${dir}: ${r.files} files, ${r.directories} directories, ${r.symlinks} symlinks, ${r.hardlinks} hardlinks${r.verified ? ` (verified by ${r.verified.keyName})` : " (not verified: no --keys-dir)"}\n`,
          );
      }),
    );
}

async function createFromFlags(dir: string, f: CreateFlags): Promise<CreatedPackage> {
  if (!f.name) throw new UndistroError("USAGE", "apk create needs --name");
  if (!f.version) throw new UndistroError("USAGE", "apk create needs --version (e.g. 1.0.0-r0)");
  if (!f.out) throw new UndistroError("USAGE", "apk create needs --out FILE.apk");
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(f.name)) {
    throw new UndistroError("APK_BAD_FIELD", `--name ${JSON.stringify(f.name)}: package names use [a-zA-Z0-9._+-] and start with a letter or digit`);
  }
  if (!isValidVersion(f.version))
    throw new UndistroError("APK_BAD_FIELD", `--version ${JSON.stringify(f.version)} is not a valid APK version`, { hint: "e.g. 2.12.1-r0" });
  if (!isSignatureAlgorithm(f.signatureAlgorithm)) throw new UndistroError("USAGE", `--signature-algorithm ${f.signatureAlgorithm}: use RSA256 or RSA`);
  const level = Number(f.compressionLevel);
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new UndistroError("USAGE", `--compression-level ${f.compressionLevel}: use 1 to 9`);
  for (const a of [...f.depends, ...f.installIf]) parseDependency(a, "--depends/--install-if");
  for (const a of f.provides) parseDependency(a, "--provides");
  const info = emptyPackageInfo(f.name, f.version, f.arch);
  info.depends = f.depends;
  info.provides = f.provides;
  info.replaces = f.replaces;
  info.installIf = f.installIf;
  if (f.description !== undefined) info.description = f.description;
  if (f.url !== undefined) info.url = f.url;
  if (f.license !== undefined) info.license = f.license;
  if (f.origin !== undefined) info.origin = f.origin;
  if (f.commit !== undefined) info.commit = f.commit;
  if (f.maintainer !== undefined) info.maintainer = f.maintainer;
  if (f.providerPriority !== undefined) {
    if (!/^[0-9]+$/.test(f.providerPriority)) throw new UndistroError("USAGE", `--provider-priority ${f.providerPriority}: a whole number`);
    info.providerPriority = Number(f.providerPriority);
  }
  const scripts: Partial<Record<ScriptName, Buffer>> = {};
  for (const s of f.script) {
    const eq = s.indexOf("=");
    const kind = `.${s.slice(0, eq)}` as ScriptName;
    if (eq < 0 || !(SCRIPT_NAMES as readonly string[]).includes(kind)) {
      throw new UndistroError("USAGE", `--script ${s}: use KIND=FILE with KIND one of ${SCRIPT_NAMES.map((n) => n.slice(1)).join(", ")}`);
    }
    const file = s.slice(eq + 1);
    try {
      scripts[kind] = readFileSync(file);
    } catch (err) {
      throw fsError(err, "read script", file);
    }
  }
  const opts: Parameters<typeof writePackage>[0] = {
    sourceDir: dir,
    info,
    sourceDateEpoch: sourceDateEpoch(),
    signatureAlgorithm: f.signatureAlgorithm,
    compressionLevel: level,
    scripts,
    preserveModes: f.preserveModes ?? false,
  };
  if (f.signingKey !== undefined) opts.signingKey = loadSigningKey(f.signingKey);
  return writePackage(opts, f.out);
}
