/**
 * The solver's world: names, packages, providers, repositories and repository tags, linked the way
 * apk-tools links them (every name knows its providers, the names that depend on it and the names
 * whose install_if mentions it). Built once from indexes and an installed database; the solver keeps
 * its per-run state beside it.
 */
import { checksumIdentity, type IndexEntry, isValidVersion, parseDependency } from "../apk/index.js";
import { UndistroError } from "../util/index.js";

/** Version comparison result bits and dependency operators, as apk encodes them. */
export const V_LESS = 1;
export const V_EQUAL = 2;
export const V_GREATER = 4;
export const V_FUZZY = 8;
export const V_CONFLICT = 16;
export const DEPMASK_ANY = V_LESS | V_EQUAL | V_GREATER;
export const DEPMASK_CHECKSUM = V_LESS | V_GREATER;

export const REPOSITORY_CACHED = 0;
export const DEFAULT_TAG = 0;
export const DEFAULT_PINNING_MASK = 1 << DEFAULT_TAG;

export interface Dep {
  name: Name;
  /** null: no version (apk's null atom). */
  version: string | null;
  op: number;
  /** Repository tag index (0 = untagged). */
  tag: number;
  /** Version failed validation: apk keeps such atoms but ignores them in world. */
  broken: boolean;
}

export interface Provider {
  pkg: Pkg;
  /** The provided version; null for a virtual (unversioned) provide. */
  version: string | null;
}

export class Name {
  readonly providers: Provider[] = [];
  /** Names of packages that depend on this name (each once). */
  readonly rdepends: Name[] = [];
  /** Names of packages whose install_if mentions this name (each once). */
  readonly rinstallIf: Name[] = [];
  /** Set when world-level solver flags were put on this name (orders it later, as apk does). */
  solverFlagsSet = false;
  /** Membership sets behind rdepends / rinstallIf, so linking stays linear on large indexes. */
  readonly rdependsSet = new Set<Name>();
  readonly rinstallIfSet = new Set<Name>();
  /** The solver's state for this name in pass statePass (see Solver). */
  statePass = 0;
  solverState: unknown;
  constructor(readonly name: string) {}
}

export interface InstalledInfo {
  /** Repository tag the package was installed from. */
  tag: number;
}

export class Pkg {
  depends: Dep[] = [];
  provides: Dep[] = [];
  installIf: Dep[] = [];
  providerPriority = 0;
  installedSize = 0;
  size = 0;
  /** Bit per repository that carries this exact package (bit 0: cache / local). */
  repos = 0;
  ipkg: InstalledInfo | null = null;
  /** Extra metadata kept for callers (index entry, origin, …). */
  entry: IndexEntry | undefined;
  /** Known from a cache's index only, in no configured repository (apk's cached_non_repository). */
  cachedNonRepository = false;
  /** The solver's state for this package in pass statePass (see Solver). */
  statePass = 0;
  solverState: unknown;
  /** Where the package's file lives when known (repository URL + file name), for fetchers and locks. */
  locations: string[] = [];
  constructor(
    readonly name: Name,
    readonly version: string,
    readonly checksum: string,
    readonly arch: string,
  ) {}
  toString(): string {
    return `${this.name.name}-${this.version}`;
  }
}

export interface RepoTag {
  /** "" for the default tag, "@name" otherwise. */
  tag: string;
  allowedRepos: number;
}

export interface Repository {
  /** How the user named it (path or URL). */
  url: string;
  index: number;
  tag: number;
  /** Whether it is reachable now (false for remote repositories under --no-network). */
  available: boolean;
  /** Local repositories stay usable with --no-network. */
  local: boolean;
}

/**
 * Packages and names, merged across repositories and the installed database by checksum: the same
 * package in two places is one package with two repository bits.
 */
export class PackageDb {
  readonly names = new Map<string, Name>();
  readonly packages = new Map<string, Pkg>();
  readonly repos: Repository[] = [];
  readonly tags: RepoTag[] = [{ tag: "", allowedRepos: 0 }];
  readonly installed: Pkg[] = [];
  world: Dep[] = [];
  /** Set while a self-upgrade transaction is computed (prefers installed packages). */
  performingSelfUpgrade = false;

  name(n: string): Name {
    let name = this.names.get(n);
    if (name === undefined) {
      name = new Name(n);
      this.names.set(n, name);
    }
    return name;
  }

  /** Tag index for "@tag" or "tag"; created on first use (with no repositories) as apk does. */
  tagId(tag: string): number {
    const t = tag.startsWith("@") ? tag : `@${tag}`;
    if (t === "@") return DEFAULT_TAG;
    let i = this.tags.findIndex((x) => x.tag === t);
    if (i < 0) {
      this.tags.push({ tag: t, allowedRepos: 0 });
      i = this.tags.length - 1;
    }
    return i;
  }

