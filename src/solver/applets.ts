/**
 * apk's transaction commands (add, del, fix, upgrade) over a PackageDb, in simulate mode: they
 * compute the new world and the ordered changeset and report it in apk's words. Used by the
 * conformance runner and by anything that wants "what would apk do".
 */
import { compareVersions, isValidVersion, parseDependency } from "../apk/index.js";
import { UndistroError } from "../util/index.js";
import { DEP_SATISFIES, depString } from "./dep-match.js";
import { explainFailure, IndentedWriter, type Problem } from "./explain.js";
import { SOLVERF_AVAILABLE, SOLVERF_INSTALLED, SOLVERF_LATEST, SOLVERF_REINSTALL, SOLVERF_REMOVE, SOLVERF_UPGRADE } from "./flags.js";
import { DEPMASK_ANY, DEPMASK_CHECKSUM, type Dep, type Name, type PackageDb, Pkg, REPOSITORY_CACHED, V_CONFLICT, V_EQUAL } from "./model.js";
import { type Change, type Changeset, compareNamesForDisplay, forEachReverseDependency, type SolveOptions, Solver } from "./solve.js";

export interface TransactionReport {
  /** What apk would print, line by line. */
  output: string[];
  /** 0 when the transaction could be made. */
  errors: number;
  changes: Change[];
  world: Dep[];
  problems: Problem[];
}

export interface AppletOptions {
  latest?: boolean;
  upgrade?: boolean;
  available?: boolean;
  depends?: boolean;
  reinstall?: boolean;
  ignore?: boolean;
  selfUpgradeOnly?: boolean;
  noSelfUpgrade?: boolean;
  /** upgrade --prune: drop world entries no repository provides. */
  prune?: boolean;
  virtual?: string;
  rdepends?: boolean;
  force?: boolean;
  /** Clock for virtual package versions (apk uses the current time). */
  now?: Date;
}

type NameFlags = NonNullable<SolveOptions["nameFlags"]>;

class Session {
  readonly out: string[] = [];
  problems: Problem[] = [];
  constructor(readonly db: PackageDb) {}

  error(msg: string): void {
    this.out.push(`ERROR: ${msg}`);
  }
  warn(msg: string): void {
    this.out.push(`WARNING: ${msg}`);
  }

  setNameFlags(list: NameFlags, name: Name, flags: number, inheritable: number): void {
    name.solverFlagsSet = true;
    (list as Array<NameFlags[number]>).push({ name, flags, inheritable });
  }

  checkWorld(world: Dep[], force: boolean): boolean {
    if (force) return true;
    let bad = false;
    for (const d of world) {
      if (d.tag === 0 || (this.db.tags[d.tag]?.allowedRepos ?? 0) !== 0) continue;
      this.warn(`The repository tag for world dependency '${d.name.name}${this.db.tags[d.tag]?.tag}' does not exist`);
      bad = true;
    }
    return !bad;
  }

  /** Prints the changes (as apk's commit does in simulate mode) and the closing summary line. */
  printChangeset(changeset: Changeset): void {
    const counted = (c: Change) => c.newPkg !== c.oldPkg || c.reinstall || c.newTag !== c.oldTag;
    const total = changeset.changes.filter(counted).length;
    let done = 0;
    let sizeDiff = 0;
    let pkgDiff = 0;
    for (const c of changeset.changes) {
      if (c.newPkg) {
        sizeDiff += c.newPkg.installedSize;
        pkgDiff++;
      }
      if (c.oldPkg) {
        sizeDiff -= c.oldPkg.installedSize;
        pkgDiff--;
      }
    }
    for (const c of changeset.changes) {
      const line = this.describeChange(c, done, total);
      if (line !== null) this.out.push(line);
      if (counted(c)) done++;
    }
    if (!this.db.performingSelfUpgrade) {
      const installedBytes = this.db.installed.reduce((n, p) => n + p.installedSize, 0) + sizeDiff;
      const packages = this.db.installed.length + pkgDiff;
      this.out.push(`OK: ${Math.floor(installedBytes / (1024 * 1024))} MiB in ${packages} packages`);
    }
  }

