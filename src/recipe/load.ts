import { readFileSync } from "node:fs";
import Ajv2020, { type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { isValidVersion, parseDependency } from "../apk/index.js";
import { adaptGoSchema, fsError, readSchema, UndistroError } from "../util/index.js";
import type { PackageDependencies, PipelineStep, Recipe, Subpackage, VarTransform } from "./model.js";
import { formatPath, parseYamlFile, type YamlFile } from "./yaml.js";

/** One problem found in a recipe: where (YAML path, line) and what. */
export interface RecipeProblem {
  path: string;
  line?: number;
  message: string;
}

export class RecipeInvalidError extends UndistroError {
  constructor(
    readonly file: string,
    readonly problems: RecipeProblem[],
  ) {
    super(
      "RECIPE_INVALID",
      `${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n${problems.map((p) => `  ${p.path}${p.line ? ` (line ${p.line})` : ""}: ${p.message}`).join("\n")}`,
      { hint: "fix the fields named; the accepted fields are melange's (schemas/melange-config.schema.json)" },
    );
  }
}

let validator: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (validator === undefined) {
    const schema = adaptGoSchema(readSchema("melange-config.schema.json"));
    // coerceTypes: YAML scalars arrive as written ("0", "false") and become what the schema says.
    const ajv = new Ajv2020.default({ allErrors: true, coerceTypes: true, strict: false, useDefaults: false });
    validator = ajv.compile(schema as object);
  }
  return validator;
}

/** Removes null-valued keys (an empty `runtime:` means "none", as in Go's decoder). */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== null).map(dropNulls);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
    return out;
  }
  return v;
}

