/**
 * Builds a recipe: sources fetched and verified outside the sandbox, every step inside it, then per
 * package: dependency detection, an SPDX SBOM inside the package, a signed .apk, the index refreshed.
 */
import { spawnSync } from "node:child_process";
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  type WriteStream,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { type ApkSigningKey, emptyPackageInfo, indexDirectory, type PackageInfo, parseDependency, writePackage } from "../apk/index.js";
import { loadRecipe, type PackageDependencies, type Recipe } from "../recipe/index.js";
import { formatSpdx, packageSpdx, validateSpdx } from "../sbom/index.js";
import { signDsse } from "../sign/index.js";
import { localPackagePath, type ResolvedPackage } from "../solver/index.js";
import { hostArch, sortedJson, sourceDateEpoch, UndistroError, writeFileAtomic } from "../util/index.js";

export { hostArch };

import {
  type BuildEnvironment,
  commandProviders,
  crossRecipeEnvironment,
  environmentRepositories,
  hermeticEnvironment,
  inLockOrder,
  missingCommand,
  plannedEnvironment,
  sysrootAtoms,
  sysrootEntry,
  sysrootEnvironment,
  targetSysroot,
} from "./environment.js";
import { PipelineRegistry, type PlannedStep, planSteps } from "./pipelines.js";
import { BUILD_RECORD_FILE, BUILD_RECORD_TYPE, type BuildRecord, formatBuildRecord, RECIPE_RECORD_FILE, type RecordedStep, recipeDigest } from "./record.js";
import { checkResumedEnvironment, checkSkippedStep, clearEnvironment, environmentAtoms, loadResumeState, type ResumeState, saveResumeState } from "./resume.js";
import { BASE_PATH, openLog, runInSandbox, type SandboxResult, type SandboxVariation, shellQuote } from "./sandbox.js";
import { analyzePackage, walkPackageDir } from "./sca.js";
import { defaultCacheDir, type FetchedSource, fetchSource } from "./sources.js";
import { type ArchInfo, archInfo, distroTriplet, OUTDIR, recipeVars, substitute } from "./substitute.js";

export const BUILDER_VERSION = "0.1.0";

type SourceStep = Exclude<PlannedStep, { kind: "run" }>;

export interface BuildOptions {
  outDir: string;
  signingKey?: ApkSigningKey;
  arch?: string;
  sourceMirrors?: string[];
  pipelineDirs?: string[];
  logDir?: string;
  cacheDir?: string;
  /** Defaults to $SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number;
  distro?: string;
  /** Signs each package's SLSA provenance into a DSSE envelope (cosign key); without it the statement is written unsigned. */
  attestKey?: KeyObject;
  /** Keep the workspace after the build (for debugging). */
  keepWorkspace?: boolean;
  /** Keep the workspace of a build that fails (its path is added to the error's hint): an hour of GCC is not lost to find out why. */
  keepFailedWorkspace?: boolean;
  /**
   * A failed build's kept directory (the parent of its ws/): run again from the step that failed,
   * the steps before it skipped if each is unchanged and the root resolves to the same packages
   * (src/build/resume.ts). A failure keeps the directory again; success removes it.
   */
  resume?: string;
  /** Each step is killed after this long (default DEFAULT_STEP_TIMEOUT_MS). */
  stepTimeoutMs?: number;
  /** Run every step in a root made only of the recipe's environment packages from the repository. */
  hermetic?: boolean;
  /** More repositories for environment packages after the output repository (melange's --repository-append). */
  repositoryAppend?: string[];
  /**
   * The only repositories environment packages come from (instead of the output repository and
   * the appended ones): a bootstrap stage builds from the stage before it.
   */
  environmentRepositories?: string[];
  /** Packages added to every recipe's environment (stage 1 of the bootstrap adds the cross compiler). */
  environmentAppend?: string[];
  /**
   * A rebuild: the environment exactly as a build record locked it (`name=version` atoms), instead
   * of the recipe's environment and environmentAppend.
   */
  environmentLock?: string[];
  /** A rebuild of a hermetic cross build: the target's /sysroot exactly as its record locked it. */
  sysrootLock?: string[];
  /** Public keys environment packages are verified with (default: the signing key's public half). */
  environmentKeyring?: string[];
  /** The recipe's path as records name it (default: relative to the working directory); a rebuild keeps the original's. */
  recipeRecordPath?: string;
  /** Conditions varied on purpose inside every step (rebuild-check); see SandboxVariation. */
  variation?: SandboxVariation;
  /** The workspace through disorderfs: every directory listing in a shuffled order (rebuild-check). */
  shuffleDirectories?: boolean;
  onEvent?: (e: BuildEvent) => void;
  /** How often a running step reports it is still running (`step-progress`); default a minute. */
  stepProgressEveryMs?: number;
}

export type BuildEvent =
  | { type: "step-start"; package: string; index: number; total: number; name: string; where: string }
  /** A step still running: how long so far and the last line it printed (GCC's build step is most of an hour). */
  | { type: "step-progress"; package: string; index: number; total: number; name: string; ms: number; lastLine?: string }
  | { type: "step-end"; package: string; index: number; total: number; name: string; ms: number }
  | { type: "source"; uri: string; from: string }
  | { type: "package"; name: string; file: string }
  | { type: "skip"; reason: string }
  /** A resumed build: the steps before `from` ran in the failed build and are skipped. */
  | { type: "resume"; from: string; skipped: number; dir: string }
  /** A recipe built again (a graph build or the bootstrap): why its earlier build does not stand. */
  | { type: "stale"; recipe: string; reason: string };

export interface BuiltPackage {
  name: string;
  version: string;
  file: string;
  checksum: string;
  size: number;
  depends: string[];
  provides: string[];
  sbom: string;
  /** SLSA provenance v1 for the .apk: a DSSE envelope (.intoto.jsonl) when signed, else the statement (.provenance.json). */
  provenance: string;
}

/** Six hours: GCC's longest step on two slow cores fits; a hung step does not hold a builder for ever. */
export const DEFAULT_STEP_TIMEOUT_MS = 6 * 3600_000;

/** The buildType of package provenance; its parameters are described in docs/provenance.md. */
export const PACKAGE_BUILD_TYPE = "https://undistro.dev/buildtypes/package/v1";

export interface BuildReport {
  recipe: string;
  arch: string;
  packages: BuiltPackage[];
  sources: FetchedSource[];
  logFile: string;
  skipped?: string;
  durationMs: number;
  /** A resumed build (--resume): the step it started at; the ones before ran in the failed build. */
  resumedFrom?: string;
}

/** A tool or package the build ran with, as the SBOM and the provenance name it. */
export interface BuildTool {
  name: string;
  version: string;
  purl?: string;
  /** The host package's architecture (stage 0/1 records name it). */
  arch?: string;
  comment?: string;
  /** The environment package's .apk file (provenance only). */
  digest?: { sha256: string };
  /** Its APK checksum, as the index's C: field (provenance only). */
  checksum?: string;
}

