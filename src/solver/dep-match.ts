import { compareVersions, compareVersionsFuzzy, sameChecksum } from "../apk/index.js";
import { DEPMASK_ANY, DEPMASK_CHECKSUM, type Dep, type Pkg, type Provider, V_CONFLICT, V_EQUAL, V_FUZZY, V_GREATER, V_LESS } from "./model.js";

/** Comparison result as a bit (LESS/EQUAL/GREATER); a missing version on either side matches anything. */
export function compareBits(a: string | null, b: string | null, fuzzy: boolean): number {
  if (a === null || b === null) return a === null && b === null ? V_EQUAL : V_EQUAL | V_GREATER | V_LESS;
  const r = fuzzy ? compareVersionsFuzzy(a, b) : compareVersions(a, b);
  return r < 0 ? V_LESS : r > 0 ? V_GREATER : V_EQUAL;
}

export function versionMatch(a: string | null, op: number, b: string | null): boolean {
  let ok = (op & DEPMASK_ANY) === DEPMASK_ANY || (compareBits(a, b, (op & V_FUZZY) !== 0) & op) !== 0;
  if (op & V_CONFLICT) ok = !ok;
  return ok;
}

export function isConflict(dep: Dep): boolean {
  return (dep.op & V_CONFLICT) !== 0;
}

/**
 * Whether provider `p` satisfies `dep` (declared by `depPkg`, or the world when null), by apk's
 * rules: a checksum names one package; a dependency on any version is met by any provider; a
 * versioned one is never met by a provider without a version (`p:cmd:tool` does not give
 * `cmd:tool~1`), whatever the conflict flag says of the rest.
 */
export function depIsProvided(_depPkg: Pkg | null, dep: Dep, p: Provider | null): boolean {
  if (p === null || p.pkg === null) return isConflict(dep);
  const mask = dep.op & ~(V_CONFLICT | V_FUZZY);
  if (mask === DEPMASK_CHECKSUM) return dep.version !== null && sameChecksum(p.pkg.checksum, dep.version);
  if (mask === DEPMASK_ANY) return !isConflict(dep);
  if (p.version === null) return isConflict(dep);
  return versionMatch(p.version, dep.op, dep.version);
}

/** Whether `pkg` itself (by its own name) satisfies `dep`. */
export function depIsMaterialized(dep: Dep, pkg: Pkg | null): boolean {
  if (pkg === null || dep.name !== pkg.name) return isConflict(dep);
  if ((dep.op & ~(V_CONFLICT | V_FUZZY)) === DEPMASK_CHECKSUM) return dep.version !== null && sameChecksum(pkg.checksum, dep.version);
  return versionMatch(pkg.version, dep.op, dep.version);
}

export const DEP_IRRELEVANT = 1;
export const DEP_SATISFIES = 2;
export const DEP_CONFLICTS = 4;

/** How `dep` relates to `pkg`: satisfied by it, broken by it, or not about it. */
export function depAnalyze(depPkg: Pkg | null, dep: Dep, pkg: Pkg | null): number {
  if (pkg === null) return DEP_IRRELEVANT;
  if (dep.name === pkg.name) return depIsMaterialized(dep, pkg) ? DEP_SATISFIES : DEP_CONFLICTS;
  for (const p of pkg.provides) {
    if (p.name !== dep.name) continue;
    return depIsProvided(depPkg, dep, { pkg, version: p.version }) ? DEP_SATISFIES : DEP_CONFLICTS;
  }
  return DEP_IRRELEVANT;
}

export function opString(op: number): string {
  switch (op & ~V_CONFLICT) {
    case V_LESS:
      return "<";
    case V_LESS | V_EQUAL:
      return "<=";
    case V_LESS | V_EQUAL | V_FUZZY:
      return "<~";
    case V_EQUAL | V_FUZZY:
    case V_FUZZY:
      return "~";
    case V_EQUAL:
      return "=";
    case V_GREATER | V_EQUAL:
      return ">=";
    case V_GREATER | V_EQUAL | V_FUZZY:
      return ">~";
    case V_GREATER:
      return ">";
    case DEPMASK_CHECKSUM:
      return "><";
    case DEPMASK_ANY:
      return "";
    default:
      return "?";
  }
}

/** Text of a dependency as apk prints it (`!name>=1.2`); tags only when `tags` is given. */
export function depString(dep: Dep, tags?: ReadonlyArray<{ tag: string }>): string {
  let s = `${isConflict(dep) ? "!" : ""}${dep.name.name}`;
  if (tags && dep.tag) s += tags[dep.tag]?.tag ?? "";
  if (dep.version !== null) s += `${opString(dep.op)}${dep.version}`;
  return s;
}