  /** Registers a repository; repository bits start at 1 (bit 0 is apk's cache). */
  addRepository(url: string, options: { tag?: string; local?: boolean; available?: boolean } = {}): Repository {
    const index = this.repos.length + 1;
    if (index > 31) throw new UndistroError("SOLVER_TOO_MANY_REPOS", `at most 31 repositories can be used at once (adding ${url})`);
    const tag = options.tag ? this.tagId(options.tag) : DEFAULT_TAG;
    const repo: Repository = { url, index, tag, local: options.local ?? false, available: options.available ?? true };
    this.repos.push(repo);
    const t = this.tags[tag] as RepoTag;
    t.allowedRepos |= 1 << index;
    return repo;
  }

  availableRepos(): number {
    let mask = 1 << REPOSITORY_CACHED;
    for (const r of this.repos) if (r.available) mask |= 1 << r.index;
    return mask;
  }

  pinningMaskRepos(mask: number): number {
    let repos = 0;
    this.tags.forEach((t, i) => {
      if (mask & (1 << i)) repos |= t.allowedRepos;
    });
    return repos;
  }

  parseDep(atom: string, where: string, allowTag = true): Dep {
    const d = parseDependency(atom, where, false);
    let op = DEPMASK_ANY;
    switch (d.op) {
      case "":
        op = DEPMASK_ANY;
        break;
      case "<":
        op = V_LESS;
        break;
      case "<=":
        op = V_LESS | V_EQUAL;
        break;
      case "<~":
        op = V_LESS | V_EQUAL | V_FUZZY;
        break;
      case "=":
        op = V_EQUAL;
        break;
      case "~":
        op = V_EQUAL | V_FUZZY;
        break;
      case ">~":
        op = V_GREATER | V_EQUAL | V_FUZZY;
        break;
      case ">=":
        op = V_GREATER | V_EQUAL;
        break;
      case ">":
        op = V_GREATER;
        break;
      case "><":
        op = DEPMASK_CHECKSUM;
        break;
    }
    if (d.conflict) op |= V_CONFLICT;
    if (d.tag !== undefined && !allowTag) throw new UndistroError("SOLVER_BAD_DEPENDENCY", `${where}: ${atom}: a repository tag is not allowed here`);
    const version = d.version ?? null;
    const broken = version !== null && op !== DEPMASK_CHECKSUM && !isValidVersion(version);
    return { name: this.name(d.name), version, op, tag: d.tag === undefined ? DEFAULT_TAG : this.tagId(d.tag), broken };
  }

  /**
   * Adds a package from an index record. A package already known by checksum (compared as bytes,
   * as apk does: see checksumIdentity) gains the repository bit instead of a duplicate.
   */
  addPackage(entry: IndexEntry, repoBit: number, where: string, installedTag?: number, cachedNonRepository = false): Pkg {
    const identity = entry.checksum ? checksumIdentity(entry.checksum) : undefined;
    const existing = identity ? this.packages.get(identity) : undefined;
    if (existing !== undefined) {
      existing.repos |= repoBit;
      if (installedTag !== undefined && existing.ipkg === null) {
        existing.ipkg = { tag: installedTag };
        this.installed.push(existing);
      }
      return existing;
    }
    const name = this.name(entry.name);
    const pkg = new Pkg(name, entry.version, entry.checksum, entry.arch);
    pkg.entry = entry;
    pkg.repos = repoBit;
    pkg.cachedNonRepository = cachedNonRepository;
    pkg.installedSize = entry.installedSize;
    pkg.size = entry.fileSize;
    pkg.providerPriority = entry.providerPriority ?? 0;
    const ctx = `${where}: ${entry.name}-${entry.version}`;
    pkg.depends = entry.depends.map((a) => this.parseDep(a, `${ctx} depends`));
    pkg.provides = entry.provides.map((a) => this.parseDep(a, `${ctx} provides`));
    pkg.installIf = entry.installIf.map((a) => this.parseDep(a, `${ctx} install_if`));
    this.link(pkg);
    if (installedTag !== undefined) {
      pkg.ipkg = { tag: installedTag };
      this.installed.push(pkg);
    }
    if (identity) this.packages.set(identity, pkg);
    return pkg;
  }

  /** Wires a new package into the name graph. */
  link(pkg: Pkg): void {
    pkg.name.providers.push({ pkg, version: pkg.version });
    for (const p of pkg.provides) p.name.providers.push({ pkg, version: p.version });
    // As apk's apk_db_pkg_rdepends: the names a package provides are reverse dependencies too.
    const names = [pkg.name, ...pkg.provides.map((p) => p.name)];
    for (const d of pkg.depends) {
      for (const n of names) {
        if (d.name.rdependsSet.has(n)) continue;
        d.name.rdependsSet.add(n);
        d.name.rdepends.push(n);
      }
    }
    for (const d of pkg.installIf) {
      for (const n of names) {
        if (d.name.rinstallIfSet.has(n)) continue;
        d.name.rinstallIfSet.add(n);
        d.name.rinstallIf.push(n);
      }
    }
  }
}