/** What stage 0 builds with: the host's toolchain, by Debian package version where dpkg knows it. */
export function hostToolchain(): BuildTool[] {
  const r = spawnSync(
    "dpkg-query",
    [
      "-W",
      // dpkg-query's own ${Field} syntax, not a template literal.
      "-f=${Package}\\t${Version}\\t${Architecture}\\n",
      "gcc-12",
      "gcc",
      "g++-12",
      "g++",
      "m4",
      "make",
      "binutils",
      "libc6",
      "libc6-dev",
      "coreutils",
      "tar",
      "bash",
      "dash",
    ],
    {
      encoding: "utf8",
    },
  );
  const tools: BuildTool[] = [];
  for (const line of (r.stdout ?? "").split("\n")) {
    const [name, version, arch] = line.split("\t");
    if (!name || !version) continue;
    tools.push({
      name,
      version,
      ...(arch ? { arch } : {}),
      purl: `pkg:deb/debian/${name}@${encodeURIComponent(version)}?arch=${arch}`,
      comment: "host toolchain, mounted read-only (stage 0)",
    });
  }
  return tools;
}

/** Debian's cross toolchain prefix per target architecture (gcc-aarch64-linux-gnu, …). */
const CROSS_PREFIX: Record<string, string> = { aarch64: "aarch64-linux-gnu-", x86_64: "x86_64-linux-gnu-" };

/**
 * Building for another architecture than the host's: the cross toolchain's tools in the variables
 * build systems read (CC, AR, STRIP, …, CROSS_COMPILE for kernels and musl, REALGCC for musl-gcc).
 * A recipe's own environment still wins (zlib sets CC=musl-gcc, which then drives REALGCC). In a
 * hermetic root the tools are undistro's (TARGET-undistro-linux-musl-gcc, …: a cross toolchain
 * package in the environment; a step that runs one the root lacks fails with BUILD_MISSING_COMMAND),
 * never the build machine's.
 */
export function crossEnvironment(target: string, hermetic = false): Record<string, string> {
  if (target === hostArch()) return {};
  const prefix = hermetic ? `${distroTriplet(target)}-` : CROSS_PREFIX[target];
  if (!prefix) throw new UndistroError("BUILD_UNKNOWN_ARCH", `no cross toolchain is known for ${target}`);
  if (!hermetic && !existsSync(`/usr/bin/${prefix}gcc`)) {
    throw new UndistroError("BUILD_NO_CROSS_TOOLCHAIN", `building for ${target} on ${hostArch()} needs the cross compiler ${prefix}gcc`, {
      hint: `apt-get install gcc-${prefix.slice(0, -1)} (scripts/setup.sh installs it)`,
    });
  }
  const tool = (t: string) => `${prefix}${t}`;
  return {
    CROSS_COMPILE: prefix,
    CC: tool("gcc"),
    CXX: tool("g++"),
    CPP: `${tool("gcc")} -E`,
    AR: tool("ar"),
    AS: tool("as"),
    LD: tool("ld"),
    NM: tool("nm"),
    OBJCOPY: tool("objcopy"),
    OBJDUMP: tool("objdump"),
    RANLIB: tool("ranlib"),
    READELF: tool("readelf"),
    STRIP: tool("strip"),
    REALGCC: tool("gcc"),
  };
}

/** What a recipe's environment asks for, for which architecture, from which repositories. */
function environmentRequest(recipe: Recipe, opts: BuildOptions, arch: string, vars: ReadonlyMap<string, string>) {
  const wanted = opts.environmentLock ?? [
    ...recipe.environment.contents.packages.map((a, i) => substitute(a, vars, `environment.contents.packages[${i}]`, true)),
    ...(opts.environmentAppend ?? []),
  ];
  // A hermetic root runs here, so it holds this machine's packages even in a cross build; the
  // target's development packages go to /sysroot beside it.
  const rootArch = opts.hermetic ? hostArch() : arch;
  const crossHermetic = opts.hermetic === true && arch !== rootArch;
  const sysroot = crossHermetic
    ? {
        arch,
        atoms: opts.sysrootLock ?? (opts.environmentLock ? [] : sysrootAtoms(wanted, producedNames(recipe, vars))),
        repositories: repositoriesFor(opts, arch),
      }
    : undefined;
  return { wanted, rootArch, repositories: repositoriesFor(opts, rootArch), sysroot };
}

/** The packages a recipe makes (main and subpackages). */
function producedNames(recipe: Recipe, vars: ReadonlyMap<string, string>): Set<string> {
  return new Set([recipe.package.name, ...recipe.subpackages.map((sp) => substitute(sp.name, vars, `${sp.where}.name`))]);
}

/** The environment packages a build of `recipePath` would install (name-version:checksum), for cache keys. */
export function environmentKey(recipePath: string, opts: BuildOptions): string[] {
  const recipe = loadRecipe(recipePath);
  const arch = archInfo(opts.arch ?? hostArch());
  const { wanted, rootArch, repositories, sysroot } = environmentRequest(recipe, opts, arch.arch, recipeVars(recipe, arch));
  const root = plannedEnvironment(wanted, repositories, rootArch, opts.hermetic ?? false);
  if (!sysroot?.atoms.length) return root;
  return [...root, ...plannedEnvironment(sysroot.atoms, sysroot.repositories, sysroot.arch, true).map((p) => sysrootEntry(sysroot.arch, p))];
}

/** The repositories (with an index for `arch`) environment packages come from. */
function repositoriesFor(opts: BuildOptions, arch: string): string[] {
  if (opts.environmentRepositories) return environmentRepositories(undefined, opts.environmentRepositories, arch);
  return environmentRepositories(opts.outDir, opts.repositoryAppend ?? [], arch);
}

/** Where a recipe's environment packages from the repository appear in the sandbox. */
export const SYSROOT = "/sysroot";

/**
 * The recipe's environment: installed from the repository into a sysroot beside the host's
 * toolchain (stage 1), or, with `hermetic`, as the whole root of every step (see environment.ts).
 */
async function assembleEnvironment(
  recipe: Recipe,
  opts: BuildOptions,
  arch: string,
  root: string,
  vars: ReadonlyMap<string, string>,
): Promise<BuildEnvironment> {
  const { wanted, rootArch, repositories, sysroot } = environmentRequest(recipe, opts, arch, vars);
  const keyring = environmentKeyring(opts, root);
  // A build from a record lists its root in the record's order (inLockOrder says why).
  const locked = (e: BuildEnvironment): BuildEnvironment => ({ ...e, packages: inLockOrder(e.packages, opts.environmentLock) });
  if (!opts.hermetic) return locked(await sysrootEnvironment(wanted, repositories, keyring, arch, root));
  const environment = locked(await hermeticEnvironment(recipe.file, wanted, repositories, keyring, rootArch, root));
  // hermeticEnvironment has refused a missing keyring already.
  const target = sysroot && keyring ? await targetSysroot(recipe.file, sysroot.atoms, sysroot.repositories, keyring, sysroot.arch, root) : undefined;
  return target ? { ...environment, sysroot: { ...target, packages: inLockOrder(target.packages, opts.sysrootLock) } } : environment;
}

