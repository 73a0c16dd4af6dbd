/**
 * `undistro rebuild-check`: rebuilds packages from the records they carry and compares bit for
 * bit. A package is first checked against its own records (datahash, every file's checksum, the
 * recipe's digest, the signature when keys are given): one that does not match them is reported
 * as such and not rebuilt. The rest are grouped by the recipe build that made them (one rebuild
 * per origin), rebuilt under the chosen variations, and compared: control and data members, the
 * signature excluded (a rebuilder does not hold the signing key; the signature covers the control
 * member, which holds the data's digest, so equal members mean the signed content is equal).
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { type ApkKeyring, type ApkPackage, parsePackage, repositoryArchitectures, verifyFileChecksums, verifyPackage } from "../apk/index.js";
import {
  BUILD_RECORD_FILE,
  type BuildRecord,
  buildRecipe,
  hostArch,
  hostToolchain,
  lockedEnvironment,
  lockedSysroot,
  parseBuildRecord,
  RECIPE_RECORD_FILE,
  recipeDigest,
} from "../build/index.js";
import { fsError, UndistroError } from "../util/index.js";
import { compareMembers, diffoscopeReport, type EntryDifference } from "./compare.js";
import { type AppliedVariation, planVariations, type VariationName } from "./variations.js";

export type PackageStatus = "reproduced" | "differs" | "not-self-consistent" | "no-record" | "rebuild-failed";

export interface PackageVerdict {
  file: string;
  name: string;
  version: string;
  origin: string;
  status: PackageStatus;
  /** sha256 of the .apk as published (what installers fetch; the verdict's subject). */
  sha256: string;
  /** sha256 of the control and data members: what is compared. */
  expected: string;
  obtained?: string;
  /** Entries that differ, by our own comparison (diffoscope's report says how). */
  differences?: EntryDifference[];
  report?: { text: string; html?: string };
  reason?: string;
  /** Warnings that do not decide the verdict (another host toolchain, keys not checked). */
  notes: string[];
  /** What the rebuild was made from, as the package's record names it (a verdict's inputs). */
  inputs?: Record<string, unknown>;
}

export interface RebuildCheckOptions {
  /** APK public key files: packages and the environment must be signed with one of them. */
  keyring: ApkKeyring;
  keyFiles: string[];
  /** Where environment packages come from (default: each package's own repository). */
  repositories?: string[];
  sourceMirrors?: string[];
  cacheDir?: string;
  variations: VariationName[];
  /** diffoscope reports go here (default: a directory in the system's temp dir). */
  reportDir?: string;
  /** The recipe's directory, for recipes that read files beside them (patches). */
  recipeDir?: string;
  logDir?: string;
  onProgress?: (message: string) => void;
}