  private describeChange(c: Change, cur: number, total: number): string | null {
    const status = `(${cur + 1}/${total})`;
    const name = (c.newPkg ?? c.oldPkg)?.name.name ?? "?";
    const tag = this.db.tags[c.newTag]?.tag ?? "";
    let msg: string | null = null;
    let one: string | null = null;
    if (c.oldPkg === null && c.newPkg) {
      msg = "Installing";
      one = c.newPkg.version;
    } else if (c.newPkg === null && c.oldPkg) {
      msg = "Purging";
      one = c.oldPkg.version;
    } else if (c.newPkg && c.newPkg === c.oldPkg) {
      if (c.reinstall) msg = c.newPkg.repos & this.db.availableRepos() ? "Reinstalling" : "[APK unavailable, skipped] Reinstalling";
      else if (c.oldTag !== c.newTag) msg = "Updating pinning";
      one = c.newPkg.version;
    } else if (c.newPkg && c.oldPkg) {
      const r = compareVersions(c.newPkg.version, c.oldPkg.version);
      msg = r < 0 ? "Downgrading" : r === 0 ? "Replacing" : "Upgrading";
    }
    if (msg === null) return null;
    if (one !== null) return `${status} ${msg} ${name}${tag} (${one})`;
    return `${status} ${msg} ${name}${tag} (${c.oldPkg?.version} -> ${c.newPkg?.version})`;
  }

  /** apk_solver_commit: solve, then print either the transaction or the explanation. */
  commit(
    world: Dep[],
    flags: number,
    nameFlags: NameFlags,
    force: boolean,
    beforeChanges?: (changeset: Changeset) => void,
  ): { errors: number; changes: Change[] } {
    if (!this.checkWorld(world, force)) {
      this.error("Not committing changes due to missing repository tags. Use --force-broken-world to override.");
      return { errors: 1, changes: [] };
    }
    const result = new Solver(this.db).solve(world, { flags, nameFlags, forceBrokenWorld: force });
    if (result.errors === 0) {
      beforeChanges?.(result.changeset);
      this.printChangeset(result.changeset);
      return { errors: 0, changes: result.changeset.changes };
    }
    const explanation = explainFailure(this.db, world, result.changeset);
    this.problems = explanation.problems;
    this.out.push(...explanation.text.replace(/\n$/, "").split("\n"));
    return { errors: result.errors, changes: result.changeset.changes };
  }
}

function depsAdd(world: Dep[], dep: Dep): void {
  const i = world.findIndex((d) => d.name === dep.name);
  if (i >= 0) world[i] = dep;
  else world.push(dep);
}

/** apk_deps_del: removes by moving the last entry into the hole (apk's order, kept for fidelity). */
function depsDel(world: Dep[], name: Name): void {
  const i = world.findIndex((d) => d.name === name);
  if (i < 0) return;
  const last = world.pop() as Dep;
  if (i < world.length) world[i] = last;
}

function installedPkgOf(name: Name): Pkg | null {
  return name.providers.find((p) => p.pkg.name === name && p.pkg.ipkg !== null)?.pkg ?? null;
}

/** Parses a world atom the way `apk add` does, or returns null when apk would refuse it. */
function parseWorldAtom(db: PackageDb, atom: string): Dep | null {
  try {
    const d = parseDependency(atom, "argument", true);
    if (d.version !== undefined && d.op !== "><" && !isValidVersion(d.version)) return null;
  } catch {
    return null;
  }
  return db.parseDep(atom, "argument");
}

function virtualVersion(now: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(now.getUTCFullYear(), 4)}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}.${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
}

export function applyAdd(db: PackageDb, args: string[], o: AppletOptions = {}): TransactionReport {
  const s = new Session(db);
  const world = [...db.world];
  const nameFlags: NameFlags = [];
  const flags = (o.latest ? SOLVERF_LATEST : 0) | (o.upgrade ? SOLVERF_UPGRADE : 0);
  let virtPkg: Pkg | null = null;
  let virtDep: Dep | null = null;
  if (o.virtual !== undefined) {
    let dep: Dep | null = null;
    try {
      dep = db.parseDep(o.virtual, "--virtual");
    } catch {
      dep = null;
    }
    const bad = () => {
      s.error(`${o.virtual}: bad package specifier`);
      return { output: s.out, errors: 1, changes: [], world, problems: [] };
    };
    if (dep === null || dep.op & V_CONFLICT) return bad();
    if (dep.op === DEPMASK_ANY) {
      if (dep.version !== null) return bad();
      dep = { ...dep, op: V_EQUAL, version: virtualVersion(o.now ?? new Date()) };
    } else if (dep.op !== V_EQUAL || dep.version === null) return bad();
    virtDep = dep;
    virtPkg = new Pkg(dep.name, dep.version as string, `Q1virtual-${dep.name.name}-${dep.version}`, "noarch");
    virtPkg.repos = 1 << REPOSITORY_CACHED;
    if (args.length === 0) s.warn("creating empty virtual package");
  }
  for (const arg of args) {
    const dep = parseWorldAtom(db, arg);
    if (dep === null || (o.virtual !== undefined && dep.tag !== 0)) {
      s.error(
        `'${arg}' is not a valid ${o.virtual !== undefined ? "child" : "world"} dependency, format is ${o.virtual !== undefined ? "name([<>~=]version)" : "name(@tag)([<>~=]version)"}`,
      );
      return { output: s.out, errors: 1, changes: [], world, problems: [] };
    }
    if (virtPkg) depsAdd(virtPkg.depends, dep);
    else {
      depsAdd(world, dep);
      s.setNameFlags(nameFlags, dep.name, flags, flags);
    }
  }
  if (virtPkg && virtDep) {
    db.link(virtPkg);
    depsAdd(world, virtDep);
    s.setNameFlags(nameFlags, virtDep.name, flags, flags);
  }
  const r = s.commit(world, 0, nameFlags, o.force ?? false);
  if (r.errors === 0) db.world = world;
  return { output: s.out, errors: r.errors, changes: r.changes, world, problems: s.problems };
}