/** The public keys environment packages must be signed with: given, or the signing key's own. */
function environmentKeyring(opts: BuildOptions, workRoot: string): string[] | undefined {
  if (opts.environmentKeyring?.length) return opts.environmentKeyring;
  if (!opts.signingKey) return undefined;
  const dir = join(workRoot, "environment-keys");
  mkdirSync(dir, { recursive: true });
  const pub = join(dir, opts.signingKey.keyName);
  writeFileSync(pub, createPublicKey(opts.signingKey.privateKey).export({ format: "pem", type: "spki" }));
  return [pub];
}

function deps(declared: PackageDependencies, vars: ReadonlyMap<string, string>, where: string): OutputUnit["declared"] {
  return {
    runtime: declared.runtime.map((d, i) => substitute(d, vars, `${where}.dependencies.runtime[${i}]`)),
    provides: declared.provides.map((d, i) => substitute(d, vars, `${where}.dependencies.provides[${i}]`)),
    replaces: declared.replaces.map((d, i) => substitute(d, vars, `${where}.dependencies.replaces[${i}]`)),
    ...(declared.replacesPriority !== undefined ? { replacesPriority: declared.replacesPriority } : {}),
  };
}

function stepFailure(recipe: Recipe, step: PlannedStep, code: number, tail: string[], logFile: string): UndistroError {
  const command = step.kind === "run" ? step.script.trim().split("\n").slice(0, 6).join("\n      ") : `${step.kind} ${JSON.stringify(step.with)}`;
  return new UndistroError(
    "BUILD_STEP_FAILED",
    `${recipe.file}: step ${step.where} (${step.name}) failed with exit code ${code}\n  command:\n      ${command}\n  last lines of output:\n${tail
      .slice(-15)
      .map((l) => `    | ${l}`)
      .join("\n")}`,
    { hint: `full log: ${logFile}` },
  );
}

/** How a step is placed: its time limit, and with `root` a hermetic root instead of the host's /usr and /etc. */
interface Placement {
  timeoutMs: number;
  root?: string;
  variation?: SandboxVariation;
  /** Stage 1: files added to the host root's /lib (the environment's musl loader). */
  libExtras?: Array<[string, string]>;
}

/** One line for logs and SBOMs: which stage, and what the steps saw. */
function describeEnvironment(e: BuildEnvironment): string {
  const list = e.packages.map((p) => `${p.name}-${p.version}`).join(", ");
  const target = e.sysroot ? `; for ${e.sysroot.arch} at ${SYSROOT}: ${e.sysroot.packages.map((p) => `${p.name}-${p.version}`).join(", ")}` : "";
  if (e.hermetic) return `hermetic: every step's root is made only of these packages from the repository: ${list}${target}; nothing of the host is mounted`;
  const host = e.hostProvided.length ? ` (${e.hostProvided.join(", ")} from the host)` : "";
  if (e.packages.length) return `stage 1: the host's toolchain mounted read-only${host}, and from the repository at ${SYSROOT}: ${list}`;
  return `stage 0 (bootstrap): the host's toolchain mounted read-only${host}`;
}

function commandMissing(recipe: Recipe, step: PlannedStep, command: string, repositories: string[], arch: string, logFile: string): UndistroError {
  const providers = commandProviders(repositories, arch, command);
  return new UndistroError(
    "BUILD_MISSING_COMMAND",
    `${recipe.file}: step ${step.where} (${step.name}) runs \`${command}\`, which no package in the build root provides`,
    {
      hint: providers.length
        ? `add ${providers.length === 1 ? providers[0] : `one of ${providers.join(", ")}`} (provides cmd:${command}) to environment.contents.packages; full log: ${logFile}`
        : `no package in ${repositories.map((r) => join(r, arch)).join(" or ") || "the repositories"} provides cmd:${command}: package it, or build without --hermetic; full log: ${logFile}`,
    },
  );
}

function stepTimedOut(recipe: Recipe, step: PlannedStep, limitMs: number, tail: string[], logFile: string): UndistroError {
  const minutes = Math.round(limitMs / 60_000);
  return new UndistroError(
    "BUILD_STEP_TIMEOUT",
    `${recipe.file}: step ${step.where} (${step.name}) ran past its time limit (${minutes >= 1 ? `${minutes} min` : `${limitMs} ms`}) and was killed\n  last lines of output:\n${tail
      .slice(-15)
      .map((l) => `    | ${l}`)
      .join("\n")}`,
    { hint: `full log: ${logFile}; raise the limit with --step-timeout if the step is merely slow` },
  );
}

export async function buildRecipe(recipePath: string, opts: BuildOptions): Promise<BuildReport> {
  const started = Date.now();
  const recipe = loadRecipe(recipePath);
  const arch = archInfo(opts.arch ?? hostArch());
  const targets = recipe.package.targetArchitecture;
  const logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), "undistro-logs-"));
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${recipe.package.name}-${recipe.package.version}-r${recipe.package.epoch}.${arch.arch}.log`);
  if (targets.length > 0 && !targets.includes("all") && !targets.includes(arch.arch)) {
    const reason = `${recipe.package.name} is not built for ${arch.arch} (target-architecture: ${targets.join(", ")})`;
    opts.onEvent?.({ type: "skip", reason });
    return { recipe: recipePath, arch: arch.arch, packages: [], sources: [], logFile, skipped: reason, durationMs: Date.now() - started };
  }
  const bad = recipe.warnings.find((w) => w.path === "package.version");
  if (bad)
    throw new UndistroError("BUILD_INVALID_VERSION", `${recipePath}: ${bad.path}: ${bad.message}`, {
      hint: "use an APK version: digits and dots, optional letter, _alpha/_beta/_pre/_rc/_p suffixes",
    });
  const resume = opts.resume ? loadResumeState(opts.resume, recipePath, recipe.package.name, arch.arch) : undefined;
  if (resume && (opts.shuffleDirectories || opts.variation))
    throw new UndistroError("USAGE", "--resume cannot vary the build (rebuild-check builds from the start)");
  const root = resume?.dir ?? mkdtempSync(join(tmpdir(), "undistro-build-"));
  const log = openLog(logFile);
  log.write(`undistro ${BUILDER_VERSION} building ${recipePath} for ${arch.arch}\n`);
  if (resume) log.write(`resumed from ${resume.failedStep} in ${resume.dir}: the steps before it ran in the failed build\n`);
  const ctx: BuildContext = {
    recipe,
    recipePath,
    opts,
    arch,
    epoch: opts.sourceDateEpoch ?? sourceDateEpoch(),
    distro: opts.distro ?? "undistro",
    root,
    ws: join(root, "ws"),
    log,
    logFile,
    sources: resume ? [...resume.sources] : [],
    steps: [],
    nextStep: 0,
    ...(resume ? { resume } : {}),
  };
  let unmount: (() => void) | undefined;
  let keep = opts.keepWorkspace ?? false;
  let environment: BuildEnvironment | undefined;
  try {
    unmount = prepareWorkspace(ctx);
    if (resume) clearEnvironment(root);
    environment = await assembleEnvironment(recipe, opts, arch.arch, root, recipeVars(recipe, arch));
    if (resume) checkResumedEnvironment(resume, environment);
    log.write(`${describeEnvironment(environment)}\n`);
    await runPipelines(ctx, environment);
    const packages = await packageOutputs(ctx, environment);
    return {
      recipe: recipePath,
      arch: arch.arch,
      packages,
      sources: ctx.sources,
      logFile,
      durationMs: Date.now() - started,
      ...(resume ? { resumedFrom: resume.failedStep } : {}),
    };
  } catch (err) {
    if (!opts.keepFailedWorkspace && !resume) throw err;
    keep = true;
    throw keepFailedBuild(ctx, environment, err);
  } finally {
    unmount?.();
    // Wait until the log is on disk: the error's hint points at it, and a reader must see every line.
    await new Promise<void>((done) => log.end(done));
    if (!keep) rmSync(root, { recursive: true, force: true });
  }
}

/**
 * A failed build whose workspace stays: what a resume must match goes beside it (once the
 * environment is installed and a step has run), and the error's hint names both.
 */
function keepFailedBuild(ctx: BuildContext, environment: BuildEnvironment | undefined, err: unknown): UndistroError {
  const failed = environment ? ctx.failed : undefined;
  if (environment && failed) {
    const { recipe, recipePath, arch } = ctx;
    const state = { dir: ctx.root, recipe: resolve(recipePath), package: recipe.package.name, arch: arch.arch, ...failed };
    saveResumeState({ ...state, environment: environmentAtoms(environment), sources: ctx.sources, steps: ctx.steps });
  }
  ctx.log.write(`\nthe workspace is kept at ${ctx.ws}\n`);
  return keptWorkspaceError(err, ctx.ws, failed ? `after a fix, \`--resume ${ctx.root}\` runs it again from ${failed.failedStep}` : undefined);
}

