/**
 * The dependency solver: apk-tools' up- and down-propagating, forward-checking, deductive solver,
 * re-expressed in TypeScript so that undistro picks exactly the package sets apk picks (the
 * conformance runner holds it to apk's own test cases). Names are resolved one at a time: constraints
 * are propagated down the dependency graph, providers that cannot work are disqualified, and when no
 * name is forced the next is chosen by apk's queue order and provider preferences.
 */
import { compareVersions } from "../apk/index.js";
import { depAnalyze, depIsProvided, isConflict } from "./dep-match.js";
import { SOLVERF_AVAILABLE, SOLVERF_IGNORE_CONFLICT, SOLVERF_INSTALLED, SOLVERF_LATEST, SOLVERF_REINSTALL, SOLVERF_REMOVE, SOLVERF_UPGRADE } from "./flags.js";
import { DEFAULT_PINNING_MASK, DEFAULT_TAG, type Dep, type Name, type PackageDb, type Pkg, type Provider, REPOSITORY_CACHED } from "./model.js";

/** apk's display order of names: case-insensitive first (strcasecmp), then byte order. */
export function compareNamesForDisplay(a: string, b: string): number {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Databases whose names and packages carry their state objects already (see Solver's constructor). */
const prepared = new WeakSet<PackageDb>();

/**
 * Gives every name and package of the database its state object, once per database (the loaders
 * call it; a Solver makes sure). Made during a resolve instead, tens of thousands of new objects
 * hung on the index's old ones make each young-generation collection walk them all: that doubled
 * a first resolve of the 150k-version index.
 */
export function prepareSolverStates(db: PackageDb): void {
  if (prepared.has(db)) return;
  for (const name of db.names.values()) {
    name.solverState ??= new NameState();
    for (const pr of name.providers) pr.pkg.solverState ??= new PkgState();
  }
  prepared.add(db);
}

/** Solver passes so far, process-wide: each pass's marks on names differ from every other's. */
let solverPasses = 0;

const NO_PROVIDER: Provider = { pkg: null as unknown as Pkg, version: null };

export class NameState {
  seen!: boolean;
  locked!: boolean;
  requirers!: number;
  reevaluateDeps!: boolean;
  reevaluateIif!: boolean;
  hasIif!: boolean;
  noIif!: boolean;
  hasOptions!: boolean;
  reverseDepsDone!: boolean;
  hasAutoSelectable!: boolean;
  /** Post-order position in discovery (apk's order_id): later-discovered names are decided first. */
  orderId!: number;
  chosen!: Provider;
  mergeDepends!: number;
  mergeProvides!: number;
  hasVirtualProvides!: boolean;
  inDirty!: boolean;
  inUnresolved!: boolean;
  // changeset generation
  inChangeset!: boolean;
  installedPkg!: Pkg | null;
  installedName!: Name | null;
  csRequirers!: number;
  /** Solver.reconsiderations when this name's reverse dependencies were last flagged (see reevaluateReverseDeps). */
  reverseDepsFlaggedAt!: number;
  constructor() {
    this.reset();
  }
  /** Back to a new pass's state: the object is reused, pass after pass (no garbage). */
  reset(): void {
    this.seen = false;
    this.locked = false;
    this.requirers = 0;
    this.reevaluateDeps = false;
    this.reevaluateIif = false;
    this.hasIif = false;
    this.noIif = false;
    this.hasOptions = false;
    this.reverseDepsDone = false;
    this.hasAutoSelectable = false;
    this.orderId = 0;
    this.chosen = NO_PROVIDER;
    this.mergeDepends = 0;
    this.mergeProvides = 0;
    this.hasVirtualProvides = false;
    this.inDirty = false;
    this.inUnresolved = false;
    this.inChangeset = false;
    this.installedPkg = null;
    this.installedName = null;
    this.csRequirers = 0;
    this.reverseDepsFlaggedAt = -1;
  }
}

export class PkgState {
  seen!: boolean;
  pinningAllowed!: number;
  pinningPreferred!: number;
  pkgAvailable!: boolean;
  pkgSelectable!: boolean;
  iifFailed!: boolean;
  iifTriggered!: boolean;
  tagPreferred!: boolean;
  tagOk!: boolean;
  solverFlags!: number;
  solverFlagsInheritable!: number;
  conflicts!: number;
  dependenciesMerged!: boolean;
  dependenciesUsed!: boolean;
  inChangeset!: boolean;
  error!: boolean;
  constructor() {
    this.reset();
  }
  /** Back to a new pass's state: the object is reused, pass after pass (no garbage). */
  reset(): void {
    this.seen = false;
    this.pinningAllowed = 0;
    this.pinningPreferred = 0;
    this.pkgAvailable = false;
    this.pkgSelectable = false;
    this.iifFailed = false;
    this.iifTriggered = false;
    this.tagPreferred = false;
    this.tagOk = false;
    this.solverFlags = 0;
    this.solverFlagsInheritable = 0;
    this.conflicts = 0;
    this.dependenciesMerged = false;
    this.dependenciesUsed = false;
    this.inChangeset = false;
    this.error = false;
  }
}

export interface Change {
  oldPkg: Pkg | null;
  oldTag: number;
  newPkg: Pkg | null;
  newTag: number;
  reinstall: boolean;
}

export interface Changeset {
  changes: Change[];
  numInstall: number;
  numRemove: number;
  numAdjust: number;
  numTotalChanges: number;
}

export interface SolveOptions {
  /** Flags applied to every world dependency (inherited down the tree). */
  flags?: number;
  /** Flags put on particular names before solving (apk's apk_solver_set_name_flags). */
  nameFlags?: ReadonlyArray<{ name: Name; flags: number; inheritable: number }>;
  /** apk's --force-broken-world: drop unsatisfiable world entries and solve again. */
  forceBrokenWorld?: boolean;
}

export interface SolveResult {
  errors: number;
  changeset: Changeset;
}

/** A doubly linked list of names through a Map of links (apk's intrusive list_head). */
class NameList {
  private readonly next = new Map<Name, Name | null>();
  private readonly prev = new Map<Name, Name | null>();
  private head: Name | null = null;
  private tail: Name | null = null;
  has(n: Name): boolean {
    return this.next.has(n);
  }
  empty(): boolean {
    return this.head === null;
  }
  pushTail(n: Name): void {
    this.next.set(n, null);
    this.prev.set(n, this.tail);
    if (this.tail) this.next.set(this.tail, n);
    else this.head = n;
    this.tail = n;
  }
  pushHead(n: Name): void {
    if (this.head) this.insertBefore(n, this.head);
    else this.pushTail(n);
  }
  insertBefore(n: Name, before: Name): void {
    const p = this.prev.get(before) ?? null;
    this.next.set(n, before);
    this.prev.set(n, p);
    this.prev.set(before, n);
    if (p) this.next.set(p, n);
    else this.head = n;
  }
  remove(n: Name): void {
    if (!this.next.has(n)) return;
    const p = this.prev.get(n) ?? null;
    const q = this.next.get(n) ?? null;
    if (p) this.next.set(p, q);
    else this.head = q;
    if (q) this.prev.set(q, p);
    else this.tail = p;
    this.next.delete(n);
    this.prev.delete(n);
  }
  popHead(): Name | null {
    const h = this.head;
    if (h) this.remove(h);
    return h;
  }
  *[Symbol.iterator](): Generator<Name> {
    for (let n = this.head; n !== null; n = this.next.get(n) ?? null) yield n;
  }
}

export class Solver {
  private readonly dirty = new NameList();
  private readonly unresolved = new NameList();
  private errors = 0;
  private orderCounter = 0;
  /** reconsiderName calls so far in this pass: a flag it clears may need setting again after one. */
  private reconsiderations = 0;
  /** This pass's number (see n() and p()). */
  private pass = -1;
  /** UNDISTRO_SOLVER_DEBUG=1: the decisions on stderr, named as apk's DEBUG_PRINT build names them. */
  private readonly trace = process.env.UNDISTRO_SOLVER_DEBUG ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  private solverFlagsInherit = 0;
  private pinningInherit = 0;
  private defaultRepos = 0;
  private ignoreConflict = false;
  private availableRepos = 0;
  private changeset: Changeset = { changes: [], numInstall: 0, numRemove: 0, numAdjust: 0, numTotalChanges: 0 };
  private flagged = new Set<Name>();

  constructor(private readonly db: PackageDb) {
    prepareSolverStates(db);
  }

  // A pass's state hangs on the name and package objects (as apk's name->ss, pkg->ss), stamped
  // with the pass, so the hot paths need no map lookup. A state object from an earlier pass is
  // reset in place rather than replaced: a resolve over a Wolfi-sized index touches tens of
  // thousands of packages, and new objects for each would leave that much garbage per pass (the
  // major collections over the index's heap were most of the solver benchmark's outliers).
  private n(name: Name): NameState {
    if (name.statePass === this.pass) return name.solverState as NameState;
    let s = name.solverState as NameState | undefined;
    if (s === undefined) name.solverState = s = new NameState();
    else s.reset();
    name.statePass = this.pass;
    return s;
  }
  private p(pkg: Pkg): PkgState {
    if (pkg.statePass === this.pass) return pkg.solverState as PkgState;
    let s = pkg.solverState as PkgState | undefined;
    if (s === undefined) pkg.solverState = s = new PkgState();
    else s.reset();
    pkg.statePass = this.pass;
    return s;
  }
  /** The state of `name` in this pass, if it has one (without creating it). */
  private existing(name: Name): NameState | undefined {
    return name.statePass === this.pass ? (name.solverState as NameState) : undefined;
  }

  solve(world: Dep[], options: SolveOptions = {}): SolveResult {
    const flags = options.flags ?? 0;
    // In place, as apk sorts its world before solving: the error report and the world file that
    // follow list it in this order.
    const sorted = world.sort((a, b) => compareNamesForDisplay(a.name.name, b.name.name));
    const broken = new Set<Dep>(sorted.filter((d) => d.broken));
    // Names keep their "flags set" mark across a --force-broken-world restart; packages lose the
    // flags themselves with the rest of their solver state (apk clears pkg->ss on restart).
    this.flagged = new Set((options.nameFlags ?? []).map((f) => f.name));
    for (let pass = 0; ; pass++) {
      this.reset();
      for (const f of pass === 0 ? (options.nameFlags ?? []) : []) {
        for (const pr of f.name.providers) {
          const s = this.p(pr.pkg);
          s.solverFlags |= f.flags;
          s.solverFlagsInheritable |= f.inheritable;
        }
      }
      this.defaultRepos = this.db.pinningMaskRepos(DEFAULT_PINNING_MASK);
      this.ignoreConflict = (flags & SOLVERF_IGNORE_CONFLICT) !== 0;
      this.availableRepos = this.db.availableRepos();
      this.solverFlagsInherit = flags;
      for (const d of sorted) if (!broken.has(d)) this.discoverName(d.name);
      for (const d of sorted) {
        if (broken.has(d)) continue;
        this.pinningInherit = 1 << d.tag;
        this.applyConstraint(null, d);
      }
      this.solverFlagsInherit = 0;
      this.pinningInherit = 0;
      for (;;) {
        for (let name = this.dirty.popHead(); name !== null; name = this.dirty.popHead()) {
          this.n(name).inDirty = false;
          this.reconsiderName(name);
        }
        const next = this.dequeueNextName();
        if (next === null) break;
        this.selectPackage(next);
      }
      // Every world entry, broken ones too (apk's generate_changeset walks the whole world).
      this.generateChangeset(sorted);
      if (this.errors > 0 && options.forceBrokenWorld) {
        let changed = false;
        for (const d of sorted) {
          if (broken.has(d)) continue;
          const chosen = this.n(d.name).chosen.pkg;
          if (chosen === null || this.p(chosen).error) {
            broken.add(d);
            changed = true;
          }
        }
        if (changed) continue;
      }
      break;
    }
    return { errors: this.errors, changeset: this.changeset };
  }

  private reset(): void {
    this.pass = ++solverPasses;
    this.reconsiderations = 0;
    for (const n of [...this.dirty]) this.dirty.remove(n);
    for (const n of [...this.unresolved]) this.unresolved.remove(n);
    this.errors = 0;
    this.orderCounter = 0;
    this.changeset = { changes: [], numInstall: 0, numRemove: 0, numAdjust: 0, numTotalChanges: 0 };
  }

  private pkgRepos(pkg: Pkg): number {
    return pkg.repos | (pkg.ipkg ? (this.db.tags[pkg.ipkg.tag]?.allowedRepos ?? 0) : 0);
  }

  private getTag(pinningMask: number, repos: number): number {
    for (let i = 0; i < this.db.tags.length; i++) {
      if (!(pinningMask & (1 << i))) continue;
      if ((this.db.tags[i]?.allowedRepos ?? 0) & repos) return i;
    }
    return DEFAULT_TAG;
  }

  private markError(pkg: Pkg | null): void {
    if (pkg === null) return;
    const s = this.p(pkg);
    if (s.error) return;
    s.error = true;
    this.errors++;
  }

  private queueDirty(name: Name): void {
    const s = this.n(name);
    if (s.inDirty || s.locked || (s.requirers === 0 && !s.reevaluateIif)) return;
    s.inDirty = true;
    this.dirty.pushTail(name);
  }

  private unqueue(name: Name): void {
    const s = this.n(name);
    if (!s.inUnresolved) return;
    this.unresolved.remove(name);
    s.inUnresolved = false;
  }

  /** Keeps `name` on the unresolved list exactly while something wants it (requirers or install_if). */
  private queueUnresolved(name: Name): void {
    const s = this.n(name);
    if (s.locked) return;
    const want = s.requirers > 0 || s.hasIif;
    if (want && !s.inUnresolved) {
      s.inUnresolved = true;
      this.unresolved.pushHead(name);
    } else if (!want && s.inUnresolved) this.unqueue(name);
  }

  private reevaluateReverseDeps(name: Name): void {
    // Flagging the same reverse dependencies again before any name was reconsidered changes
    // nothing (the flags are still set, the names still queued): a chosen package disqualifies
    // every other version of its name one after another, and a name like so:libc.so.6 has tens of
    // thousands of reverse dependencies in a Wolfi-sized index.
    const ns = this.n(name);
    if (ns.reverseDepsFlaggedAt === this.reconsiderations) return;
    ns.reverseDepsFlaggedAt = this.reconsiderations;
    for (const name0 of name.rdepends) {
      const s = this.existing(name0);
      if (s === undefined || !s.seen) continue;
      s.reevaluateDeps = true;
      this.queueDirty(name0);
    }
  }

  private reevaluateReverseInstallIf(name: Name): void {
    for (const name0 of name.rinstallIf) {
      const s = this.existing(name0);
      if (s === undefined || !s.seen || s.noIif) continue;
      s.reevaluateIif = true;
      this.queueDirty(name0);
    }
  }

  private reevaluateReverseInstallIfPkg(pkg: Pkg): void {
    this.reevaluateReverseInstallIf(pkg.name);
    for (const d of pkg.provides) this.reevaluateReverseInstallIf(d.name);
  }

  private disqualifyPackage(pkg: Pkg): void {
    this.p(pkg).pkgSelectable = false;
    this.reevaluateReverseDeps(pkg.name);
    for (const d of pkg.provides) this.reevaluateReverseDeps(d.name);
    this.reevaluateReverseInstallIfPkg(pkg);
  }

  private dependencySatisfiable(dpkg: Pkg, dep: Dep): boolean {
    const s = this.n(dep.name);
    if (isConflict(dep) && this.ignoreConflict) return true;
    if (s.locked) return depIsProvided(dpkg, dep, s.chosen.pkg ? s.chosen : null);
    if (s.requirers === 0 && depIsProvided(dpkg, dep, null)) return true;
    for (const pr of dep.name.providers) if (this.p(pr.pkg).pkgSelectable && depIsProvided(dpkg, dep, pr)) return true;
    return false;
  }

  /**
   * apk's discover_name: marks every name the world can reach (dependencies, names provided, and
   * the install_if packages of each), and numbers names in post-order (orderId), the tie-break of
   * which undecided name goes next.
   */
  private discoverName(name: Name): void {
    const s = this.n(name);
    if (s.seen) return;
    s.seen = true;
    s.noIif = true;
    for (const pr of name.providers) {
      const pkg = pr.pkg;
      const ps = this.p(pkg);
      if (!ps.seen) {
        ps.seen = true;
        ps.pinningAllowed = DEFAULT_PINNING_MASK;
        ps.pinningPreferred = DEFAULT_PINNING_MASK;
        ps.pkgAvailable = (pkg.repos & this.availableRepos & ~(1 << REPOSITORY_CACHED)) !== 0;
        ps.pkgSelectable =
          ps.pkgAvailable || (pkg.repos & (1 << REPOSITORY_CACHED)) !== 0 || pkg.cachedNonRepository || pkg.installedSize === 0 || pkg.ipkg !== null;
        ps.iifFailed = pkg.installIf.length === 0 || ((this.solverFlagsInherit & SOLVERF_AVAILABLE) !== 0 && !ps.pkgAvailable);
        const repos = this.pkgRepos(pkg);
        ps.tagPreferred = pkg.installedSize === 0 || (repos & this.defaultRepos) !== 0;
        ps.tagOk = ps.tagPreferred || pkg.cachedNonRepository || pkg.ipkg !== null;
        for (const dep of pkg.depends) this.discoverName(dep.name);
      }
      s.noIif &&= ps.iifFailed;
    }
    for (const pr of name.providers) {
      for (const name0 of pr.pkg.name.rinstallIf) this.discoverName(name0);
      for (const dep of pr.pkg.provides) {
        if (this.n(dep.name).seen) continue;
        this.discoverName(dep.name);
        for (const name0 of dep.name.rinstallIf) this.discoverName(name0);
      }
    }
    s.orderId = ++this.orderCounter;
  }

  private nameRequirersChanged(name: Name): void {
    this.queueUnresolved(name);
    this.reevaluateReverseInstallIf(name);
    this.queueDirty(name);
  }

  private inheritPinningAndFlags(pkg: Pkg, ppkg: Pkg | null): void {
    const s = this.p(pkg);
    const repos = this.pkgRepos(pkg);
    if (ppkg !== null) {
      const pp = this.p(ppkg);
      s.solverFlags |= pp.solverFlagsInheritable;
      s.solverFlagsInheritable |= pp.solverFlagsInheritable;
      s.pinningAllowed |= pp.pinningAllowed;
    } else {
      s.solverFlags |= this.solverFlagsInherit;
      s.solverFlagsInheritable |= this.solverFlagsInherit;
      s.pinningAllowed |= this.pinningInherit;
      s.pinningPreferred = this.pinningInherit;
      s.tagPreferred = (repos & this.db.pinningMaskRepos(s.pinningPreferred)) !== 0;
    }
    if (repos & this.db.pinningMaskRepos(s.pinningAllowed)) s.tagOk = true;
  }

  private applyConstraint(ppkg: Pkg | null, dep: Dep): void {
    const name = dep.name;
    const s = this.n(name);
    if (isConflict(dep) && this.ignoreConflict) return;
    if (!isConflict(dep)) {
      s.requirers++;
      if (s.requirers === 1) this.nameRequirersChanged(name);
    }
    for (const p0 of name.providers) {
      const ps0 = this.p(p0.pkg);
      const provided = depIsProvided(ppkg, dep, p0);
      if (!provided) ps0.conflicts++;
      if (ps0.pkgSelectable && ps0.conflicts > 0) this.disqualifyPackage(p0.pkg);
      if (provided) this.inheritPinningAndFlags(p0.pkg, ppkg);
    }
  }

  private excludeNonProviders(name: Name, mustProvide: Name, skipVirtuals: boolean): void {
    if (name === mustProvide || this.ignoreConflict) return;
    for (const pr of name.providers) {
      if (pr.pkg.name === mustProvide || !this.p(pr.pkg).pkgSelectable || (skipVirtuals && pr.version === null)) continue;
      if (pr.pkg.provides.some((d) => d.name === mustProvide || (skipVirtuals && d.version === null))) continue;
      this.disqualifyPackage(pr.pkg);
    }
  }

  private isProviderAutoSelectable(pr: Provider): boolean {
    if (pr.version !== null) return true;
    if (pr.pkg.providerPriority) return true;
    if (this.n(pr.pkg.name).requirers) return true;
    return false;
  }

  private reconsiderName(name: Name): void {
    this.reconsiderations++;
    const s = this.n(name);
    const reevaluateDeps = s.reevaluateDeps;
    const reevaluateIif = s.reevaluateIif;
    s.reevaluateDeps = false;
    s.reevaluateIif = false;
    let firstCandidate: Pkg | null = null;
    let numOptions = 0;
    let numTagNotOk = 0;
    let hasIif = false;
    let noIif = true;
    let hasAutoSelectable = false;
    // merge_index: a name's counter equals numOptions only if every option so far had it.
    const merge = (st: NameState, key: "mergeDepends" | "mergeProvides"): boolean => {
      if (st[key] !== numOptions) return false;
      st[key] = numOptions + 1;
      return true;
    };
    const mergeComplete = (st: NameState, key: "mergeDepends" | "mergeProvides"): boolean => {
      const r = st[key] === numOptions;
      st[key] = 0;
      return r;
    };
    for (const pr of name.providers) {
      const pkg = pr.pkg;
      const ps = this.p(pkg);
      ps.dependenciesMerged = false;
      if (reevaluateDeps) {
        if (!ps.pkgSelectable) continue;
        for (const dep of pkg.depends) {
          if (!this.dependencySatisfiable(pkg, dep)) {
            this.disqualifyPackage(pkg);
            break;
          }
        }
      }
      if (!ps.pkgSelectable) continue;
      if (reevaluateIif && !ps.iifTriggered && !ps.iifFailed) {
        ps.iifTriggered = true;
        ps.iifFailed = false;
        for (const dep of pkg.installIf) {
          const ds = this.n(dep.name);
          if (!ds.locked) {
            ps.iifTriggered = false;
            ps.iifFailed = false;
            break;
          }
          if (!depIsProvided(pkg, dep, ds.chosen.pkg ? ds.chosen : null)) {
            ps.iifTriggered = false;
            ps.iifFailed = true;
            break;
          }
        }
      }
      if (reevaluateIif && ps.iifTriggered) {
        for (const dep of pkg.installIf) this.inheritPinningAndFlags(pkg, this.n(dep.name).chosen.pkg ?? null);
      }
      hasIif ||= ps.iifTriggered;
      noIif &&= ps.iifFailed;
      hasAutoSelectable ||= ps.iifTriggered;
      if (s.requirers === 0) continue;
      ps.dependenciesMerged = true;
      if (firstCandidate === null) firstCandidate = pkg;
      for (const dep of pkg.depends) if (!isConflict(dep)) merge(this.n(dep.name), "mergeDepends");
      const own = this.n(pkg.name);
      if (merge(own, "mergeProvides")) own.hasVirtualProvides ||= pr.version === null;
      for (const dep of pkg.provides) {
        const st = this.n(dep.name);
        if (merge(st, "mergeProvides")) st.hasVirtualProvides ||= dep.version === null;
      }
      if (!ps.tagOk) numTagNotOk++;
      numOptions++;
      if (!hasAutoSelectable && this.isProviderAutoSelectable(pr)) hasAutoSelectable = true;
    }
    s.hasOptions = numOptions > 1 || numTagNotOk > 0;
    s.hasIif = hasIif;
    s.noIif = noIif;
    s.hasAutoSelectable = hasAutoSelectable;
    this.trace?.(
      `reconsider_name: ${name.name}: has_options=${+s.hasOptions}, has_autoselectable=${+hasAutoSelectable}, requirers=${s.requirers}, has_iif=${+hasIif}`,
    );
    this.queueUnresolved(name);
    if (firstCandidate !== null) {
      const pkg = firstCandidate;
      for (const pr of name.providers) {
        const ps = this.p(pr.pkg);
        ps.dependenciesUsed = ps.dependenciesMerged;
      }
      if (numOptions === 1) {
        for (const dep of pkg.depends) if (mergeComplete(this.n(dep.name), "mergeDepends")) this.applyConstraint(pkg, dep);
      } else {
        for (const dep of pkg.depends) {
          const name0 = dep.name;
          const s0 = this.n(name0);
          if (mergeComplete(s0, "mergeDepends") && s0.requirers === 0) {
            s0.requirers++;
            this.nameRequirersChanged(name0);
            for (const pr of name0.providers) this.inheritPinningAndFlags(pr.pkg, pkg);
          }
        }
      }
      const own = this.n(pkg.name);
      if (mergeComplete(own, "mergeProvides")) this.excludeNonProviders(pkg.name, name, own.hasVirtualProvides);
      for (const dep of pkg.provides) {
        const st = this.n(dep.name);
        if (mergeComplete(st, "mergeProvides")) this.excludeNonProviders(dep.name, name, st.hasVirtualProvides);
      }
      own.hasVirtualProvides = false;
      for (const dep of pkg.provides) this.n(dep.name).hasVirtualProvides = false;
    }
    s.reverseDepsDone = true;
    for (const name0 of name.rdepends) {
      const s0 = this.existing(name0);
      if (s0?.seen && !s0.locked) {
        s.reverseDepsDone = false;
        break;
      }
    }
  }

  /** apk's compare_providers: positive when pA is the better choice. */
  private compareProviders(pA: Provider, pB: Provider): number {
    const a = pA.pkg;
    const b = pB.pkg;
    if (a === null || b === null) return (a !== null ? 1 : 0) - (b !== null ? 1 : 0);
    const sa = this.p(a);
    const sb = this.p(b);
    const flags = sa.solverFlags | sb.solverFlags;
    const bit = (x: boolean) => (x ? 1 : 0);
    const installed = () => bit(a.ipkg !== null) - bit(b.ipkg !== null);
    let r: number;
    if (flags & SOLVERF_REMOVE) {
      r = (sb.solverFlags & SOLVERF_REMOVE) - (sa.solverFlags & SOLVERF_REMOVE);
      if (r) return r;
    }
    if (flags & SOLVERF_LATEST && sa.pinningAllowed === DEFAULT_PINNING_MASK && sb.pinningAllowed === DEFAULT_PINNING_MASK) {
      r = bit(sa.tagOk) - bit(sb.tagOk);
      if (r) return r;
      if (flags & SOLVERF_AVAILABLE) {
        r = bit(sa.pkgAvailable) - bit(sb.pkgAvailable);
        if (r) return r;
      } else if (flags & SOLVERF_REINSTALL) {
        r = bit(sa.pkgSelectable) - bit(sb.pkgSelectable);
        if (r) return r;
      }
    } else {
      r = bit(sa.pkgSelectable) - bit(sb.pkgSelectable);
      if (r) return r;
      r = bit(sa.dependenciesUsed) - bit(sb.dependenciesUsed);
      if (r) return r;
      r = sb.conflicts - sa.conflicts;
      if (r) return r;
      if ((this.db.performingSelfUpgrade && !(flags & SOLVERF_UPGRADE)) || flags & SOLVERF_INSTALLED) {
        r = installed();
        if (r) return r;
      }
      r = bit(sa.tagOk) - bit(sb.tagOk);
      if (r) return r;
      if (flags & SOLVERF_AVAILABLE) {
        r = bit(sa.pkgAvailable) - bit(sb.pkgAvailable);
        if (r) return r;
      }
      r = bit(sa.tagPreferred) - bit(sb.tagPreferred);
      if (r) return r;
      if (!(flags & SOLVERF_UPGRADE)) {
        r = installed();
        if (r) return r;
      }
    }
    // The version of the name asked for, then (same package name) the package's own version.
    r = versionOrder(pA.version, pB.version);
    if (r) return r;
    if (a.name === b.name) {
      r = versionOrder(a.version, b.version);
      if (r) return r;
    }
    r = installed();
    if (r) return r;
    r = a.providerPriority - b.providerPriority;
    if (r) return r;
    r = bit(sa.pkgSelectable) - bit(sb.pkgSelectable);
    if (r) return r;
    return ffs(b.repos) - ffs(a.repos);
  }

  private assignName(name: Name, pr: Provider): void {
    const s = this.n(name);
    if (s.locked) {
      if (pr.version === null && s.chosen.version === null) return;
      if (this.ignoreConflict) return;
      this.markError(pr.pkg);
      this.markError(s.chosen.pkg);
      return;
    }
    this.trace?.(`assign ${name.name} to ${pr.pkg ? String(pr.pkg) : "[none]"}`);
    s.locked = true;
    s.chosen = pr;
    this.unqueue(name);
    if (s.inDirty) {
      this.dirty.remove(name);
      s.inDirty = false;
    }
    if (!this.ignoreConflict) {
      for (const p0 of name.providers) {
        if (p0.pkg === pr.pkg) continue;
        if (pr.version === null && p0.version === null) continue;
        this.disqualifyPackage(p0.pkg);
      }
    }
    this.reevaluateReverseDeps(name);
    if (pr.pkg) this.reevaluateReverseInstallIfPkg(pr.pkg);
    else this.reevaluateReverseInstallIf(name);
  }

  private selectPackage(name: Name): void {
    const s = this.n(name);
    this.trace?.(`select_package: ${name.name} (requirers=${s.requirers}, autosel=${+s.hasAutoSelectable}, iif=${+s.hasIif})`);
    let chosen: Provider = NO_PROVIDER;
    if (s.requirers || s.hasIif) {
      for (const pr of name.providers) {
        const ps = this.p(pr.pkg);
        if (s.requirers === 0 && (!ps.iifTriggered || !ps.tagOk || !ps.pkgSelectable)) continue;
        if (!this.isProviderAutoSelectable(pr)) continue;
        if (this.compareProviders(pr, chosen) > 0) chosen = pr;
      }
    }
    const pkg = chosen.pkg;
    if (pkg) {
      const ps = this.p(pkg);
      if (!ps.pkgSelectable || !ps.tagOk) this.markError(pkg);
      this.assignName(pkg.name, { pkg, version: pkg.version });
      for (const d of pkg.provides) this.assignName(d.name, { pkg, version: d.version });
      for (const d of pkg.depends) this.applyConstraint(pkg, d);
    } else {
      this.assignName(name, NO_PROVIDER);
      if (s.requirers > 0) this.errors++;
    }
  }

  /**
   * The next name to decide: one that is fully constrained (all its dependents decided, required,
   * auto-selectable, a single option) right away; otherwise the best by compareNameDequeue.
   */
  private dequeueNextName(): Name | null {
    let best: Name | null = null;
    for (const name of this.unresolved) {
      const s = this.n(name);
      if (s.reverseDepsDone && s.requirers && s.hasAutoSelectable && !s.hasOptions) {
        best = name;
        break;
      }
      if (best === null || this.compareNameDequeue(name, best) < 0) best = name;
    }
    if (best !== null) this.unqueue(best);
    return best;
  }

  /**
   * Queue order when no name is forced: names whose install_if just triggered first (so an
   * install_if package can still bring its own choice of provider, installif10), then required
   * names, then names the command put flags on (`add`, `upgrade NAME`, the apk-tools
   * self-upgrade), then the longest dependency chain below them.
   */
  /** apk's compare_name_dequeue: auto-selectable names first, then flagged ones, then the latest discovered. */
  private compareNameDequeue(a: Name, b: Name): number {
    const sa = this.n(a);
    const sb = this.n(b);
    const bit = (x: unknown) => (x ? 1 : 0);
    let r = bit(sb.hasAutoSelectable) - bit(sa.hasAutoSelectable);
    if (r) return r;
    r = bit(this.flagged.has(a)) - bit(this.flagged.has(b));
    if (r) return -r;
    return sb.orderId - sa.orderId;
  }

  // ---- changeset generation -------------------------------------------------------------------

  private recordChange(opkg: Pkg | null, npkg: Pkg | null): void {
    const change: Change = {
      oldPkg: opkg,
      oldTag: opkg ? (opkg.ipkg?.tag ?? 0) : 0,
      newPkg: npkg,
      newTag: npkg ? this.getTag(this.p(npkg).pinningAllowed, this.pkgRepos(npkg)) : 0,
      reinstall: npkg ? (this.p(npkg).solverFlags & SOLVERF_REINSTALL) !== 0 : false,
    };
    this.changeset.changes.push(change);
    if (npkg === null) this.changeset.numRemove++;
    else if (opkg === null) this.changeset.numInstall++;
    else if (npkg !== opkg || change.reinstall || change.newTag !== change.oldTag) this.changeset.numAdjust++;
  }

  private csTrackDepsAdded(pkg: Pkg): void {
    for (const d of pkg.depends) {
      const inst = this.n(d.name).installedName;
      if (isConflict(d) || !inst) continue;
      this.n(inst).csRequirers++;
    }
  }

  private csTrackDepsRemoved(pkg: Pkg): void {
    for (const d of pkg.depends) {
      const inst = this.n(d.name).installedName;
      if (isConflict(d) || !inst) continue;
      if (--this.n(inst).csRequirers > 0) continue;
      const pkg0 = this.n(d.name).installedPkg;
      if (pkg0 !== null) this.csGenNameRemove(pkg0);
    }
  }

  private csCheckRemovalByDeps(pkg: Pkg): void {
    const s = this.n(pkg.name);
    if (s.csRequirers === 0 && s.chosen.pkg === null) this.csGenNameRemove(pkg);
  }

  private csCheckInstallByIif(name: Name): void {
    const s = this.n(name);
    const pkg = s.chosen.pkg;
    if (!pkg || !s.seen || s.inChangeset) return;
    for (const dep0 of pkg.installIf) {
      const s0 = this.n(dep0.name);
      if (!s0.inChangeset) return;
      if (!depIsProvided(pkg, dep0, s0.chosen.pkg ? s0.chosen : null)) return;
    }
    this.csGenNameChange(name);
  }

  private csCheckRemovalByIif(name: Name): void {
    const s = this.n(name);
    const pkg = s.installedPkg;
    if (!pkg || s.inChangeset || s.chosen.pkg) return;
    for (const dep0 of pkg.installIf) {
      const s0 = this.n(dep0.name);
      if (s0.inChangeset && !s0.chosen.pkg) {
        this.csCheckRemovalByDeps(pkg);
        return;
      }
    }
  }

  private csCheckByReverseIif(pkg: Pkg | null, cb: (name: Name) => void): void {
    if (!pkg) return;
    for (const name of pkg.name.rinstallIf) cb(name);
    for (const d of pkg.provides) for (const name of d.name.rinstallIf) cb(name);
  }

  /** apk's cset_gen_name_remove_orphan: what provided `name` before and goes now is removed. */
  private csGenNameRemoveOrphan(name: Name): void {
    const s = this.n(name);
    if (s.inChangeset) return;
    s.inChangeset = true;
    if (s.installedPkg && (!s.chosen.pkg || s.chosen.pkg.name !== name)) this.csGenNameRemove(s.installedPkg);
    for (const pr of name.providers) {
      const pkg0 = pr.pkg;
      const s0 = this.n(pkg0.name);
      if (s0.installedPkg === pkg0 && s0.chosen.pkg === null) this.csGenNameRemove(pkg0);
    }
  }

  private csGenNameChange(name: Name): void {
    const s = this.n(name);
    if (s.inChangeset) return;
    this.csGenNameRemoveOrphan(name);
    const pkg = s.chosen.pkg;
    if (!pkg || this.p(pkg).inChangeset) return;
    this.p(pkg).inChangeset = true;
    this.csGenNameRemoveOrphan(pkg.name);
    for (const d of pkg.provides) this.csGenNameRemoveOrphan(d.name);
    const opkg = this.n(pkg.name).installedPkg;
    this.csCheckByReverseIif(opkg, (n) => this.csCheckRemovalByIif(n));
    for (const d of pkg.depends) this.csGenDep(pkg, d);
    this.recordChange(opkg, pkg);
    this.csCheckByReverseIif(pkg, (n) => this.csCheckInstallByIif(n));
    this.csTrackDepsAdded(pkg);
    if (opkg) this.csTrackDepsRemoved(opkg);
  }

  private csGenNameRemove(pkg: Pkg): void {
    const name = pkg.name;
    const s = this.n(name);
    if (this.p(pkg).inChangeset || (s.chosen.pkg !== null && s.chosen.pkg.name === name)) return;
    s.inChangeset = true;
    this.p(pkg).inChangeset = true;
    forEachReverseDependency(pkg, { installed: true, match: DEP_SATISFIES_MATCH }, (pkg0) => this.csGenNameRemove(pkg0));
    this.csCheckByReverseIif(pkg, (n) => this.csCheckRemovalByIif(n));
    this.recordChange(pkg, null);
    this.csTrackDepsRemoved(pkg);
  }

  private csGenDep(ppkg: Pkg | null, dep: Dep): void {
    const s = this.n(dep.name);
    const pkg = s.chosen.pkg;
    if (isConflict(dep) && this.ignoreConflict) return;
    if (!depIsProvided(ppkg, dep, pkg ? s.chosen : null)) this.markError(ppkg);
    this.csGenNameChange(dep.name);
    if (pkg && this.p(pkg).error) this.markError(ppkg);
  }

  private generateChangeset(world: Dep[]): void {
    // The changeset fields of every name's state start empty: states are new (or reset) each pass.
    for (const pkg of this.db.installed) {
      const s = this.n(pkg.name);
      s.installedPkg = pkg;
      s.installedName = pkg.name;
      for (const d of pkg.provides) if (d.version !== null) this.n(d.name).installedName = pkg.name;
    }
    for (const pkg of this.db.installed) this.csTrackDepsAdded(pkg);
    for (const pkg of this.db.installed) this.csCheckRemovalByDeps(pkg);
    for (const d of world) this.csGenDep(null, d);
    for (const pkg of this.db.installed) this.csGenNameChange(pkg.name);
    const c = this.changeset;
    c.numTotalChanges = c.numInstall + c.numRemove + c.numAdjust;
  }
}

const DEP_SATISFIES_MATCH = 2;

function versionOrder(a: string | null, b: string | null): number {
  if (a === null || b === null) return 0; // apk: null atoms compare as "any", i.e. neither wins
  return compareVersions(a, b);
}

/** Lowest set bit, 1-based (C's ffs), 0 for 0. */
function ffs(x: number): number {
  if (x === 0) return 0;
  let i = 1;
  while (!(x & 1)) {
    x >>>= 1;
    i++;
  }
  return i;
}

/**
 * Calls `cb(pkg0, dep0)` for every package pkg0 among the providers of names that depend on `pkg`
 * (by its name or a provided name) whose dependency relates to `pkg` as `match` says.
 */
export function forEachReverseDependency(
  pkg: Pkg,
  filter: { installed?: boolean; marked?: (p: Pkg) => boolean; match: number; oncePerPackage?: Set<Pkg>; allDeps?: boolean },
  cb: (pkg0: Pkg, dep0: Dep) => void,
): void {
  const visit = (rdepends: Name[]) => {
    for (const name0 of rdepends) {
      for (const p0 of name0.providers) {
        const pkg0 = p0.pkg;
        if (filter.installed && pkg0.ipkg === null) continue;
        if (filter.marked && !filter.marked(pkg0)) continue;
        if (filter.oncePerPackage) {
          if (filter.oncePerPackage.has(pkg0)) continue;
          filter.oncePerPackage.add(pkg0);
        }
        for (const d0 of pkg0.depends) {
          if (depAnalyze(pkg0, d0, pkg) & filter.match) {
            cb(pkg0, d0);
            if (filter.oncePerPackage && !filter.allDeps) break;
          }
        }
      }
    }
  };
  visit(pkg.name.rdepends);
  for (const p of pkg.provides) visit(p.name.rdepends);
}