export function applyDel(db: PackageDb, args: string[], o: AppletOptions = {}): TransactionReport {
  const s = new Session(db);
  const world = [...db.world];
  const nameFlags: { name: Name; flags: number; inheritable: number }[] = [];
  let errors = 0;
  // apk's del genid: with --rdepends each installed package is looked at once in the whole walk.
  const visited = new Set<Pkg>();
  const deletePkg = (pkg0: Pkg) => {
    depsDel(world, pkg0.name);
    nameFlags.push({ name: pkg0.name, flags: SOLVERF_REMOVE, inheritable: 0 });
    if (!o.rdepends) return;
    for (const d of pkg0.provides) depsDel(world, d.name);
    forEachReverseDependency(pkg0, { installed: true, match: DEP_SATISFIES, oncePerPackage: visited }, (p0) => deletePkg(p0));
  };
  for (const arg of args) {
    const name = db.names.get(arg);
    if (name === undefined) {
      s.error(`No such package: ${arg}`);
      errors++;
      continue;
    }
    const pkg = installedPkgOf(name);
    if (pkg) deletePkg(pkg);
    else depsDel(world, name);
  }
  if (errors) return { output: s.out, errors, changes: [], world, problems: [] };
  const r = s.commit(world, 0, nameFlags, o.force ?? false, (changeset) => s.out.push(...notDeleted(db, args, world, changeset)));
  if (r.errors === 0) db.world = world;
  return { output: s.out, errors: r.errors, changes: r.changes, world, problems: s.problems };
}

/**
 * The names apk's apk_db_foreach_sorted_name walks for `args`: the named ones in display order
 * (a name given twice, twice), or every name when there are no arguments or one is a pattern.
 */
function sortedNames(db: PackageDb, args: readonly string[]): Name[] {
  const patterns = args.filter((a) => a.includes("*"));
  if (args.length === 0 || patterns.length > 0) {
    const all = [...db.names.values()].sort((a, b) => compareNamesForDisplay(a.name, b.name));
    if (args.length === 0) return all;
    const matchers = args.map(globMatcher);
    return all.filter((n) => matchers.some((m) => m(n.name)));
  }
  const found = args.map((a) => db.names.get(a)).filter((n): n is Name => n !== undefined);
  return found.sort((a, b) => compareNamesForDisplay(a.name, b.name));
}

/** fnmatch-style `*` and `?` (what apk's name filters take). */
function globMatcher(pattern: string): (name: string) => boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  return (name) => re.test(name);
}

/**
 * apk del's "World updated, but the following packages are not removed due to:" report: for each
 * name apk walks (see sortedNames) that the new state still holds, the world entries that keep it,
 * found by walking up the reverse dependencies (and install_if triggers) of the packages that stay.
 * Each package is looked at once per name, and the lines wrap at 50 columns as apk's do.
 */
function notDeleted(db: PackageDb, args: readonly string[], world: readonly Dep[], changeset: Changeset): string[] {
  const stays = new Set<Pkg>();
  for (const c of changeset.changes) if (c.newPkg) stays.add(c.newPkg);
  const inWorld = new Set<Name>(world.map((d) => d.name));
  const w = new IndentedWriter();
  let header = false;
  for (const name of sortedNames(db, args)) {
    // apk's genid: each package is looked at once per name (marked even when none of its
    // dependencies matches).
    const seen = new Set<Pkg>();
    let started = false;
    const visit = (pkg: Pkg) => {
      if (!header) {
        w.line("World updated, but the following packages are not removed due to:\n");
        header = true;
      }
      if (!started) {
        w.group(0, `  ${name.name}:`);
        started = true;
      }
      if (inWorld.has(pkg.name)) w.word(pkg.name.name);
      for (const p of pkg.provides) if (inWorld.has(p.name)) w.word(p.name.name);
      forEachReverseDependency(pkg, { marked: (p) => stays.has(p), match: DEP_SATISFIES, oncePerPackage: seen }, (p0) => visit(p0));
      for (const trigger of pkg.installIf) {
        for (const { pkg: p0 } of trigger.name.providers) {
          if (!stays.has(p0) || seen.has(p0)) continue;
          seen.add(p0);
          visit(p0);
        }
      }
    };
    for (const { pkg } of name.providers) if (stays.has(pkg)) visit(pkg);
    if (started) w.end();
  }
  if (!header) return [];
  return [...w.text.replace(/\n$/, "").split("\n"), ""];
}

