import { existsSync, lstatSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDependency, readIndexFile } from "../apk/index.js";
import { installPackages } from "../image/index.js";
import { loadRepository, openRepositories, type ResolvedPackage, resolveIn } from "../solver/index.js";
import { UndistroError } from "../util/index.js";

export interface BuildEnvironment {
  /** Host directory holding the installed environment (the sysroot, or the whole root when hermetic). */
  dir?: string;
  packages: ResolvedPackage[];
  /** Environment atoms the repository does not have: the host's toolchain stands in (stage 0). */
  hostProvided: string[];
  /** The installed environment is the steps' root; nothing of the host is mounted. */
  hermetic: boolean;
  /** A hermetic cross build's target side: packages for the target, mounted read-only at /sysroot. */
  sysroot?: TargetSysroot;
}

export interface TargetSysroot {
  arch: string;
  /** Host directory holding the target's packages. */
  dir: string;
  packages: ResolvedPackage[];
}

/** Names that are a package's development files for whatever it is built for: headers, static and link libraries. */
const DEVELOPMENT_PACKAGE = /^(?:.+-dev|.+-static|linux-headers)$/;

/**
 * What a hermetic cross build installs for the target at /sysroot (the cross compiler's sysroot):
 * the environment's development packages (`*-dev`, `*-static`, `linux-headers`) and, when the
 * environment holds a compiler (`build-base`), the C library's (`musl-dev`). They are also in the
 * root, for the build machine. melange has no cross builds; its recipes name these packages
 * already, so they cross-build unchanged. Atoms the recipe makes itself (musl's musl-dev) are left
 * out: it is the target's first package of its kind.
 */
export function sysrootAtoms(wanted: readonly string[], produced: ReadonlySet<string>): string[] {
  const names = wanted.map((a) => parseDependency(a, "environment", false).name);
  const atoms = wanted.filter((_, i) => DEVELOPMENT_PACKAGE.test(names[i] ?? ""));
  if (names.includes("build-base") && !names.includes("musl-dev")) atoms.push("musl-dev");
  return atoms.filter((a) => !produced.has(parseDependency(a, "environment", false).name));
}

/**
 * Packages in a lock's order (`name=version` atoms, as a build record lists its root). The solver's
 * install order follows the request as well as the set: a rebuild that asks for the recorded list
 * gets the same packages in another order than the build that asked for the recipe's atoms plus an
 * appended cross compiler, and its record, SBOM and so its package would differ for that alone.
 * Packages the lock does not name keep their order, after those it does.
 */
export function inLockOrder(packages: readonly ResolvedPackage[], lock: readonly string[] | undefined): ResolvedPackage[] {
  if (!lock?.length) return [...packages];
  const position = new Map(lock.map((atom, i) => [atom, i]));
  const at = (p: ResolvedPackage) => position.get(`${p.name}=${p.version}`) ?? lock.length;
  return packages
    .map((p, i) => ({ p, i }))
    .sort((a, b) => at(a.p) - at(b.p) || a.i - b.i)
    .map(({ p }) => p);
}

/** Wrappers a recipe names for the C compiler against undistro's C library (written for builds on the host's gcc). */
const TARGET_WRAPPERS = new Set(["musl-gcc"]);

/**
 * The recipe's own environment variables as a hermetic cross build's steps get them. A recipe asks
 * for a compiler against musl by its wrapper's name (`CC: musl-gcc`); in a cross build that is the
 * target's wrapper, the one a cross build on the host's toolchain finds on PATH at /sysroot/usr/bin
 * (from the target's musl-dev, which sysrootAtoms puts there). The root's own musl-gcc is the build
 * machine's: its specs name the build machine's start files, and the cross linker refuses them.
 * The wrapper is a shell script, so the target's runs here; it drives REALGCC, the cross compiler.
 * Only the first word of a value is a command; anything else is left as the recipe wrote it.
 */
export function crossRecipeEnvironment(
  recipeEnvironment: Readonly<Record<string, string>>,
  sysroot: string,
  sysrootDir: string,
  where: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(recipeEnvironment)) {
    const [command = "", ...rest] = value.split(" ");
    if (!TARGET_WRAPPERS.has(command)) {
      env[key] = value;
      continue;
    }
    if (!existsSync(join(sysrootDir, "usr/bin", command))) {
      throw new UndistroError(
        "BUILD_NO_TARGET_WRAPPER",
        `${where}: environment.environment.${key} names ${command}, which the target's side of this cross build lacks`,
        {
          hint: "list musl-dev (or build-base) in environment.contents.packages: the target's musl-dev installs its musl-gcc at /sysroot",
        },
      );
    }
    env[key] = [`${sysroot}/usr/bin/${command}`, ...rest].join(" ");
  }
  return env;
}