/** The build's error, its hint naming the workspace kept for a look inside. */
function keptWorkspaceError(err: unknown, ws: string, resumable?: string): UndistroError {
  const kept = `the workspace is kept at ${ws} (remove it when done)${resumable ? `; ${resumable}` : ""}`;
  if (err instanceof UndistroError) return new UndistroError(err.code, err.message, { hint: err.hint ? `${err.hint}; ${kept}` : kept, cause: err.cause });
  return new UndistroError("BUILD_FAILED", err instanceof Error ? err.message : String(err), { hint: kept, cause: err });
}

/** One build's state, shared by its phases. */
interface BuildContext {
  recipe: Recipe;
  recipePath: string;
  opts: BuildOptions;
  arch: ArchInfo;
  epoch: number;
  distro: string;
  /** The build's scratch directory on the host; the workspace is `ws` inside it. */
  root: string;
  ws: string;
  log: WriteStream;
  logFile: string;
  sources: FetchedSource[];
  /** Every step as it ran, for the build record. */
  steps: RecordedStep[];
  /** The next step's number, counted over every package's pipeline from 0. */
  nextStep: number;
  /** Set when a step fails: where a resume starts. */
  failed?: { failedAt: number; failedStep: string };
  resume?: ResumeState;
}

/**
 * The workspace, with melange-out/NAME for the main package. With the file-order variation it is
 * a disorderfs view (every directory listing shuffled) of a directory beside it; the returned
 * function unmounts it.
 */
function prepareWorkspace(ctx: BuildContext): (() => void) | undefined {
  if (!ctx.opts.shuffleDirectories) {
    mkdirSync(join(ctx.ws, "melange-out", ctx.recipe.package.name), { recursive: true });
    return undefined;
  }
  const store = join(ctx.root, "ws-store");
  mkdirSync(store, { recursive: true });
  mkdirSync(ctx.ws, { recursive: true });
  const r = spawnSync("disorderfs", ["--shuffle-dirents=yes", "--multi-user=yes", store, ctx.ws], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new UndistroError("BUILD_NO_DISORDERFS", `cannot shuffle directory order: disorderfs failed: ${(r.stderr || r.error?.message || "").trim()}`, {
      hint: "install disorderfs and fuse3 (scripts/setup.sh does), or rebuild without the file-order variation (--no-vary file-order)",
    });
  }
  mkdirSync(join(ctx.ws, "melange-out", ctx.recipe.package.name), { recursive: true });
  return () => {
    spawnSync("fusermount3", ["-u", ctx.ws]).status === 0 || spawnSync("fusermount", ["-u", ctx.ws]);
  };
}

/** The environment variables every step starts from: SOURCE_DATE_EPOCH, cross tools, the stage's paths, the recipe's. */
function stepEnvironment(ctx: BuildContext, environment: BuildEnvironment): Record<string, string> {
  const env: Record<string, string> = { SOURCE_DATE_EPOCH: String(ctx.epoch), ...crossEnvironment(ctx.arch.arch, environment.hermetic) };
  // The machine whose tools run the steps, for configure's --build: Debian's toolchain in stages
  // 0 and 1, undistro's own in a hermetic root (recipes of the toolchain need to tell them apart).
  env.UNDISTRO_BUILD_TRIPLET = environment.hermetic ? distroTriplet(hostArch()) : archInfo(hostArch()).tripletGnu;
  if (environment.dir && !environment.hermetic) {
    // The host's tools first, then the environment's (musl-gcc and friends); build systems find
    // the environment's headers and libraries through the sysroot variables.
    env.PATH = `${BASE_PATH}:${SYSROOT}/usr/bin:${SYSROOT}/bin`;
    env.UNDISTRO_SYSROOT = SYSROOT;
    env.PKG_CONFIG_PATH = `${SYSROOT}/usr/lib/pkgconfig:${SYSROOT}/usr/share/pkgconfig`;
    env.PKG_CONFIG_SYSROOT_DIR = SYSROOT;
  }
  if (environment.sysroot) {
    // The target's headers and libraries: the cross compiler's own sysroot; pkg-config reads only
    // the target's .pc files (PKG_CONFIG_LIBDIR replaces the root's default path).
    env.UNDISTRO_SYSROOT = SYSROOT;
    env.PKG_CONFIG_LIBDIR = `${SYSROOT}/usr/lib/pkgconfig:${SYSROOT}/usr/share/pkgconfig`;
    env.PKG_CONFIG_SYSROOT_DIR = SYSROOT;
  }
  const vars = recipeVars(ctx.recipe, ctx.arch);
  const own: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.recipe.environment.environment)) own[k] = substitute(v, vars, `environment.environment.${k}`);
  const target = environment.sysroot;
  return { ...env, ...(target ? crossRecipeEnvironment(own, SYSROOT, target.dir, ctx.recipePath) : own) };
}

