/**
 * melange's `${{...}}` substitutions and `if:` conditions. Substitution is plain text replacement,
 * as in melange (pipelines rely on it, e.g. quoting inputs through heredocs).
 */
import { goRegexToJs, type Recipe } from "../recipe/index.js";
import { UndistroError } from "../util/index.js";

const VAR_RE = /\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

export type Vars = ReadonlyMap<string, string>;

/** Replaces every known `${{name}}`; unknown names raise an error naming `where` and the variable. */
export function substitute(text: string, vars: Vars, where: string, allowUnknown = false): string {
  return text.replace(VAR_RE, (whole, name: string) => {
    const v = vars.get(name);
    if (v !== undefined) return v;
    if (allowUnknown) return whole;
    throw new UndistroError("BUILD_UNKNOWN_VARIABLE", `${where}: unknown substitution \${{${name}}}`, {
      hint: "known: package.*, targets.*, host.triplet.*, build.arch, vars.*, inputs.* of the pipeline, range.* in ranged subpackages",
    });
  });
}

export interface ArchInfo {
  /** APK architecture: x86_64, aarch64. */
  arch: string;
  goarch: string;
  tripletGnu: string;
  tripletRust: string;
  /** The ELF e_machine of its programs and libraries (EM_X86_64, EM_AARCH64). */
  elfMachine: number;
}

export function archInfo(arch: string): ArchInfo {
  switch (arch) {
    case "x86_64":
      return { arch, goarch: "amd64", tripletGnu: "x86_64-pc-linux-gnu", tripletRust: "x86_64-unknown-linux-gnu", elfMachine: 62 };
    case "aarch64":
      return { arch, goarch: "arm64", tripletGnu: "aarch64-unknown-linux-gnu", tripletRust: "aarch64-unknown-linux-gnu", elfMachine: 183 };
    default:
      throw new UndistroError("BUILD_UNKNOWN_ARCH", `architecture ${arch} is not supported`, { hint: "use x86_64 or aarch64" });
  }
}

/** The GNU triplet of undistro's own toolchain for `arch` (musl; the vendor names the distro). */
export function distroTriplet(arch: string): string {
  return `${archInfo(arch).arch}-undistro-linux-musl`;
}

export const WORKSPACE = "/home/build";
export const OUTDIR = `${WORKSPACE}/melange-out`;

/** The variables every step of a recipe sees (targets.* are per package, set by the caller). */
export function recipeVars(recipe: Recipe, arch: ArchInfo): Map<string, string> {
  const p = recipe.package;
  const vars = new Map<string, string>([
    ["package.name", p.name],
    ["package.version", p.version],
    ["package.epoch", String(p.epoch)],
    ["package.full-version", `${p.version}-r${p.epoch}`],
    ["package.description", p.description ?? ""],
    ["package.srcdir", WORKSPACE],
    ["targets.outdir", OUTDIR],
    ["targets.destdir", `${OUTDIR}/${p.name}`],
    ["targets.contextdir", `${OUTDIR}/${p.name}`],
    ["host.triplet.gnu", arch.tripletGnu],
    ["host.triplet.rust", arch.tripletRust],
    ["cross.triplet.gnu.glibc", arch.tripletGnu],
    ["cross.triplet.gnu.musl", arch.tripletGnu.replace(/-gnu$/, "-musl")],
    ["build.arch", arch.arch],
    ["build.goarch", arch.goarch],
  ]);
  for (const [k, v] of Object.entries(recipe.vars)) vars.set(`vars.${k}`, substitute(v, vars, `vars.${k}`, true));
  for (const [i, t] of recipe.varTransforms.entries()) {
    const from = substitute(t.from, vars, `var-transforms[${i}].from`);
    const re = new RegExp(goRegexToJs(t.match), "g");
    // Go's ReplaceAllString uses $1 / ${1} / ${name}; JavaScript's replace understands $1 and $<name>.
    const replacement = t.replace.replace(/\$\{(\d+)\}/g, "$$$1").replace(/\$\{([A-Za-z_]\w*)\}/g, "$$<$1>");
    vars.set(`vars.${t.to}`, from.replace(re, replacement));
  }
  return vars;
}

/**
 * Evaluates a melange `if:` after substitution: string literals ('x' or "x") and bare words,
 * == and !=, !, &&, ||, parentheses.
 */
export function evaluateCondition(expr: string, where: string): boolean {
  const tokens = expr.match(/'[^']*'|"[^"]*"|==|!=|&&|\|\||[()!]|[^\s()!=&|'"]+/g) ?? [];
  let i = 0;
  const fail = (msg: string): never => {
    throw new UndistroError("BUILD_BAD_CONDITION", `${where}: cannot evaluate if: ${JSON.stringify(expr)} (${msg})`);
  };
  const value = (): string | boolean => {
    const t = tokens[i++];
    if (t === undefined) return fail("unexpected end");
    if (t === "(") {
      const v = or();
      if (tokens[i++] !== ")") fail("missing )");
      return v;
    }
    if (t === "!") return !truthy(value());
    if (/^['"]/.test(t)) return t.slice(1, -1);
    return t;
  };
  const truthy = (v: string | boolean) => (typeof v === "boolean" ? v : v !== "" && v !== "false");
  const cmp = (): string | boolean => {
    const a = value();
    const op = tokens[i];
    if (op === "==" || op === "!=") {
      i++;
      const b = value();
      return op === "==" ? String(a) === String(b) : String(a) !== String(b);
    }
    return a;
  };
  const and = (): string | boolean => {
    let a = cmp();
    while (tokens[i] === "&&") {
      i++;
      const b = cmp();
      a = truthy(a) && truthy(b);
    }
    return a;
  };
  const or = (): string | boolean => {
    let a = and();
    while (tokens[i] === "||") {
      i++;
      const b = and();
      a = truthy(a) || truthy(b);
    }
    return a;
  };
  const result = or();
  if (i !== tokens.length) fail(`unexpected ${tokens[i]}`);
  return truthy(result);
}
