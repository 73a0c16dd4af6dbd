/**
 * The bootstrap's stages, read from `distro/bootstrap/stages.yaml`: which recipes each stage
 * builds, in order, and where their build environments come from. Data, so the chain from the
 * host's compiler to a self-hosted distro is reviewed as a file and not hidden in code.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import { findRecipes } from "../recipe/index.js";
import { fsError, UndistroError } from "../util/index.js";

export interface Stage {
  name: string;
  description: string;
  /** Recipe files in build order. */
  recipes: string[];
  /** Stage names the environment comes from; `self` is this stage's own repository. */
  environmentFrom: string[];
  /** Packages added to every recipe's environment (stage 1: the cross compiler). */
  environmentAppend: string[];
  /** Every step runs in a root made only of the environment's packages. */
  hermetic: boolean;
  /** A stage whose packages of the same name this stage's must equal byte for byte. */
  compareWith?: string;
  /**
   * The architecture the stage builds for, when not the machine's: a hermetic cross stage (roots of
   * this machine's packages, the target's at /sysroot; docs/bootstrap.md).
   */
  arch?: string;
}

const STAGE_KEYS = new Set(["name", "description", "recipes", "environment-from", "environment-append", "hermetic", "compare-with", "arch"]);
/** Architectures a stage may build for (the distro's). */
const STAGE_ARCHS = new Set(["x86_64", "aarch64"]);
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

function invalid(file: string, where: string, message: string): UndistroError {
  return new UndistroError("BOOTSTRAP_STAGES_INVALID", `${file}: ${where}: ${message}`, { hint: "see docs/bootstrap.md for the format" });
}

function stringList(file: string, where: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "")) throw invalid(file, where, "must be a list of strings");
  return v as string[];
}

/** Reads and checks a stages file: known keys, unique names, environments from earlier stages only. */
export function loadStages(file: string): Stage[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw fsError(err, "read", file);
  }
  return parseStages(text, file);
}

/** The stages in `text`, read as the file `file` (recipe paths are relative to its directory). */
export function parseStages(text: string, file: string): Stage[] {
  const doc = parseDocument(text);
  if (doc.errors[0]) throw invalid(file, "YAML", doc.errors[0].message.split("\n")[0] ?? "parse error");
  let data: { stages?: unknown } | null;
  try {
    data = doc.toJS() as { stages?: unknown } | null;
  } catch (err) {
    // An alias before its anchor, an alias loop: YAML the parser accepts but cannot resolve.
    throw invalid(file, "YAML", (err as Error).message.split("\n")[0] ?? "unresolvable document");
  }
  if (!data || typeof data !== "object" || !Array.isArray(data.stages) || data.stages.length === 0) throw invalid(file, "stages", "must be a non-empty list");
  const base = dirname(file);
  const stages: Stage[] = [];
  for (const [i, raw] of (data.stages as unknown[]).entries()) {
    const where = `stages[${i}]`;
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw invalid(file, where, "must be a mapping");
    const s = raw as Record<string, unknown>;
    for (const k of Object.keys(s)) if (!STAGE_KEYS.has(k)) throw invalid(file, `${where}.${k}`, "unknown key");
    if (typeof s.name !== "string" || !NAME_RE.test(s.name)) throw invalid(file, `${where}.name`, "must be a lower-case name");
    const name = s.name;
    if (stages.some((st) => st.name === name)) throw invalid(file, `${where}.name`, `${name} appears twice`);
    const environmentFrom = stringList(file, `${where}.environment-from`, s["environment-from"]);
    for (const from of environmentFrom) {
      if (from !== "self" && !stages.some((st) => st.name === from)) throw invalid(file, `${where}.environment-from`, `${from} is not an earlier stage`);
    }
    const compareWith = s["compare-with"];
    if (compareWith !== undefined && (typeof compareWith !== "string" || !stages.some((st) => st.name === compareWith))) {
      throw invalid(file, `${where}.compare-with`, "must name an earlier stage");
    }
    if (s.hermetic !== undefined && typeof s.hermetic !== "boolean") throw invalid(file, `${where}.hermetic`, "must be true or false");
    const arch = s.arch;
    if (arch !== undefined && (typeof arch !== "string" || !STAGE_ARCHS.has(arch)))
      throw invalid(file, `${where}.arch`, `must be one of ${[...STAGE_ARCHS].join(", ")}`);
    // Only a hermetic build has a cross side (the target's packages at /sysroot, undistro's cross compiler).
    if (arch !== undefined && s.hermetic !== true)
      throw invalid(file, `${where}.arch`, "needs hermetic: true (a cross stage builds in roots of undistro packages)");
    const recipes: string[] = [];
    for (const [j, p] of stringList(file, `${where}.recipes`, s.recipes).entries()) {
      const path = resolve(base, p);
      let exists = false;
      try {
        exists = !p.includes("\0") && statSync(path, { throwIfNoEntry: false }) !== undefined;
      } catch {
        // ENOTDIR, EACCES, a name too long: not a recipe this file can name.
      }
      if (!exists) throw invalid(file, `${where}.recipes[${j}]`, `${p} does not exist`);
      for (const r of findRecipes(path)) if (!recipes.includes(r)) recipes.push(r);
    }
    if (!recipes.length) throw invalid(file, `${where}.recipes`, "names no recipe");
    stages.push({
      name,
      description: typeof s.description === "string" ? s.description : "",
      recipes,
      environmentFrom,
      environmentAppend: stringList(file, `${where}.environment-append`, s["environment-append"]),
      hermetic: s.hermetic === true,
      ...(typeof compareWith === "string" ? { compareWith } : {}),
      ...(typeof arch === "string" ? { arch } : {}),
    });
  }
  return stages;
}

/**
 * `--stages` values: `all`, a stage (name, or index: `2` or `stage2`), a range of either
 * (`0-2`, `seed-again`), or a comma list of those; stages always run in file order.
 */
export function selectStages(stages: Stage[], spec: string): Stage[] {
  if (spec === "all") return stages;
  const index = (s: string) => {
    const byName = stages.findIndex((st) => st.name === s);
    if (byName >= 0) return byName;
    return /^\d+$/.test(s) ? stages.findIndex((st) => st.name === `stage${s}`) : -1;
  };
  const picked = new Set<number>();
  for (const part of spec.split(",")) {
    const one = index(part);
    if (one >= 0) {
      picked.add(one);
      continue;
    }
    // A range: the first hyphen that splits the part into two stages (names may hold hyphens).
    let range: [number, number] | undefined;
    for (let i = part.indexOf("-"); i > 0 && !range; i = part.indexOf("-", i + 1)) {
      const [from, to] = [index(part.slice(0, i)), index(part.slice(i + 1))];
      if (from >= 0 && to >= 0) range = [Math.min(from, to), Math.max(from, to)];
    }
    if (!range) throw new UndistroError("USAGE", `--stages ${spec}: no stage ${part}`, { hint: `stages: ${stages.map((st) => st.name).join(", ")}` });
    for (let i = range[0]; i <= range[1]; i++) picked.add(i);
  }
  return stages.filter((_, i) => picked.has(i));
}