/** Runs the main package's pipeline, then each subpackage's, every step in the sandbox. */
async function runPipelines(ctx: BuildContext, environment: BuildEnvironment): Promise<void> {
  const { recipe, opts, ws } = ctx;
  const registry = PipelineRegistry.standard(opts.pipelineDirs ?? []);
  const baseVars = recipeVars(recipe, ctx.arch);
  const warnings: string[] = [];
  const mainVars = new Map(baseVars);
  mainVars.set("targets.subpkgdir", `${OUTDIR}/${recipe.package.name}`);
  await runSteps(ctx, environment, recipe.package.name, planSteps(recipe.pipeline, mainVars, registry, { env: {}, warnings }));
  for (const sp of recipe.subpackages) {
    const v = new Map(baseVars);
    const name = substitute(sp.name, baseVars, `${sp.where}.name`);
    v.set("targets.subpkgdir", `${OUTDIR}/${name}`);
    v.set("targets.contextdir", `${OUTDIR}/${name}`);
    v.set("subpkg.name", name);
    if (sp.range) {
      v.set("range.key", sp.range.key);
      v.set("range.value", sp.range.value);
    }
    mkdirSync(join(ws, "melange-out", name), { recursive: true });
    await runSteps(ctx, environment, name, planSteps(sp.pipeline, v, registry, { env: {}, warnings }));
  }
  for (const w of warnings) ctx.log.write(`warning: ${w}\n`);
}

/**
 * Stage 1: the environment's musl dynamic loader at /lib, where the programs the step links against
 * it look for it, so they run in the step (nginx's configure runs what it compiles; so do test
 * suites). Their other libraries are not found there: only programs needing libc alone run.
 */
function stageOneLoader(environment: BuildEnvironment): { libExtras?: Array<[string, string]> } {
  if (!environment.dir || environment.hermetic) return {};
  const lib = join(environment.dir, "lib");
  const loaders = existsSync(lib) ? readdirSync(lib).filter((n) => /^ld-musl-[a-z0-9_]+\.so\.1$/.test(n)) : [];
  const files = loaders.map((n) => [realpathSync(join(lib, n)), n] as [string, string]).filter(([f]) => statSync(f).isFile());
  return files.length ? { libExtras: files.sort(([, a], [, b]) => (a < b ? -1 : 1)) } : {};
}

/** Runs one package's steps in order; the first failure stops the build with an error saying why. */
async function runSteps(ctx: BuildContext, environment: BuildEnvironment, label: string, steps: PlannedStep[]): Promise<void> {
  const { recipe, opts, ws, log, logFile } = ctx;
  const env = stepEnvironment(ctx, environment);
  const stepTimeout = opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const placement: Placement = {
    timeoutMs: stepTimeout,
    ...(environment.hermetic && environment.dir ? { root: environment.dir } : {}),
    ...(opts.variation ? { variation: opts.variation } : {}),
    ...stageOneLoader(environment),
  };
  const recipeDir = dirname(resolve(ctx.recipePath));
  const readOnly: Array<[string, string]> = [[recipeDir, "/home/recipe"]];
  if (environment.dir && !environment.hermetic) readOnly.push([environment.dir, SYSROOT]);
  if (environment.sysroot) readOnly.push([environment.sysroot.dir, SYSROOT]);
  for (const [i, step] of steps.entries()) {
    const ordinal = ctx.nextStep++;
    const recorded = recordedStep(label, step);
    if (skippedOnResume(ctx, ordinal, recorded)) continue;
    ctx.failed = { failedAt: ordinal, failedStep: `${label}: ${step.where} (${step.name})` };
    opts.onEvent?.({ type: "step-start", package: label, index: i + 1, total: steps.length, name: step.name, where: step.where });
    ctx.steps.push(recorded);
    const t0 = Date.now();
    log.write(`\n==> [${label}] ${step.where}: ${step.name}\n`);
    const heartbeat = stepHeartbeat(opts, { package: label, index: i + 1, total: steps.length, name: step.name }, t0);
    let result: SandboxResult;
    try {
      if (step.kind === "run") {
        const run = { workspace: ws, workdir: step.workdir, script: step.script, env: { ...env, ...step.env }, logStream: log, onLine: heartbeat.line };
        result = await runInSandbox({ ...run, readOnly, ...placement });
      } else if (step.kind === "fetch") {
        result = await fetchStep(step, ws, recipe, env, log, ctx.sources, opts.cacheDir ?? defaultCacheDir(), opts, recipeDir, placement);
      } else result = await gitCheckoutStep(step, ws, recipe, env, log, placement);
    } finally {
      heartbeat.stop();
    }
    if (result.timedOut) throw stepTimedOut(recipe, step, stepTimeout, result.tail, logFile);
    const missing = result.code === 127 ? missingCommand(result.tail) : undefined;
    if (missing && environment.hermetic) throw commandMissing(recipe, step, missing, repositoriesFor(opts, hostArch()), hostArch(), logFile);
    if (result.code !== 0) throw stepFailure(recipe, step, result.code, result.tail, logFile);
    opts.onEvent?.({ type: "step-end", package: label, index: i + 1, total: steps.length, name: step.name, ms: Date.now() - t0 });
  }
  // Past every step: a failure now (packaging) resumes after them.
  ctx.failed = { failedAt: ctx.nextStep, failedStep: "packaging (after every step)" };
}

/** A resumed build's step before the failed one: checked to be the one that ran, recorded, not run. */
function skippedOnResume(ctx: BuildContext, ordinal: number, recorded: RecordedStep): boolean {
  const resume = ctx.resume;
  if (!resume || ordinal >= resume.failedAt) return false;
  checkSkippedStep(resume, ordinal, recorded);
  ctx.steps.push(recorded);
  if (ordinal === resume.failedAt - 1) ctx.opts.onEvent?.({ type: "resume", from: resume.failedStep, skipped: resume.failedAt, dir: resume.dir });
  return true;
}

/**
 * While a step runs, a `step-progress` event every `stepProgressEveryMs` with the time so far and
 * the last non-blank line the step printed (control characters dropped: the line is the recipe's
 * output, shown on the user's terminal; a long line keeps its start and its end).
 */
