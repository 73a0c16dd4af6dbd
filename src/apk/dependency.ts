import { UndistroError } from "../util/index.js";
import { compareVersions, compareVersionsFuzzy, isValidVersion } from "./version.js";

/**
 * A dependency atom as apk writes it in `depend`, `provides`, `install_if`, `/etc/apk/world` and
 * APKINDEX `D:`/`p:`/`i:` lines:  `[!]name[@tag][op version]`, where op is one of
 * `<`, `<=`, `<~`, `=`, `~`, `>~`, `>=`, `>`, or `><` followed by a `Q1…` checksum.
 * Names may carry a namespace (`so:libc.so.6`, `cmd:hello`, `pc:zlib`).
 */
export interface Dependency {
  name: string;
  /** Repository tag for pinning (`name@edge`), when given. */
  tag?: string;
  /** `!name`: the named package must not be installed (or must not match the version). */
  conflict: boolean;
  op: VersionOp;
  version?: string;
}

export type VersionOp = "" | "<" | "<=" | "<~" | "=" | "~" | ">~" | ">=" | ">" | "><";

const OPS: readonly VersionOp[] = ["<=", "<~", ">=", ">~", "><", "<", ">", "=", "~"];
const NAME_RE = /^[A-Za-z0-9_.+\-:/,[\]]+$/;

/** Parses one atom; `context` names where it came from for the error message. */
/** With `strict` false an invalid version is kept (apk marks such atoms broken instead of failing). */
export function parseDependency(atom: string, context = "dependency", strict = true): Dependency {
  let rest = atom.trim();
  if (rest.length === 0) throw badAtom(atom, context, "it is empty");
  let conflict = false;
  if (rest.startsWith("!")) {
    conflict = true;
    rest = rest.slice(1);
  }
  const opAt = rest.search(/[<>=~]/);
  let namePart = opAt < 0 ? rest : rest.slice(0, opAt);
  let op: VersionOp = "";
  let version: string | undefined;
  if (opAt >= 0) {
    const tail = rest.slice(opAt);
    const found = OPS.find((o) => tail.startsWith(o));
    if (found === undefined) throw badAtom(atom, context, `unknown operator in ${JSON.stringify(tail)}`);
    op = found;
    version = tail.slice(found.length);
    if (version.length === 0) throw badAtom(atom, context, `operator ${op} has no version after it`);
    if (op === "><") {
      if (!/^Q1[A-Za-z0-9+/]{27}=$/.test(version)) throw badAtom(atom, context, `${version} is not a Q1 checksum`);
    } else if (strict && !isValidVersion(version)) {
      throw badAtom(atom, context, `${JSON.stringify(version)} is not a valid APK version`);
    }
  }
  let tag: string | undefined;
  const at = namePart.indexOf("@");
  if (at >= 0) {
    tag = namePart.slice(at + 1);
    namePart = namePart.slice(0, at);
    if (tag.length === 0) throw badAtom(atom, context, "the repository tag after @ is empty");
  }
  if (namePart.length === 0) throw badAtom(atom, context, "it has no package name");
  if (!NAME_RE.test(namePart)) throw badAtom(atom, context, `${JSON.stringify(namePart)} has characters not allowed in a package name`);
  const dep: Dependency = { name: namePart, conflict, op };
  if (tag !== undefined) dep.tag = tag;
  if (version !== undefined) dep.version = version;
  return dep;
}

/** Parses a space-separated list of atoms, as in APKINDEX `D:` lines. */
export function parseDependencies(list: string, context = "dependency list", strict = true): Dependency[] {
  return list
    .split(/\s+/)
    .filter((s) => s.length > 0)
    .map((s) => parseDependency(s, context, strict));
}

export function formatDependency(dep: Dependency): string {
  return `${dep.conflict ? "!" : ""}${dep.name}${dep.tag === undefined ? "" : `@${dep.tag}`}${dep.op}${dep.version ?? ""}`;
}

/**
 * Whether a package (or provided name) at `version` satisfies the atom's version constraint,
 * ignoring the name and the conflict flag. `checksum` is the package's `Q1…` identity for `><`.
 */
export function versionSatisfies(dep: Dependency, version: string | undefined, checksum?: string): boolean {
  if (dep.op === "") return true;
  if (dep.op === "><") return checksum !== undefined && checksum === dep.version;
  if (version === undefined || dep.version === undefined) return false;
  const fuzzy = dep.op.includes("~");
  const r = fuzzy ? compareVersionsFuzzy(version, dep.version) : compareVersions(version, dep.version);
  switch (dep.op) {
    case "<":
      return r < 0;
    case "<=":
      return r <= 0;
    case "=":
      return r === 0;
    case "~":
      return r === 0;
    case "<~":
      return r <= 0;
    case ">~":
      return r >= 0;
    case ">=":
      return r >= 0;
    case ">":
      return r > 0;
  }
}

function badAtom(atom: string, context: string, why: string): UndistroError {
  return new UndistroError("APK_BAD_DEPENDENCY", `${context}: ${JSON.stringify(atom)} is not a valid dependency atom: ${why}`, {
    hint: "write atoms as [!]name[@tag][<|<=|=|~|>=|>]version, e.g. so:libc.so.6 or busybox>=1.36",
  });
}