/**
 * Where environment packages come from: the output repository, then the appended ones (melange's
 * --repository-append: the bootstrap's earlier stages). Only repositories with an index for `arch`.
 */
export function environmentRepositories(outDir: string | undefined, appended: readonly string[], arch: string): string[] {
  return [...(outDir === undefined ? [] : [outDir]), ...appended]
    .map((r) => resolve(r))
    .filter((r, i, all) => all.indexOf(r) === i && existsSync(join(r, arch, "APKINDEX.tar.gz")));
}

/** Names (and provided names) the repositories' indexes for `arch` hold. */
function repositoryNames(repositories: readonly string[], arch: string): Set<string> {
  const names = new Set<string>();
  for (const repo of repositories) {
    const indexFile = join(repo, arch, "APKINDEX.tar.gz");
    for (const e of readIndexFile(indexFile).entries) {
      names.add(e.name);
      for (const p of e.provides) names.add(parseDependency(p, indexFile, false).name);
    }
  }
  return names;
}

/** Packages providing `cmd:NAME` in the repositories for `arch`, for the missing-command error. */
export function commandProviders(repositories: readonly string[], arch: string, command: string): string[] {
  const out = new Set<string>();
  for (const repo of repositories) {
    const indexFile = join(repo, arch, "APKINDEX.tar.gz");
    if (!existsSync(indexFile)) continue;
    for (const e of readIndexFile(indexFile).entries) {
      if (e.provides.some((p) => parseDependency(p, indexFile, false).name === `cmd:${command}`)) out.add(e.name);
    }
  }
  return [...out].sort();
}

/** Installs as `undistro install` does: the index and every package verified with `keyring`. */
function install(repositories: string[], keyring: string[], arch: string, world: string[], into: string) {
  return installPackages({ root: into, repositories, keyring, arch, world });
}

/**
 * Stage 1: the recipe's environment atoms the output repository already has are installed into
 * WORKROOT/sysroot; the rest (the compiler) still comes from the host.
 */
export async function sysrootEnvironment(
  wanted: string[],
  repositories: string[],
  keyring: string[] | undefined,
  arch: string,
  workRoot: string,
): Promise<BuildEnvironment> {
  if (!wanted.length) return { packages: [], hostProvided: [], hermetic: false };
  const names = keyring ? repositoryNames(repositories, arch) : new Set<string>();
  const available = wanted.filter((a) => names.has(parseDependency(a, "environment", false).name));
  const hostProvided = wanted.filter((a) => !available.includes(a));
  if (!available.length || !keyring) return { packages: [], hostProvided, hermetic: false };
  const dir = join(workRoot, "sysroot");
  const installed = await install(repositories, keyring, arch, available, dir);
  return { dir, packages: installed.packages, hostProvided, hermetic: false };
}

/** How build keys and resume files name an environment package: `name-version:checksum`. */
export function environmentEntry(p: { name: string; version: string; checksum: string }): string {
  return `${p.name}-${p.version}:${p.checksum}`;
}

/** A target-side (/sysroot) entry: the same, prefixed `sysroot:ARCH:`. */
export function sysrootEntry(arch: string, entry: string): string {
  return `sysroot:${arch}:${entry}`;
}

/** An entry back into its parts (sysroot prefix dropped); undefined for a marker such as `missing:…`. */
export function parseEnvironmentEntry(entry: string): { name: string; version: string; checksum: string } | undefined {
  const m = /^(?:sysroot:[^:]+:)?(.+)-(\d[^-]*-r\d+):(.*)$/.exec(entry);
  return m ? { name: m[1] as string, version: m[2] as string, checksum: m[3] as string } : undefined;
}

/**
 * The packages (name-version and checksum) an environment would install, resolved without
 * installing anything: what a build cache keys on, so a recipe is rebuilt when its environment
 * changes and only then. Atoms the repositories lack are left to the host (stage 0/1) or, in a
 * hermetic build, make the key name them (the build itself will refuse them).
 */
export function plannedEnvironment(wanted: string[], repositories: string[], arch: string, hermetic: boolean): string[] {
  if (!wanted.length || !repositories.length) return hermetic ? wanted.map((a) => `missing:${a}`) : [];
  const names = repositoryNames(repositories, arch);
  const available = wanted.filter((a) => names.has(parseDependency(a, "environment", false).name));
  const missing = hermetic ? wanted.filter((a) => !available.includes(a)).map((a) => `missing:${a}`) : [];
  if (!available.length) return missing;
  const set = openRepositories(repositories.map((url) => loadRepository({ url }, arch)));
  return [...resolveIn(set, available, arch).packages.map(environmentEntry), ...missing];
}