function stepHeartbeat(opts: BuildOptions, step: { package: string; index: number; total: number; name: string }, started: number) {
  const every = opts.stepProgressEveryMs ?? 60_000;
  let last = "";
  const beat = () => {
    const lastLine = printableLine(last);
    opts.onEvent?.({ type: "step-progress", ...step, ms: Date.now() - started, ...(lastLine ? { lastLine } : {}) });
  };
  const timer = opts.onEvent && every > 0 ? setInterval(beat, every) : undefined;
  timer?.unref();
  return {
    // Called for every line of output (GCC prints hundreds of thousands): keep it cheap.
    line(text: string) {
      if (text.length && text.trim()) last = text;
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}

function printableLine(text: string): string {
  // Terminal escape sequences (colours, cursor moves) whole, then any other control character.
  const printable = text
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "")
    .replace(/[\x00-\x1f\x7f-\x9f]/g, "")
    .trim();
  // A compiler's command line is long and alike from file to file: its start names the tool, its end the file.
  return printable.length > 160 ? `${printable.slice(0, 60)} … ${printable.slice(-96)}` : printable;
}

function recordedStep(label: string, step: PlannedStep): RecordedStep {
  const base = { package: label, where: step.where, name: step.name, kind: step.kind };
  if (step.kind !== "run") return { ...base, with: step.with };
  return { ...base, script: step.script, ...(Object.keys(step.env).length ? { env: step.env } : {}) };
}

/** The tools a package was built with, for its SBOM and provenance: the host's (stage 0/1), then the environment's. */
function buildTools(ctx: BuildContext, environment: BuildEnvironment, host: BuildTool[]): BuildTool[] {
  const where = environment.hermetic ? "installed as the build root (hermetic)" : `mounted read-only at ${SYSROOT}`;
  const target = environment.sysroot;
  return [
    ...host,
    ...environment.packages.map((p) => environmentTool(ctx, p, `build environment package from the repository, ${where}`)),
    ...(target?.packages ?? []).map((p) =>
      environmentTool(
        ctx,
        p,
        `build environment package from the repository, for ${target?.arch}, mounted read-only at ${SYSROOT} (the target's headers and libraries)`,
      ),
    ),
  ];
}

function environmentTool(ctx: BuildContext, p: ResolvedPackage, comment: string): BuildTool {
  return {
    name: p.name,
    version: p.version,
    purl: `pkg:apk/${encodeURIComponent(ctx.distro)}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${encodeURIComponent(p.arch)}`,
    comment,
    digest: {
      sha256: createHash("sha256")
        .update(readFileSync(localPackagePath(p)))
        .digest("hex"),
    },
    checksum: p.checksum,
  };
}

/** What the build record says: everything a rebuild needs besides the recipe's bytes. */
/** The files under the recipe's companion directory (`<recipe dir>/<package name>/`), by path and sha256. */
export function recipeCompanionFiles(recipePath: string, packageName: string): { path: string; sha256: string }[] {
  const base = dirname(resolve(recipePath));
  const out: { path: string; sha256: string }[] = [];
  const walk = (rel: string) => {
    const dir = join(base, rel);
    if (!existsSync(dir) || !lstatSync(dir).isDirectory()) return;
    for (const name of readdirSync(dir).sort()) {
      const r = `${rel}/${name}`;
      const st = lstatSync(join(base, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile())
        out.push({
          path: r,
          sha256: createHash("sha256")
            .update(readFileSync(join(base, r)))
            .digest("hex"),
        });
    }
  };
  walk(packageName);
  return out;
}

function buildRecord(ctx: BuildContext, environment: BuildEnvironment, recipeRef: { path: string; sha256: string }, host: BuildTool[]): BuildRecord {
  const files = recipeCompanionFiles(ctx.recipePath, ctx.recipe.package.name);
  return {
    _type: BUILD_RECORD_TYPE,
    builder: { name: "undistro", version: BUILDER_VERSION },
    recipe: recipeRef,
    ...(files.length ? { files } : {}),
    settings: { arch: ctx.arch.arch, buildArch: hostArch(), sourceDateEpoch: ctx.epoch, distro: ctx.distro, hermetic: environment.hermetic },
    sources: ctx.sources.map((s) => ({ uri: s.uri, sha256: s.sha256, ...(s.sha512 ? { sha512: s.sha512 } : {}) })),
    environment: {
      packages: environment.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch })),
      hostProvided: environment.hostProvided,
      ...(environment.sysroot
        ? {
            sysroot: {
              arch: environment.sysroot.arch,
              packages: environment.sysroot.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch })),
            },
          }
        : {}),
    },
    ...(environment.hermetic ? {} : { host: host.map((t) => ({ name: t.name, version: t.version, arch: t.arch ?? "" })) }),
    steps: ctx.steps,
  };
}

/** One package a recipe makes: the main package or a subpackage, with its declared metadata. */
interface OutputUnit {
  name: string;
  description?: string;
  url?: string;
  commit?: string;
  /** What the recipe declares; `replaces` lets the package overwrite the named packages' files (apk's r:). */
  declared: { runtime: string[]; provides: string[]; replaces: string[]; replacesPriority?: number };
  options: Recipe["package"]["options"];
  priority?: number;
  scriptlets: Recipe["package"]["scriptlets"];
}

function outputUnits(recipe: Recipe, baseVars: ReadonlyMap<string, string>): OutputUnit[] {
  return [
    {
      name: recipe.package.name,
      description: recipe.package.description,
      url: recipe.package.url,
      commit: recipe.package.commit,
      declared: deps(recipe.package.dependencies, baseVars, "package"),
      options: recipe.package.options,
      priority: recipe.package.dependencies.providerPriority,
      scriptlets: recipe.package.scriptlets,
    },
    ...recipe.subpackages.map((sp) => ({
      name: substitute(sp.name, baseVars, `${sp.where}.name`),
      description: sp.description ? substitute(sp.description, baseVars, `${sp.where}.description`, true) : recipe.package.description,
      url: sp.url ?? recipe.package.url,
      commit: sp.commit ?? recipe.package.commit,
      declared: deps(sp.dependencies, baseVars, sp.where),
      options: sp.options,
      priority: sp.dependencies.providerPriority,
      scriptlets: sp.scriptlets,
    })),
  ];
}

/** Packages everything the pipelines staged: main package first, then subpackages in recipe order; then the index. */
async function packageOutputs(ctx: BuildContext, environment: BuildEnvironment): Promise<BuiltPackage[]> {
  const { recipe, opts, arch, epoch } = ctx;
  const archDir = join(opts.outDir, arch.arch);
  mkdirSync(archDir, { recursive: true });
  const recipeBytes = readFileSync(ctx.recipePath);
  const recipeRef = {
    path: opts.recipeRecordPath ?? (relative(process.cwd(), resolve(ctx.recipePath)) || basename(ctx.recipePath)),
    sha256: recipeDigest(recipeBytes),
  };
  const host = environment.hermetic ? [] : hostToolchain();
  // The SBOM inside each package names environment packages by name, version and purl; their
  // digests go to the provenance beside it. A package's bytes then depend on what built it, not
  // on the bytes of the packages that did: the bootstrap's fixpoint (stage 3 = stage 2) needs that.
  const tools = buildTools(ctx, environment, host);
  const controlFiles = { [RECIPE_RECORD_FILE]: recipeBytes, [BUILD_RECORD_FILE]: formatBuildRecord(buildRecord(ctx, environment, recipeRef, host)) };
  const built: BuiltPackage[] = [];
  for (const u of outputUnits(recipe, recipeVars(recipe, arch))) {
    const p = await packageOne(ctx, environment, u, { archDir, recipeRef, tools, controlFiles });
    built.push(p);
    opts.onEvent?.({ type: "package", name: u.name, file: p.file });
  }
  if (opts.signingKey) indexDirectory(archDir, { signingKey: opts.signingKey, sourceDateEpoch: epoch, description: ctx.distro });
  return built;
}