export interface RebuildCheckResult {
  packages: PackageVerdict[];
  reproduced: number;
  total: number;
  variations: AppliedVariation[];
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The .apk files of a repository directory: every ARCH/*.apk. */
export function repositoryPackages(dir: string): string[] {
  if (!existsSync(dir)) throw new UndistroError("USAGE", `${dir}: no such repository directory`);
  const out: string[] = [];
  for (const arch of repositoryArchitectures(dir)) {
    const archDir = join(dir, arch);
    for (const f of readdirSync(archDir).sort()) if (f.endsWith(".apk")) out.push(join(archDir, f));
  }
  if (!out.length)
    throw new UndistroError("USAGE", `${dir}: no ARCH/*.apk beside an APKINDEX.tar.gz`, {
      hint: "give a repository directory (as `undistro build --out` writes it) or .apk files",
    });
  return out;
}

interface Examined {
  verdict: PackageVerdict;
  pkg?: ApkPackage;
  record?: BuildRecord;
  recipe?: Buffer;
}

/** Checks a package against what it says about itself; returns the record when it holds. */
function examine(file: string, opts: RebuildCheckOptions): Examined {
  const base = { file, name: basename(file, ".apk"), version: "", origin: "", sha256: "", expected: "", notes: [] as string[] };
  let pkg: ApkPackage;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
    pkg = parsePackage(bytes, file);
  } catch (err) {
    const e = err instanceof UndistroError ? err : fsError(err, "read package", file);
    return { verdict: { ...base, status: "not-self-consistent", reason: `does not match its own records: ${e.message}` } };
  }
  const verdict: PackageVerdict = {
    ...base,
    name: pkg.info.name,
    version: pkg.info.version,
    origin: pkg.info.origin ?? pkg.info.name,
    status: "reproduced",
    sha256: sha256(bytes),
    expected: sha256(pkg.controlAndData),
  };
  try {
    if (opts.keyring.size > 0) verifyPackage(pkg, opts.keyring);
    else {
      verdict.notes.push("signature NOT checked: no keys given (--keyring)");
      if (pkg.info.dataHash !== undefined && pkg.info.dataHash !== pkg.computedDataHash) {
        throw new UndistroError(
          "APK_DATAHASH_MISMATCH",
          `${file}: data member sha256 is ${pkg.computedDataHash} but .PKGINFO datahash says ${pkg.info.dataHash}`,
        );
      }
      verifyFileChecksums(pkg);
    }
  } catch (err) {
    if (!(err instanceof UndistroError)) throw err;
    return { verdict: { ...verdict, status: "not-self-consistent", reason: `does not match its own records: ${err.message}` } };
  }
  const recordBytes = pkg.controlFiles[BUILD_RECORD_FILE];
  const recipe = pkg.controlFiles[RECIPE_RECORD_FILE];
  if (!recordBytes || !recipe) {
    return {
      verdict: {
        ...verdict,
        status: "no-record",
        reason: `carries no ${!recordBytes ? BUILD_RECORD_FILE : RECIPE_RECORD_FILE}: not built by an undistro that records its builds`,
      },
    };
  }
  let record: BuildRecord;
  try {
    record = parseBuildRecord(recordBytes, file);
  } catch (err) {
    if (!(err instanceof UndistroError)) throw err;
    return { verdict: { ...verdict, status: "not-self-consistent", reason: `does not match its own records: ${err.message}` } };
  }
  if (recipeDigest(recipe) !== record.recipe.sha256) {
    return {
      verdict: {
        ...verdict,
        status: "not-self-consistent",
        reason: `does not match its own records: ${RECIPE_RECORD_FILE} has sha256 ${recipeDigest(recipe)}, the build record says ${record.recipe.sha256}`,
      },
    };
  }
  verdict.inputs = {
    builder: record.builder,
    recipe: record.recipe,
    settings: record.settings,
    sources: record.sources,
    environment: record.environment,
    record: { name: BUILD_RECORD_FILE, sha256: sha256(recordBytes) },
  };
  return { verdict, pkg, record, recipe };
}

/** Whether `path` is a file with `sha256` as its digest. */
function fileWithDigest(path: string, sha256: string): boolean {
  return existsSync(path) && recipeDigest(readFileSync(path)) === sha256;
}

/**
 * Where the recipe is rebuilt from: the recipe directory when it holds the same recipe and the same
 * companion files (patches), else a copy of the record's recipe with each companion file found by
 * its digest, beside the recipe or in a source mirror (`undistro source add` keeps files by sha256).
 * A file found nowhere fails the rebuild naming it: rebuilding without a patch would not be this build.
 */
function recipeFileFor(record: BuildRecord, recipe: Buffer, scratch: string, recipeDir: string | undefined, mirrors: readonly string[]): string {
  const name = basename(record.recipe.path) || "recipe.yaml";
  const files = record.files ?? [];
  if (recipeDir) {
    const candidate = join(recipeDir, name);
    if (fileWithDigest(candidate, record.recipe.sha256) && files.every((f) => fileWithDigest(join(recipeDir, f.path), f.sha256))) return candidate;
  }
  const dir = join(scratch, "recipe");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), recipe);
  for (const f of files) {
    const found = [...(recipeDir ? [join(recipeDir, f.path)] : []), ...mirrors.map((m) => join(m, "sha256", f.sha256))].find((c) =>
      fileWithDigest(c, f.sha256),
    );
    if (!found)
      throw new UndistroError("REPRO_MISSING_FILE", `the build read ${f.path} (sha256 ${f.sha256}) beside its recipe, and no copy with those bytes was found`, {
        hint: "give --recipe-dir with the recipe's directory as it was built, or add the file to a source mirror (undistro source add FILE --mirror DIR)",
      });
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    copyFileSync(found, join(dir, f.path));
  }
  return join(dir, name);
}

/** Differences between this host's toolchain and the one a stage-0/1 build recorded. */
function hostDifferences(record: BuildRecord): string[] {
  if (record.settings.hermetic || !record.host) return [];
  const now = new Map(hostToolchain().map((t) => [t.name, t.version]));
  const out: string[] = [];
  for (const t of record.host) {
    const v = now.get(t.name);
    if (v !== t.version) out.push(`${t.name} ${t.version} → ${v ?? "absent"}`);
  }
  return out;
}