/**
 * A hermetic cross build's target side: `atoms` installed for `targetArch` into WORKROOT/sysroot
 * (mounted read-only at /sysroot), verified like the root. Every atom must be in a repository's
 * index for that architecture.
 */
export async function targetSysroot(
  recipeFile: string,
  atoms: string[],
  repositories: string[],
  keyring: string[],
  targetArch: string,
  workRoot: string,
): Promise<TargetSysroot | undefined> {
  if (!atoms.length) return undefined;
  const names = repositoryNames(repositories, targetArch);
  const missing = atoms.filter((a) => !names.has(parseDependency(a, "environment", false).name));
  if (missing.length) {
    throw new UndistroError(
      "BUILD_NOT_HERMETIC",
      `${recipeFile}: a cross build for ${targetArch} installs ${missing.join(", ")} for ${targetArch} at /sysroot, and ${missing.length === 1 ? "it is" : "they are"} not in ${repositories.length ? repositories.map((r) => join(r, targetArch)).join(" or ") : "any repository"}`,
      { hint: `build ${missing.length === 1 ? "it" : "them"} for ${targetArch} first (the development packages a cross build links against are the target's)` },
    );
  }
  const dir = join(workRoot, "sysroot");
  const installed = await install(repositories, keyring, targetArch, atoms, dir);
  return { arch: targetArch, dir, packages: installed.packages };
}

/** Directories every step's root needs as mount points (the installed root is mounted read-only). */
const MOUNT_POINTS = ["proc", "dev", "tmp", "var/tmp", "var/cache", "run", "home/build", "home/recipe", "sysroot"];

/**
 * Hermetic: every environment atom must come from the repository, installed for `buildArch` (the
 * machine running the steps) into WORKROOT/root, which becomes the steps' root.
 */
export async function hermeticEnvironment(
  recipeFile: string,
  wanted: string[],
  repositories: string[],
  keyring: string[] | undefined,
  buildArch: string,
  workRoot: string,
): Promise<BuildEnvironment> {
  if (!wanted.length) {
    throw new UndistroError("BUILD_NOT_HERMETIC", `${recipeFile}: environment.contents.packages is empty: a hermetic build root holds only those packages`, {
      hint: "list at least a shell and the tools the pipeline runs (e.g. busybox)",
    });
  }
  if (!keyring) throw new UndistroError("USAGE", "a hermetic build installs its root from the repository: give --signing-key (or the keys it is signed with)");
  const names = repositoryNames(repositories, buildArch);
  const missing = wanted.filter((a) => !names.has(parseDependency(a, "environment", false).name));
  if (missing.length) {
    throw new UndistroError(
      "BUILD_NOT_HERMETIC",
      `${recipeFile}: environment.contents.packages ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not in ${repositories.length ? repositories.map((r) => join(r, buildArch)).join(" or ") : "any repository (none has an index yet)"}`,
      { hint: "build them first (`undistro build DIR` orders the graph), or build without --hermetic (stage 0/1: the host's toolchain)" },
    );
  }
  const dir = join(workRoot, "root");
  const installed = await install(repositories, keyring, buildArch, wanted, dir);
  // Every step is a /bin/sh script: a root without a shell cannot run one.
  if (!["bin/sh", "usr/bin/sh"].some((p) => lstatSync(join(dir, p), { throwIfNoEntry: false }))) {
    const shells = commandProviders(repositories, buildArch, "sh");
    throw new UndistroError("BUILD_MISSING_COMMAND", `${recipeFile}: the build root (${wanted.join(", ")}) has no /bin/sh to run the pipeline with`, {
      hint: shells.length
        ? `add ${shells.join(" or ")} (provides cmd:sh) to environment.contents.packages`
        : "no package in the repository provides cmd:sh: build busybox first",
    });
  }
  for (const m of MOUNT_POINTS) mkdirSync(join(dir, m), { recursive: true });
  return { dir, packages: installed.packages, hostProvided: [], hermetic: true };
}

/** The command a shell could not find, from the last lines of a step that exited 127. */
export function missingCommand(tail: string[]): string | undefined {
  for (const line of [...tail].reverse()) {
    const m =
      /(?:^|: )([^\s:/]+): (?:command )?not found$/.exec(line.trim()) ??
      /^(?:\/bin\/sh|sh|bash): (?:line \d+: )?([^\s:]+): (?:command )?not found/.exec(line.trim());
    if (m) return m[1];
  }
  return undefined;
}