/** One .apk: dependency detection, its SBOM inside, the build record in its control section, its provenance beside it. */
async function packageOne(
  ctx: BuildContext,
  environment: BuildEnvironment,
  u: OutputUnit,
  shared: { archDir: string; recipeRef: { path: string; sha256: string }; tools: BuildTool[]; controlFiles: Record<string, string | Uint8Array> },
): Promise<BuiltPackage> {
  const { recipe, opts, arch, epoch, ws, log } = ctx;
  const fullVersion = `${recipe.package.version}-r${recipe.package.epoch}`;
  const license = recipe.package.copyright
    .map((c) => c.license)
    .filter(Boolean)
    .join(" AND ");
  const dest = join(ws, "melange-out", u.name);
  const sca = analyzePackage(walkPackageDir(dest), fullVersion, u.options ?? {}, ctx.arch.elfMachine);
  for (const [k, why] of Object.entries(sca.reasons)) log.write(`[${u.name}] ${k}: ${why}\n`);
  const provides = [...new Set([...u.declared.provides, ...sca.provides])];
  const providedNames = new Set(provides.map((p) => parseDependency(p, "provides", false).name).concat(u.name));
  const depends = [...new Set([...u.declared.runtime, ...sca.depends])].filter((d) => !providedNames.has(parseDependency(d, "depends", false).name));
  const sbomRel = `var/lib/db/sbom/${u.name}-${fullVersion}.spdx.json`;
  const doc = packageSpdx({
    distro: ctx.distro,
    name: u.name,
    fullVersion,
    arch: arch.arch,
    license,
    ...(u.description ? { description: u.description } : {}),
    ...(u.url ? { url: u.url } : {}),
    recipe: shared.recipeRef,
    sources: ctx.sources.map((s) => ({
      uri: s.uri,
      sha256: s.sha256,
      ...(s.sha512 ? { sha512: s.sha512 } : {}),
      name: s.fileName,
      version: recipe.package.version,
      ...(sourceComment(s) ? { comment: sourceComment(s) } : {}),
    })),
    buildTools: shared.tools,
    buildEnvironmentComment: `built by undistro ${BUILDER_VERSION} in a bubblewrap sandbox without network; ${describeEnvironment(environment)}`,
    created: new Date(epoch * 1000),
    toolVersion: BUILDER_VERSION,
  });
  validateSpdx(doc, `${u.name} SBOM`);
  // Directories the builder adds get fixed modes, whatever the caller's umask.
  for (const d of ["var", "var/lib", "var/lib/db", "var/lib/db/sbom"]) {
    mkdirSync(join(dest, d), { recursive: true });
    chmodSync(join(dest, d), 0o755);
  }
  writeFileSync(join(dest, sbomRel), formatSpdx(doc));
  chmodSync(join(dest, sbomRel), 0o644);
  const info: PackageInfo = emptyPackageInfo(u.name, fullVersion, arch.arch);
  info.origin = recipe.package.name;
  info.depends = depends;
  info.provides = provides;
  if (u.description) info.description = u.description;
  if (u.url) info.url = u.url;
  if (u.commit) info.commit = u.commit;
  if (license) info.license = license;
  if (u.priority !== undefined) info.providerPriority = u.priority;
  info.replaces = u.declared.replaces;
  if (u.declared.replacesPriority !== undefined) info.replacesPriority = u.declared.replacesPriority;
  const scripts: Record<string, string> = {};
  for (const [k, v] of Object.entries(u.scriptlets ?? {})) if (k !== "trigger") scripts[`.${k}`] = v;
  const file = join(shared.archDir, `${u.name}-${fullVersion}.apk`);
  const wopts: Parameters<typeof writePackage>[0] = {
    sourceDir: dest,
    info,
    sourceDateEpoch: epoch,
    preserveModes: true,
    scripts,
    controlFiles: shared.controlFiles,
  };
  if (opts.signingKey) wopts.signingKey = opts.signingKey;
  const pkg = await writePackage(wopts, file);
  const provenance = writePackageProvenance({
    file,
    outDir: opts.outDir,
    arch: arch.arch,
    recipe: shared.recipeRef,
    packageName: u.name,
    sources: ctx.sources,
    tools: shared.tools,
    epoch,
    sandbox: `bubblewrap, no network, no capabilities; ${describeEnvironment(environment)}`,
    ...(opts.attestKey ? { key: opts.attestKey } : {}),
  });
  return { name: u.name, version: fullVersion, file, checksum: pkg.checksum, size: pkg.size, depends, provides, sbom: sbomRel, provenance };
}

/**
 * What the SBOM says about where a source's bytes came from: the mirror (same bytes as the URI), and
 * whether the tarball is a distribution's repack rather than upstream's own release (Debian's
 * `.dfsg` / `+dfsg` / `+ds` orig tarballs remove files; they are not byte-identical to upstream).
 */
export function sourceComment(s: { fileName: string; uri?: string }): string | undefined {
  const notes: string[] = [];
  const repack = /[.+~](dfsg|ds)(\d*)(?=[.+~-]|$)/i.exec(s.fileName);
  if (repack) {
    notes.push(
      `repacked source: ${s.fileName} is Debian's ${repack[1]?.toLowerCase()} repack of the upstream release (files removed for Debian's free software guidelines), not upstream's tarball`,
    );
  } else if (s.uri && /\/debian\/pool\//.test(s.uri)) {
    // Some repacks carry no marker in their name (Linux's orig tarball leaves out firmware and
    // drivers Debian does not consider free): say that it may differ rather than that it does not.
    notes.push(
      `${s.fileName} is Debian's orig tarball of the upstream release, as Debian's archive serves it (it may leave out files upstream's own tarball has)`,
    );
  } else if (s.uri && /\/golang\.org\/toolchain\/@v\/[^/]+\.zip$/.test(s.uri)) {
    // The Go module proxy serves each Go release as a module zip: Go's own release, its source tree
    // beside prebuilt binaries. Recipes delete those binaries before building (say so in the SBOM).
    notes.push(
      `${s.fileName} is the Go release as the Go module proxy serves it (module golang.org/toolchain: the Go project's own source tree with its prebuilt binaries, which the recipe deletes before building)`,
    );
  }
  // Not where this build found the bytes (mirror, cache or network): they are the same bytes by
  // digest, and a package must not differ with the state of the builder's cache.
  return notes.length ? notes.join("; ") : undefined;
}