/** Rebuilds one origin's packages and judges each. */
async function rebuildGroup(group: Examined[], opts: RebuildCheckOptions, reportDir: string): Promise<void> {
  const first = group[0];
  if (!first?.record || !first.recipe) return;
  const record = first.record;
  const verdicts = group.map((g) => g.verdict);
  const fail = (reason: string) => {
    for (const v of verdicts) Object.assign(v, { status: "rebuild-failed", reason });
  };
  if (record.settings.buildArch !== hostArch()) return fail(`built on ${record.settings.buildArch}; this machine is ${hostArch()}`);
  const toolchain = hostDifferences(record);
  if (toolchain.length)
    for (const v of verdicts) v.notes.push(`the host's toolchain differs from the build's (stage 0/1 builds use it): ${toolchain.join(", ")}`);
  const scratch = mkdtempSync(join(tmpdir(), "undistro-rebuild-check-"));
  try {
    let recipeFile: string;
    try {
      recipeFile = recipeFileFor(record, first.recipe, scratch, opts.recipeDir, opts.sourceMirrors ?? []);
    } catch (err) {
      if (!(err instanceof UndistroError)) throw err;
      return fail(`${err.message} (${err.hint ?? ""})`);
    }
    const repositories = opts.repositories ?? [resolve(dirname(dirname(first.verdict.file)))];
    const varied = planVariations(opts.variations, record.settings.hermetic);
    opts.onProgress?.(`rebuilding ${first.verdict.origin} (${verdicts.map((v) => v.name).join(", ")})`);
    const outDir = join(scratch, "out");
    let report: Awaited<ReturnType<typeof buildRecipe>>;
    try {
      report = await varied.around(() =>
        buildRecipe(recipeFile, {
          outDir,
          arch: record.settings.arch,
          sourceDateEpoch: record.settings.sourceDateEpoch,
          distro: record.settings.distro,
          hermetic: record.settings.hermetic,
          environmentLock: lockedEnvironment(record),
          sysrootLock: lockedSysroot(record),
          environmentKeyring: opts.keyFiles,
          environmentRepositories: repositories,
          recipeRecordPath: record.recipe.path,
          ...(opts.sourceMirrors ? { sourceMirrors: opts.sourceMirrors } : {}),
          ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
          ...(opts.logDir ? { logDir: opts.logDir } : {}),
          ...varied.options,
        }),
      );
    } catch (err) {
      if (!(err instanceof UndistroError)) throw err;
      return fail(`the rebuild failed: [${err.code}] ${err.message}${err.hint ? ` (${err.hint})` : ""}`);
    }
    for (const g of group) judge(g, report.packages, reportDir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Compares one published package with its rebuild; a difference gets our list and diffoscope's report. */
function judge(g: Examined, rebuilt: { name: string; file: string }[], reportDir: string): void {
  const v = g.verdict;
  const twin = rebuilt.find((p) => p.name === v.name);
  if (!twin || !g.pkg) {
    Object.assign(v, { status: "differs", reason: `the rebuild made no package ${v.name} (it made ${rebuilt.map((p) => p.name).join(", ") || "none"})` });
    return;
  }
  const mine = parsePackage(readFileSync(twin.file), twin.file);
  v.obtained = sha256(mine.controlAndData);
  if (v.obtained === v.expected) return;
  v.status = "differs";
  v.differences = compareMembers(g.pkg, mine);
  const stem = join(reportDir, `${v.name}-${v.version}.${basename(dirname(v.file))}`);
  mkdirSync(dirname(stem), { recursive: true });
  v.report = diffoscopeReport(g.pkg.controlAndData, mine.controlAndData, basename(v.file), stem);
  v.reason = `differs from its rebuild in ${v.differences.map((d) => d.path).join(", ") || "the compressed bytes only"}`;
}

/** rebuild-check over .apk files: each examined, each origin rebuilt once, each package judged. */
export async function rebuildCheck(files: string[], opts: RebuildCheckOptions): Promise<RebuildCheckResult> {
  const examined = files.map((f) => examine(f, opts));
  const groups = new Map<string, Examined[]>();
  for (const e of examined) {
    if (!e.record || !e.recipe) continue;
    const key = `${e.verdict.origin}\0${sha256(e.pkg?.controlFiles[BUILD_RECORD_FILE] ?? Buffer.alloc(0))}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const reportDir = opts.reportDir ?? mkdtempSync(join(tmpdir(), "undistro-rebuild-reports-"));
  for (const group of groups.values()) await rebuildGroup(group, opts, reportDir);
  const packages = examined.map((e) => e.verdict);
  const anyHermetic = examined.some((e) => e.record?.settings.hermetic);
  return {
    packages,
    reproduced: packages.filter((p) => p.status === "reproduced").length,
    total: packages.length,
    variations: planVariations(opts.variations, anyHermetic).applied,
  };
}