function schemaProblems(errors: ErrorObject[], yaml: YamlFile): RecipeProblem[] {
  const seen = new Set<string>();
  const out: RecipeProblem[] = [];
  for (const e of errors) {
    const segs = e.instancePath
      .split("/")
      .slice(1)
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, "/").replace(/~0/g, "~")));
    let message = e.message ?? "is invalid";
    if (e.keyword === "additionalProperties") {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      segs.push(extra);
      message = "unknown field";
    } else if (e.keyword === "required") {
      segs.push((e.params as { missingProperty: string }).missingProperty);
      message = "is required";
    } else if (e.keyword === "type") message = `must be ${(e.params as { type: string }).type}`;
    const key = `${formatPath(segs)}: ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const line = yaml.lineOf(segs);
    out.push(line === undefined ? { path: formatPath(segs), message } : { path: formatPath(segs), line, message });
  }
  return out;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strs = (v: unknown): string[] => arr(v).map(String);
const strMap = (v: unknown): Record<string, string> => Object.fromEntries(Object.entries(obj(v)).map(([k, x]) => [k, String(x)]));
const optStr = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

function readDeps(v: unknown): PackageDependencies {
  const d = obj(v);
  const deps: PackageDependencies = { runtime: strs(d.runtime), provides: strs(d.provides), replaces: strs(d.replaces) };
  if (d["provider-priority"] !== undefined) deps.providerPriority = Number(d["provider-priority"]);
  if (d["replaces-priority"] !== undefined) deps.replacesPriority = Number(d["replaces-priority"]);
  return deps;
}

function readSteps(v: unknown, where: string, problems: RecipeProblem[], yaml: YamlFile, path: Array<string | number>): PipelineStep[] {
  return arr(v).map((raw, i) => {
    const s = obj(raw);
    const here = `${where}[${i}]`;
    const step: PipelineStep = { where: here };
    if (s.name !== undefined) step.name = String(s.name);
    if (s.uses !== undefined) step.uses = String(s.uses);
    if (s.runs !== undefined) step.runs = String(s.runs);
    if (s.if !== undefined) step.if = String(s.if);
    if (s["working-directory"] !== undefined) step.workingDirectory = String(s["working-directory"]);
    if (s.with !== undefined) step.with = strMap(s.with);
    if (s.environment !== undefined) step.environment = strMap(s.environment);
    const at = [...path, i];
    if (step.uses !== undefined && step.runs !== undefined) {
      problems.push({ path: here, line: yaml.lineOf(at), message: "a step has either `uses` or `runs`, not both" } as RecipeProblem);
    }
    if (step.with !== undefined && step.uses === undefined) {
      problems.push({ path: here, line: yaml.lineOf(at), message: "`with` only goes with `uses` (inputs of a pipeline)" } as RecipeProblem);
    }
    if (s.pipeline !== undefined) step.pipeline = readSteps(s.pipeline, `${here}.pipeline`, problems, yaml, [...at, "pipeline"]);
    return step;
  });
}

/** Replaces ${{range.key}} and ${{range.value}} in every string of a subpackage definition. */
function substituteRange(v: unknown, key: string, value: string): unknown {
  if (typeof v === "string") return v.replace(/\$\{\{\s*range\.key\s*\}\}/g, key).replace(/\$\{\{\s*range\.value\s*\}\}/g, value);
  if (Array.isArray(v)) return v.map((x) => substituteRange(x, key, value));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substituteRange(x, key, value)]));
  return v;
}

/** Parses and validates a recipe document; all problems are collected before failing. */
export function parseRecipe(text: string, file: string): Recipe {
  const yaml = parseYamlFile(text, file);
  const data = dropNulls(yaml.data);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new RecipeInvalidError(file, [{ path: "(document)", message: "a recipe is a YAML mapping with `package:` at the top" }]);
  }
  const validate = schemaValidator();
  const problems: RecipeProblem[] = [];
  if (!validate(data)) problems.push(...schemaProblems(validate.errors ?? [], yaml));
  const doc = data as Obj;
  const pkg = obj(doc.package);
  const name = optStr(pkg.name) ?? "";
  const version = optStr(pkg.version) ?? "";
  const lineOf = (p: Array<string | number>) => yaml.lineOf(p);
  const problem = (path: Array<string | number>, message: string) => {
    const line = lineOf(path);
    problems.push(line === undefined ? { path: formatPath(path), message } : { path: formatPath(path), line, message });
  };
  if (!name) problem(["package", "name"], "is required");
  else if (!NAME_RE.test(name))
    problem(["package", "name"], `${JSON.stringify(name)} is not a valid package name ([a-zA-Z0-9._+-], starting with a letter or digit)`);
  if (!version) problem(["package", "version"], "is required");
  const warnings: RecipeProblem[] = [];
  if (version && !version.includes("${{") && !isValidVersion(version)) {
    // melange loads such recipes (its examples have some); no package can carry the version, so
    // undistro warns here and refuses at build time.
    const line = lineOf(["package", "version"]);
    const message = `${JSON.stringify(version)} is not a valid APK version (e.g. 1.2.3, 1.2.3_rc1): the recipe cannot be built`;
    warnings.push(line === undefined ? { path: "package.version", message } : { path: "package.version", line, message });
  }
  const epoch = pkg.epoch === undefined ? 0 : Number(pkg.epoch);
  if (Number.isInteger(epoch) && epoch < 0) problem(["package", "epoch"], "must be a whole number ≥ 0");
  const checkAtoms = (list: string[], path: Array<string | number>) =>
    list.forEach((a, i) => {
      if (a.includes("${{")) return;
      try {
        parseDependency(a, "", false);
      } catch (e) {
        problem([...path, i], (e as Error).message.replace(/^: /, ""));
      }
    });
  const pkgDeps = readDeps(pkg.dependencies);
  checkAtoms(pkgDeps.runtime, ["package", "dependencies", "runtime"]);
  checkAtoms(pkgDeps.provides, ["package", "dependencies", "provides"]);

  const data2 = arr(doc.data).map((d) => ({ name: String(obj(d).name ?? ""), items: strMap(obj(d).items) }));
  const pipeline = readSteps(doc.pipeline, "pipeline", problems, yaml, ["pipeline"]);
  const subpackages: Subpackage[] = [];
  const names = new Map<string, string>([[name, "package.name"]]);
  arr(doc.subpackages).forEach((rawSp, i) => {
    const sp = obj(rawSp);
    const expansions: Array<{ sp: Obj; range?: { key: string; value: string } }> = [];
    if (sp.range !== undefined && String(sp.range) !== "") {
      const d = data2.find((x) => x.name === String(sp.range));
      if (!d) {
        problem(["subpackages", i, "range"], `no data entry named ${JSON.stringify(String(sp.range))}`);
        return;
      }
      for (const [k, v] of Object.entries(d.items).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        expansions.push({ sp: substituteRange(sp, k, v) as Obj, range: { key: k, value: v } });
      }
    } else expansions.push({ sp });
    for (const { sp: s, range } of expansions) {
      const spName = String(s.name ?? "");
      const where = `subpackages[${i}]${range ? `(range ${range.key})` : ""}`;
      if (!spName) problem(["subpackages", i, "name"], "is required");
      else if (!spName.includes("${{") && !NAME_RE.test(spName)) problem(["subpackages", i, "name"], `${JSON.stringify(spName)} is not a valid package name`);
      else if (names.has(spName)) problem(["subpackages", i, "name"], `${JSON.stringify(spName)} is already used by ${names.get(spName)}`);
      else names.set(spName, `subpackages[${i}].name`);
      const deps = readDeps(s.dependencies);
      checkAtoms(deps.runtime, ["subpackages", i, "dependencies", "runtime"]);
      const sub: Subpackage = {
        name: spName,
        dependencies: deps,
        pipeline: readSteps(s.pipeline, `${where}.pipeline`, problems, yaml, ["subpackages", i, "pipeline"]),
        where,
      };
      if (s.description !== undefined) sub.description = String(s.description);
      if (s.url !== undefined) sub.url = String(s.url);
      if (s.commit !== undefined) sub.commit = String(s.commit);
      if (s.options !== undefined) sub.options = readOptions(s.options);
      if (s.scriptlets !== undefined) sub.scriptlets = strMap(s.scriptlets);
      if (s.copyright !== undefined) sub.copyright = readCopyright(s.copyright);
      if (range) sub.range = range;
      subpackages.push(sub);
    }
  });
  const varTransforms: VarTransform[] = arr(doc["var-transforms"]).map((v) => {
    const t = obj(v);
    return { from: String(t.from ?? ""), match: String(t.match ?? ""), replace: String(t.replace ?? ""), to: String(t.to ?? "") };
  });
  varTransforms.forEach((t, i) => {
    try {
      new RegExp(goRegexToJs(t.match));
    } catch (e) {
      problem(["var-transforms", i, "match"], `not a valid regular expression: ${(e as Error).message}`);
    }
  });
  if (problems.length > 0) throw new RecipeInvalidError(file, problems);

  const env = obj(doc.environment);
  const contents = obj(env.contents);
  const recipe: Recipe = {
    file,
    package: {
      name,
      version,
      epoch,
      copyright: readCopyright(pkg.copyright),
      dependencies: pkgDeps,
      targetArchitecture: strs(pkg["target-architecture"]),
    },
    environment: {
      contents: { repositories: strs(contents.repositories), keyring: strs(contents.keyring), packages: strs(contents.packages) },
      environment: strMap(env.environment),
    },
    pipeline,
    subpackages,
    vars: strMap(doc.vars),
    varTransforms,
    data: data2,
    warnings,
    raw: doc,
  };
  if (pkg.description !== undefined) recipe.package.description = String(pkg.description);
  if (pkg.url !== undefined) recipe.package.url = String(pkg.url);
  if (pkg.commit !== undefined) recipe.package.commit = String(pkg.commit);
  if (pkg.options !== undefined) recipe.package.options = readOptions(pkg.options);
  if (pkg.scriptlets !== undefined) recipe.package.scriptlets = strMap(pkg.scriptlets);
  if (doc.test !== undefined) {
    const t = obj(doc.test);
    recipe.test = { pipeline: readSteps(t.pipeline, "test.pipeline", [], yaml, ["test", "pipeline"]) };
  }
  if (doc.update !== undefined) recipe.update = obj(doc.update);
  return recipe;
}

function readOptions(v: unknown): NonNullable<Subpackage["options"]> {
  const o = obj(v);
  const out: NonNullable<Subpackage["options"]> = {};
  if (o["no-provides"] !== undefined) out.noProvides = Boolean(o["no-provides"]);
  if (o["no-depends"] !== undefined) out.noDepends = Boolean(o["no-depends"]);
  if (o["no-commands"] !== undefined) out.noCommands = Boolean(o["no-commands"]);
  return out;
}

function readCopyright(v: unknown): Array<{ license: string; paths?: string[]; attestation?: string }> {
  return arr(v).map((c) => {
    const o = obj(c);
    const out: { license: string; paths?: string[]; attestation?: string } = { license: String(o.license ?? "") };
    if (o.paths !== undefined) out.paths = strs(o.paths);
    if (o.attestation !== undefined) out.attestation = String(o.attestation);
    return out;
  });
}

/**
 * melange's var-transforms use Go's RE2 syntax; the common subset is the same in JavaScript except
 * named groups `(?P<name>…)` and replacement references `$1`/`${1}`, translated here.
 */
export function goRegexToJs(re: string): string {
  return re.replace(/\(\?P</g, "(?<");
}

export function loadRecipe(file: string): Recipe {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw fsError(err, "read recipe", file);
  }
  return parseRecipe(text, file);
}

const PIPELINE_KEYS = new Set(["name", "description", "inputs", "needs", "pipeline", "test"]);

/** Parses a pipeline definition (melange's `pipelines/NAME.yaml` format). */
export function parsePipelineDefinition(text: string, file: string, name: string): import("./model.js").PipelineDefinition {
  const yaml = parseYamlFile(text, file);
  const doc = obj(dropNulls(yaml.data));
  const problems: RecipeProblem[] = [];
  for (const k of Object.keys(doc)) {
    if (!PIPELINE_KEYS.has(k)) {
      const line = yaml.lineOf([k]);
      problems.push(line === undefined ? { path: k, message: "unknown field" } : { path: k, line, message: "unknown field" });
    }
  }
  const inputs: import("./model.js").PipelineDefinition["inputs"] = {};
  for (const [k, v] of Object.entries(obj(doc.inputs))) {
    const o = obj(v);
    const input: { description?: string; default?: string; required?: boolean } = {};
    if (o.description !== undefined) input.description = String(o.description);
    if (o.default !== undefined) input.default = String(o.default);
    if (o.required !== undefined) input.required = String(o.required) === "true";
    inputs[k] = input;
  }
  const pipeline = readSteps(doc.pipeline, "pipeline", problems, yaml, ["pipeline"]);
  if (pipeline.length === 0) problems.push({ path: "pipeline", message: "a pipeline definition needs at least one step" });
  if (problems.length > 0) throw new RecipeInvalidError(file, problems);
  return { name, file, inputs, needs: strs(obj(doc.needs).packages), pipeline };
}