async function fetchStep(
  step: SourceStep,
  ws: string,
  recipe: Recipe,
  env: Record<string, string>,
  log: NodeJS.WritableStream,
  sources: FetchedSource[],
  cacheDir: string,
  opts: BuildOptions,
  recipeDir: string,
  placement: Placement,
): Promise<SandboxResult> {
  const w = step.with;
  const uri = w.uri;
  if (!uri) throw new UndistroError("BUILD_MISSING_INPUT", `${recipe.file}: ${step.where}: fetch needs uri`);
  const req: Parameters<typeof fetchSource>[0] = {
    uri: /^[a-z]+:\/\//.test(uri) || uri.startsWith("/") ? uri : join(recipeDir, uri),
    where: `${recipe.file}: ${step.where}`,
  };
  if (w["expected-sha256"]) req.sha256 = w["expected-sha256"];
  if (w["expected-sha512"]) req.sha512 = w["expected-sha512"];
  const src = await fetchSource(req, { cacheDir, mirrors: opts.sourceMirrors ?? [] });
  const fetched = { ...src, uri };
  sources.push(fetched);
  opts.onEvent?.({ type: "source", uri, from: src.from });
  log.write(`fetched ${uri} (sha256 ${src.sha256}) from ${src.from}\n`);
  const inside = `/var/cache/undistro-source/${src.fileName}`;
  const extract = (w.extract ?? "true") !== "false";
  const strip = w["strip-components"] ?? "1";
  const dir = w.directory ?? ".";
  const script = extract
    ? `mkdir -p ${shellQuote(dir)}\ntar -x --no-same-owner -f ${shellQuote(inside)} --strip-components=${Number(strip)} -C ${shellQuote(dir)}\n`
    : `mkdir -p ${shellQuote(dir)}\ncp ${shellQuote(inside)} ${shellQuote(`${dir}/`)}\n`;
  return runInSandbox({
    workspace: ws,
    workdir: step.workdir,
    script,
    env,
    logStream: log as never,
    readOnly: [[src.path, inside]],
    ...placement,
  });
}

async function gitCheckoutStep(
  step: SourceStep,
  ws: string,
  recipe: Recipe,
  env: Record<string, string>,
  log: NodeJS.WritableStream,
  placement: Placement,
): Promise<SandboxResult> {
  const w = step.with;
  const repo = w.repository ?? "";
  // A tag or branch moves; only a commit pins what is built (fetch steps pin by sha256 likewise).
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(w["expected-commit"] ?? "")) {
    throw new UndistroError(
      "BUILD_SOURCE_UNPINNED",
      `${recipe.file}: ${step.where}: git-checkout of ${repo || "(no repository)"} has ${w["expected-commit"] ? `an invalid expected-commit ${JSON.stringify(w["expected-commit"])}` : "no expected-commit"}`,
      { hint: "pin the source: expected-commit: the full 40-hex commit the tag points at (`undistro update bump` writes it)" },
    );
  }
  if (/^(https?|ssh|git):\/\//.test(repo) || repo.includes("@")) {
    throw new UndistroError("BUILD_GIT_REMOTE", `${step.where}: git-checkout of ${repo}: remote repositories are not fetched by this builder yet`, {
      hint: "use a local clone (a path or file:// URL), or a fetch step with a release tarball and its sha256",
    });
  }
  const ref = w.tag ?? w.branch ?? "";
  if (ref.startsWith("-"))
    throw new UndistroError("BUILD_INVALID_INPUT", `${recipe.file}: ${step.where}: git-checkout ref ${JSON.stringify(ref)} starts with '-'`);
  const local = repo.replace(/^file:\/\//, "");
  const inside = "/var/cache/undistro-git/repo";
  const dest = w.destination ?? ".";
  const expected = w["expected-commit"];
  const script = [
    `git config --global --add safe.directory '*' 2>/dev/null || true`,
    `git clone --quiet --no-hardlinks '${inside}' '.undistro-clone'`,
    `cd .undistro-clone`,
    ref ? `git -c advice.detachedHead=false checkout --quiet ${shellQuote(ref)} --` : "",
    `actual=$(git rev-parse HEAD)`,
    `[ "$actual" = '${expected}' ] || { echo "expected commit ${expected}, got $actual"; exit 1; }`,
    `cd ..`,
    `mkdir -p ${shellQuote(dest)}`,
    `(cd .undistro-clone && tar -c --exclude=.git .) | tar -x -C ${shellQuote(dest)}`,
    `rm -rf .undistro-clone`,
  ]
    .filter(Boolean)
    .join("\n");
  return runInSandbox({
    workspace: ws,
    workdir: step.workdir,
    script,
    env: { ...env, HOME: "/tmp" },
    logStream: log as never,
    readOnly: [[local, inside]],
    ...placement,
  });
}

/**
 * SLSA provenance v1 for one built package, subject the .apk file: recipe (path, digest) as
 * external parameters, every fetched source and the build tools as resolved dependencies, times
 * from SOURCE_DATE_EPOCH. Written beside the repository in OUT/provenance/<arch>/, never into the
 * repository directory the index covers.
 */
function writePackageProvenance(p: {
  file: string;
  outDir: string;
  arch: string;
  recipe: { path: string; sha256: string };
  packageName: string;
  sources: FetchedSource[];
  tools: BuildTool[];
  epoch: number;
  sandbox: string;
  key?: KeyObject;
}): string {
  const when = new Date(p.epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const statement = {
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: basename(p.file), digest: { sha256: createHash("sha256").update(readFileSync(p.file)).digest("hex") } }],
    predicateType: "https://slsa.dev/provenance/v1",
    predicate: {
      buildDefinition: {
        buildType: PACKAGE_BUILD_TYPE,
        externalParameters: { recipe: { path: p.recipe.path, digest: { sha256: p.recipe.sha256 } }, package: p.packageName, arch: p.arch },
        internalParameters: { sourceDateEpoch: p.epoch, sandbox: p.sandbox },
        resolvedDependencies: [
          ...p.sources.map((s) => ({ uri: s.uri, name: s.fileName, digest: { sha256: s.sha256, ...(s.sha512 ? { sha512: s.sha512 } : {}) } })),
          ...p.tools.map((t) => ({
            uri: t.purl ?? `tool:${t.name}`,
            name: t.name,
            ...(t.digest ? { digest: t.digest } : {}),
            annotations: { version: t.version, ...(t.checksum ? { apkChecksum: t.checksum } : {}) },
          })),
        ],
      },
      runDetails: {
        builder: { id: "https://undistro.dev/builders/undistro", version: { undistro: BUILDER_VERSION } },
        metadata: { startedOn: when, finishedOn: when },
      },
    },
  };
  const dir = join(p.outDir, "provenance", p.arch);
  mkdirSync(dir, { recursive: true });
  const body = Buffer.from(JSON.stringify(statement));
  if (p.key) {
    const path = join(dir, `${basename(p.file)}.intoto.jsonl`);
    writeFileAtomic(path, Buffer.from(`${JSON.stringify(signDsse("application/vnd.in-toto+json", body, p.key))}\n`));
    return path;
  }
  const path = join(dir, `${basename(p.file)}.provenance.json`);
  writeFileAtomic(path, Buffer.from(`${sortedJson(statement)}\n`));
  return path;
}
