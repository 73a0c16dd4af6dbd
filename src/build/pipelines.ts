/**
 * Pipeline definitions (built-in and --pipeline-dir) and the expansion of a recipe's steps into the
 * flat list of things to run: shell scripts for the sandbox, and the source steps (fetch,
 * git-checkout) that undistro performs itself.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type PipelineDefinition, type PipelineStep, parsePipelineDefinition } from "../recipe/index.js";
import { fsError, UndistroError } from "../util/index.js";
import { evaluateCondition, substitute, type Vars, WORKSPACE } from "./substitute.js";

export const BUILTIN_PIPELINE_DIR = fileURLToPath(new URL("../../../pipelines/", import.meta.url));
/** Pipelines implemented in TypeScript: they touch the network or the host's files. */
export const NATIVE_PIPELINES = new Set(["fetch", "git-checkout"]);

export class PipelineRegistry {
  private readonly defs = new Map<string, PipelineDefinition>();
  readonly dirs: string[] = [];

  /** Loads every *.yaml below `dir`; names are relative paths without the extension ("split/dev"). */
  addDirectory(dir: string): number {
    const files: string[] = [];
    const walk = (d: string) => {
      let names: string[];
      try {
        names = readdirSync(d).sort();
      } catch (err) {
        throw fsError(err, "read pipeline directory", d);
      }
      for (const n of names) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.ya?ml$/.test(n)) files.push(p);
      }
    };
    walk(dir);
    let added = 0;
    for (const file of files) {
      const name = relative(dir, file).replace(/\.ya?ml$/, "");
      if (this.defs.has(name)) continue; // earlier directories win (user dirs before built-ins)
      this.defs.set(name, parsePipelineDefinition(readFileSync(file, "utf8"), file, name));
      added++;
    }
    this.dirs.push(dir);
    return added;
  }

  get(name: string): PipelineDefinition | undefined {
    return this.defs.get(name);
  }

  names(): string[] {
    return [...this.defs.keys()].sort();
  }

  /** User directories first, so they can override a built-in of the same name. */
  static standard(extraDirs: readonly string[] = []): PipelineRegistry {
    const r = new PipelineRegistry();
    for (const d of extraDirs) r.addDirectory(d);
    r.addDirectory(BUILTIN_PIPELINE_DIR);
    return r;
  }
}

export type PlannedStep =
  | { kind: "run"; name: string; where: string; script: string; workdir: string; env: Record<string, string> }
  | { kind: "fetch" | "git-checkout"; name: string; where: string; with: Record<string, string>; workdir: string };

/** A step's name for progress and logs: its `name:`, else the first line of its script as it runs (substituted). */
function describe(step: PipelineStep, script?: string): string {
  if (step.name) return step.name;
  if (step.uses) return `uses ${step.uses}`;
  const first = (script ?? step.runs ?? "").split("\n").find((l) => l.trim() !== "") ?? "";
  return first.trim().slice(0, 60) || "(empty step)";
}

function joinWorkdir(base: string, dir: string | undefined): string {
  if (!dir) return base;
  if (dir.startsWith("/")) return dir;
  return `${base.replace(/\/$/, "")}/${dir}`.replace(/\/\.$/, "");
}

/** Expands steps into what will run, in order; `if:` is decided here, after substitution. */
export function planSteps(
  steps: readonly PipelineStep[],
  vars: Vars,
  registry: PipelineRegistry,
  context: { workdir?: string; env?: Record<string, string>; depth?: number; warnings?: string[] } = {},
): PlannedStep[] {
  const out: PlannedStep[] = [];
  const depth = context.depth ?? 0;
  if (depth > 20) throw new UndistroError("BUILD_PIPELINE_RECURSION", "pipelines nest more than 20 deep (a pipeline uses itself?)");
  for (const step of steps) {
    const where = step.where;
    if (step.if !== undefined && !evaluateCondition(substitute(step.if, vars, `${where}.if`), `${where}.if`)) continue;
    const workdir = joinWorkdir(
      context.workdir ?? WORKSPACE,
      step.workingDirectory ? substitute(step.workingDirectory, vars, `${where}.working-directory`) : undefined,
    );
    const env = { ...(context.env ?? {}) };
    for (const [k, v] of Object.entries(step.environment ?? {})) env[k] = substitute(v, vars, `${where}.environment.${k}`);
    if (step.uses !== undefined) {
      const withValues: Record<string, string> = {};
      for (const [k, v] of Object.entries(step.with ?? {})) withValues[k] = substitute(v, vars, `${where}.with.${k}`);
      if (NATIVE_PIPELINES.has(step.uses)) {
        out.push({ kind: step.uses as "fetch" | "git-checkout", name: describe(step), where, with: withValues, workdir });
        continue;
      }
      const def = registry.get(step.uses);
      if (def === undefined) {
        throw new UndistroError("BUILD_UNKNOWN_PIPELINE", `${where}: no pipeline named ${JSON.stringify(step.uses)}`, {
          hint: `built-in and loaded pipelines: ${[...NATIVE_PIPELINES, ...registry.names()].join(", ")}; add more with --pipeline-dir`,
        });
      }
      const inner = new Map(vars);
      for (const [k, input] of Object.entries(def.inputs)) {
        const given = withValues[k];
        if (given === undefined && input.required && input.default === undefined) {
          throw new UndistroError("BUILD_MISSING_INPUT", `${where}: pipeline ${step.uses} needs input ${JSON.stringify(k)}`, {
            hint: `add it under with: (${input.description?.trim().split("\n")[0] ?? "no description"})`,
          });
        }
        inner.set(`inputs.${k}`, given ?? substitute(input.default ?? "", vars, `${def.file}: inputs.${k}.default`, true));
      }
      for (const k of Object.keys(withValues)) {
        if (!(k in def.inputs)) context.warnings?.push(`${where}: pipeline ${step.uses} has no input ${JSON.stringify(k)} (ignored)`);
      }
      // Steps inside a pipeline are reported under the step that used it, unless they have a name.
      const label = step.name ?? step.uses;
      const children = def.pipeline.map((s, i) => ({ ...s, name: s.name ?? label, where: `${where}→${step.uses}[${i}]` }));
      out.push(...planSteps(children, inner, registry, { ...context, workdir, env, depth: depth + 1 }));
      continue;
    }
    if (step.runs !== undefined) {
      const script = substitute(step.runs, vars, `${where}.runs`);
      out.push({ kind: "run", name: describe(step, script), where, script, workdir, env });
    }
    if (step.pipeline !== undefined) out.push(...planSteps(step.pipeline, vars, registry, { ...context, workdir, env, depth: depth + 1 }));
  }
  return out;
}