export function applyFix(db: PackageDb, args: string[], o: AppletOptions = {}): TransactionReport {
  const s = new Session(db);
  let flags = (o.upgrade ? SOLVERF_UPGRADE : 0) | (o.reinstall ? SOLVERF_REINSTALL : 0);
  if (!flags) flags = SOLVERF_REINSTALL;
  const nameFlags: NameFlags = [];
  for (const arg of args) {
    const name = db.names.get(arg);
    if (name === undefined) {
      s.error(`Package '${arg}' not found`);
      return { output: s.out, errors: 1, changes: [], world: db.world, problems: [] };
    }
    s.setNameFlags(nameFlags, name, flags, o.depends ? flags : 0);
  }
  const r = s.commit([...db.world], 0, nameFlags, o.force ?? false);
  return { output: s.out, errors: r.errors, changes: r.changes, world: db.world, problems: s.problems };
}

export function applyUpgrade(db: PackageDb, args: string[], o: AppletOptions = {}): TransactionReport {
  const s = new Session(db);
  let flags = SOLVERF_UPGRADE | (o.latest ? SOLVERF_LATEST : 0) | (o.available ? SOLVERF_AVAILABLE : 0);
  if (!o.noSelfUpgrade && args.length === 0) {
    const r = selfUpgrade(s, flags, o.selfUpgradeOnly ?? false);
    if (r.errors) return { output: s.out, errors: r.errors, changes: r.changes, world: db.world, problems: s.problems };
  }
  if (o.selfUpgradeOnly) return { output: s.out, errors: 0, changes: [], world: db.world, problems: [] };
  let world = db.world;
  if (flags & SOLVERF_AVAILABLE) {
    world = db.world.map((d) => (d.op === DEPMASK_CHECKSUM ? { ...d, op: DEPMASK_ANY, version: null } : d));
  }
  // --prune: world entries no repository provides any more (the cache does not count) leave the world.
  if (o.prune) world = world.filter((d) => d.name.providers.some((p) => (p.pkg.repos & ~(1 << REPOSITORY_CACHED)) !== 0));
  const nameFlags: NameFlags = [];
  if (args.length > 0) {
    if (!o.ignore) flags &= ~SOLVERF_UPGRADE;
    for (const arg of args) {
      const name = db.names.get(arg);
      if (name === undefined) {
        s.error(`Package '${arg}' not found`);
        return { output: s.out, errors: 1, changes: [], world, problems: [] };
      }
      s.setNameFlags(nameFlags, name, o.ignore ? SOLVERF_INSTALLED : SOLVERF_UPGRADE, 0);
    }
  }
  const r = s.commit([...world], flags, nameFlags, o.force ?? false);
  return { output: s.out, errors: r.errors, changes: r.changes, world, problems: s.problems };
}

/** apk upgrades apk-tools (and what it needs) first, on its own, when a newer one is available. */
function selfUpgrade(s: Session, flags: number, only: boolean): { errors: number; changes: Change[] } {
  const db = s.db;
  const name = db.names.get("apk-tools");
  if (!name) return { errors: 0, changes: [] };
  const pkg = installedPkgOf(name);
  if (!pkg) return { errors: 0, changes: [] };
  const newer = name.providers.some((p) => p.pkg.name === name && p.pkg.repos !== 0 && compareVersions(p.pkg.version, pkg.version) > 0);
  if (!newer) return { errors: 0, changes: [] };
  db.performingSelfUpgrade = true;
  try {
    const result = new Solver(db).solve([...db.world], { nameFlags: [{ name, flags, inheritable: 0 }] });
    if (result.errors) {
      s.warn("Failed to perform initial self-upgrade, continuing with full upgrade.");
      return { errors: 0, changes: [] };
    }
    if (result.changeset.numTotalChanges === 0) return { errors: 0, changes: [] };
    if (!only) {
      s.warn("This simulation is not reliable as apk-tools upgrade is available.");
      return { errors: 0, changes: [] };
    }
    s.out.push("Upgrading critical system libraries and apk-tools:");
    s.printChangeset(result.changeset);
    return { errors: 0, changes: result.changeset.changes };
  } finally {
    db.performingSelfUpgrade = false;
  }
}

export { depString };
export function worldString(world: Dep[], db: PackageDb): string {
  return world.map((d) => depString(d, db.tags)).join(" ");
}

export function assertNever(x: never): never {
  throw new UndistroError("INTERNAL", `unexpected ${String(x)}`);
}
