/**
 * Builds a directory of recipes in dependency order: the graph comes from what each recipe needs
 * (runtime depends, build environment packages) and what each provides (packages, subpackages,
 * provides); independent recipes build in parallel; a recipe whose inputs (recipe, sources,
 * dependency packages, builder version) are unchanged is skipped.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { indexDirectory, parseDependency, readIndexFile, readPackage } from "../apk/index.js";
import { findRecipes, loadRecipe, type PipelineStep, type Recipe } from "../recipe/index.js";
import { sortedJson, sourceDateEpoch, UndistroError, writeFileAtomic } from "../util/index.js";
import { BUILDER_VERSION, type BuildOptions, type BuildReport, buildRecipe, environmentKey, hostArch } from "./build.js";
import { parseEnvironmentEntry } from "./environment.js";
import { PipelineRegistry } from "./pipelines.js";
import { defaultCacheDir } from "./sources.js";
import { archInfo, recipeVars, substitute } from "./substitute.js";

export interface GraphNode {
  recipe: string;
  name: string;
  /** Names this recipe's packages are known by (package, subpackages, provides). */
  produces: string[];
  /** Other recipes (by name) it must come after. */
  after: string[];
  /** Why: the atom that made each edge. */
  because: Record<string, string>;
}

export interface BuildPlan {
  nodes: GraphNode[];
  /** Recipe names in build order. */
  order: string[];
}

function atomName(atom: string): string {
  try {
    return parseDependency(atom, "", false).name;
  } catch {
    return atom;
  }
}

export function planGraph(path: string, arch = hostArch()): BuildPlan {
  const files = findRecipes(path);
  const recipes: Array<{ file: string; recipe: Recipe }> = files.map((file) => ({ file, recipe: loadRecipe(file) }));
  const producer = new Map<string, string>();
  const nodes: GraphNode[] = [];
  for (const { file, recipe } of recipes) {
    const vars = recipeVars(recipe, archInfo(arch));
    const produces = new Set<string>([recipe.package.name]);
    for (const p of recipe.package.dependencies.provides) produces.add(atomName(substitute(p, vars, "provides", true)));
    for (const sp of recipe.subpackages) {
      produces.add(substitute(sp.name, vars, "subpackage", true));
      for (const p of sp.dependencies.provides) produces.add(atomName(substitute(p, vars, "provides", true)));
    }
    for (const n of produces) {
      const other = producer.get(n);
      if (other && other !== recipe.package.name) {
        throw new UndistroError("BUILD_GRAPH_DUPLICATE", `${file}: ${n} is also produced by recipe ${other}`, {
          hint: "each package name may come from one recipe only",
        });
      }
      producer.set(n, recipe.package.name);
    }
    nodes.push({ recipe: file, name: recipe.package.name, produces: [...produces].sort(), after: [], because: {} });
  }
  for (const [i, { recipe }] of recipes.entries()) {
    const node = nodes[i] as GraphNode;
    const vars = recipeVars(recipe, archInfo(arch));
    const needs = [
      ...recipe.environment.contents.packages,
      ...recipe.package.dependencies.runtime,
      ...recipe.subpackages.flatMap((s) => s.dependencies.runtime),
    ].map((a) => substitute(a, vars, "depends", true));
    for (const atom of needs) {
      if (atom.startsWith("!")) continue;
      const from = producer.get(atomName(atom));
      if (from && from !== node.name && !node.after.includes(from)) {
        node.after.push(from);
        node.because[from] = atom;
      }
    }
    node.after.sort();
  }
  // Kahn's algorithm with name order among the ready ones: a stable order for the same inputs.
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const remaining = new Map(nodes.map((n) => [n.name, new Set(n.after)]));
  const order: string[] = [];
  while (remaining.size > 0) {
    const ready = [...remaining]
      .filter(([, deps]) => deps.size === 0)
      .map(([n]) => n)
      .sort();
    if (ready.length === 0) throw cycleError(remaining, byName);
    for (const n of ready) {
      order.push(n);
      remaining.delete(n);
      for (const deps of remaining.values()) deps.delete(n);
    }
  }
  return { nodes: nodes.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name)), order };
}

function cycleError(remaining: Map<string, Set<string>>, byName: Map<string, GraphNode>): UndistroError {
  // Walk dependencies from any remaining node until a node repeats: that loop is the cycle.
  const start = [...remaining.keys()].sort()[0] as string;
  const path: string[] = [];
  let cur = start;
  while (!path.includes(cur)) {
    path.push(cur);
    cur = [...(remaining.get(cur) ?? [])].sort()[0] as string;
  }
  const cycle = [...path.slice(path.indexOf(cur)), cur];
  const edges = cycle.slice(0, -1).map((n, i) => `${n} needs ${byName.get(n)?.because[cycle[i + 1] as string] ?? cycle[i + 1]}`);
  return new UndistroError("BUILD_GRAPH_CYCLE", `recipes depend on each other in a cycle: ${cycle.join(" → ")} (${edges.join("; ")})`, {
    hint: "break the cycle: one of these dependencies must come from a bootstrap build or be removed",
  });
}

export function formatPlanText(plan: BuildPlan): string {
  const lines: string[] = [];
  for (const [i, name] of plan.order.entries()) {
    const n = plan.nodes.find((x) => x.name === name) as GraphNode;
    lines.push(`${String(i + 1).padStart(3)}. ${name}${n.after.length ? `  ← ${n.after.map((a) => `${a} (${n.because[a]})`).join(", ")}` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}

export function formatPlanDot(plan: BuildPlan): string {
  const lines = ["digraph undistro {", "  rankdir=LR;"];
  for (const n of plan.nodes) lines.push(`  "${n.name}";`);
  for (const n of plan.nodes) for (const a of n.after) lines.push(`  "${a}" -> "${n.name}" [label="${(n.because[a] ?? "").replace(/"/g, '\\"')}"];`);
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

export interface GraphBuildResult {
  plan: BuildPlan;
  built: BuildReport[];
  skipped: string[];
}

/**
 * The pipelines a recipe runs, by name and content (those its steps and subpackages use, and the
 * ones they use in turn): a build cache key part, so that a change to one pipeline rebuilds the
 * recipes using it and no other (a change to go/bootstrap does not rebuild GCC).
 */
export function recipePipelinesDigest(recipe: Recipe, registry: PipelineRegistry): string {
  const used = new Map<string, string>();
  const visit = (steps: readonly PipelineStep[]) => {
    for (const step of steps) {
      if (step.pipeline) visit(step.pipeline);
      if (!step.uses || used.has(step.uses)) continue;
      const def = registry.get(step.uses);
      // An unknown name fails the build itself; here it only has to key differently from a known one.
      used.set(step.uses, def ? createHash("sha256").update(readFileSync(def.file)).digest("hex") : "missing");
      if (def) visit(def.pipeline);
    }
  };
  visit(recipe.pipeline);
  for (const sp of recipe.subpackages) visit(sp.pipeline);
  return createHash("sha256")
    .update(sortedJson(Object.fromEntries(used)))
    .digest("hex");
}

export interface GraphBuildOptions extends BuildOptions {
  jobs?: number;
  /**
   * Build exactly these recipes (by package name), whatever the recorded state says, and leave the
   * rest as they are in the repository: a rebuild decides what must change and nothing else may.
   */
  only?: ReadonlySet<string>;
}

/** Builds every recipe under `path` in graph order, `jobs` at a time. */
/** The package checksums a recipe left in the repository: from the build state, else from the index. */
function existingChecksums(stateFile: string, archDir: string, node: GraphNode): string[] {
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, "utf8")) as { outputs: Array<{ checksum: string }> };
    return state.outputs.map((o) => o.checksum);
  }
  const index = join(archDir, "APKINDEX.tar.gz");
  if (!existsSync(index)) return [];
  return readIndexFile(index)
    .entries.filter((e) => node.produces.includes(e.name))
    .map((e) => e.checksum)
    .sort();
}

/**
 * What was built from which inputs, per recipe. It is cache, not output: it lives in the cache
 * directory, keyed by the output directory it describes. A recipe is fresh when its recorded key
 * matches and every package it recorded is still in the repository with the same checksum.
 */
export class BuildState {
  private readonly dir: string;
  private readonly archDir: string;

  constructor(outDir: string, arch: string, cacheDir?: string) {
    const outKey = createHash("sha256").update(resolve(outDir)).digest("hex").slice(0, 16);
    this.dir = join(cacheDir ?? defaultCacheDir(), "build-state", outKey, arch);
    this.archDir = join(outDir, arch);
    mkdirSync(this.dir, { recursive: true });
  }

  static key(inputs: string): string {
    return createHash("sha256").update(inputs).digest("hex");
  }

  file(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  /** The recorded package checksums when `name` was built from `key` and its packages are intact. */
  fresh(name: string, key: string): string[] | undefined {
    const file = this.file(name);
    if (!existsSync(file)) return undefined;
    const state = JSON.parse(readFileSync(file, "utf8")) as { key: string; outputs: Array<{ file: string; checksum: string }> };
    if (state.key !== key) return undefined;
    const intact = state.outputs.every((o) => existsSync(join(this.archDir, o.file)) && readPackage(join(this.archDir, o.file)).checksum === o.checksum);
    return intact ? state.outputs.map((o) => o.checksum) : undefined;
  }

  /**
   * Why `name` is built again from `inputs` (the sortedJson its key hashes), for progress: what
   * differs from the recorded build's inputs, or that its packages are gone. Only called when
   * `fresh` said no.
   */
  whyStale(name: string, inputs: string): string {
    const file = this.file(name);
    if (!existsSync(file)) return "no earlier build here";
    let recorded: Record<string, unknown>;
    try {
      recorded = (JSON.parse(readFileSync(file, "utf8")) as { inputs?: Record<string, unknown> }).inputs ?? {};
    } catch {
      return "its earlier build's record is unreadable";
    }
    const now = JSON.parse(inputs) as Record<string, unknown>;
    const reasons = staleReasons(recorded, now);
    return reasons.length ? reasons.join("; ") : "its packages are missing from the repository or changed there";
  }

  /** The package files `name`'s last recorded build made (none when it has no record). */
  outputs(name: string): string[] {
    const file = this.file(name);
    if (!existsSync(file)) return [];
    return (JSON.parse(readFileSync(file, "utf8")) as { outputs: Array<{ file: string }> }).outputs.map((o) => o.file);
  }

  /** Records what a build made from `inputs`; returns its package checksums. */
  record(name: string, key: string, inputs: string, report: BuildReport): string[] {
    const outputs = report.packages.map((p) => ({ file: basename(p.file), checksum: p.checksum }));
    writeFileAtomic(this.file(name), Buffer.from(`${sortedJson({ key, inputs: JSON.parse(inputs), outputs })}\n`));
    return outputs.map((o) => o.checksum);
  }
}

const INPUT_NAMES: Record<string, string> = {
  recipe: "the recipe changed",
  pipelines: "a pipeline it uses changed",
  dependencies: "a recipe it depends on was rebuilt",
  arch: "another architecture",
  epoch: "SOURCE_DATE_EPOCH changed",
  hermetic: "hermetic changed",
};

/** What differs between two builds' inputs, in words (the environment package by package). */
function staleReasons(before: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const reasons: string[] = [];
  for (const field of [...new Set([...Object.keys(before), ...Object.keys(now)])].sort()) {
    if (sortedJson(before[field]) === sortedJson(now[field])) continue;
    if (field === "environment") reasons.push(`its build root changed: ${environmentChanges(before[field], now[field])}`);
    else if (field === "builder") reasons.push(`undistro's builder changed (${String(before[field])} → ${String(now[field])})`);
    else reasons.push(INPUT_NAMES[field] ?? `${field} changed`);
  }
  return reasons;
}

/** Environment entries are `name-version:checksum` (sysroot ones prefixed `sysroot:ARCH:`). */
function environmentChanges(before: unknown, now: unknown): string {
  const byName = (list: unknown) => {
    const out = new Map<string, { version: string; checksum: string }>();
    for (const entry of Array.isArray(list) ? list : []) {
      const parsed = parseEnvironmentEntry(String(entry));
      // A sysroot entry keeps its prefix in the name: the target's musl is not the root's.
      const prefix = /^sysroot:[^:]+:/.exec(String(entry))?.[0] ?? "";
      if (parsed) out.set(`${prefix}${parsed.name}`, { version: parsed.version, checksum: parsed.checksum });
      else out.set(String(entry), { version: "", checksum: "" });
    }
    return out;
  };
  const [was, is] = [byName(before), byName(now)];
  const changes: string[] = [];
  for (const [name, p] of [...is].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const old = was.get(name);
    if (!old) changes.push(`+${name} ${p.version}`.trim());
    else if (old.version !== p.version) changes.push(`${name} ${old.version} → ${p.version}`);
    else if (old.checksum !== p.checksum) changes.push(`${name} ${p.version} rebuilt`);
  }
  for (const name of [...was.keys()].sort()) if (!is.has(name)) changes.push(`-${name}`);
  return changes.length > 6 ? `${changes.slice(0, 6).join(", ")} and ${changes.length - 6} more` : changes.join(", ");
}

/** environmentKey, or a marker naming why it cannot resolve (the build then fails with its own error). */
function resolvedEnvironment(recipe: string, opts: BuildOptions): string[] {
  try {
    return environmentKey(recipe, opts);
  } catch (err) {
    if (!(err instanceof UndistroError)) throw err;
    return [`unresolved:${err.code}`];
  }
}

export async function buildGraph(path: string, opts: GraphBuildOptions): Promise<GraphBuildResult> {
  const arch = opts.arch ?? hostArch();
  const plan = planGraph(path, arch);
  const archDir = join(opts.outDir, arch);
  const state = new BuildState(opts.outDir, arch, opts.cacheDir);
  // Read once: each recipe's key covers the pipelines it uses.
  const pipelines = PipelineRegistry.standard(opts.pipelineDirs ?? []);
  const done = new Map<string, Promise<{ checksums: string[] }>>();
  const built: BuildReport[] = [];
  const skipped: string[] = [];
  const jobs = Math.max(1, opts.jobs ?? 1);
  let running = 0;
  const queue: Array<() => void> = [];
  const slot = async () => {
    if (running >= jobs) await new Promise<void>((r) => queue.push(r));
    running++;
  };
  const release = () => {
    running--;
    queue.shift()?.();
  };
  const run = (name: string): Promise<{ checksums: string[] }> => {
    const existing = done.get(name);
    if (existing) return existing;
    const node = plan.nodes.find((n) => n.name === name) as GraphNode;
    const p = (async () => {
      const deps = await Promise.all(node.after.map(run));
      await slot();
      try {
        const recipe = readFileSync(node.recipe);
        const inputs = sortedJson({
          recipe: createHash("sha256").update(recipe).digest("hex"),
          dependencies: deps.flatMap((d) => d.checksums).sort(),
          builder: BUILDER_VERSION,
          pipelines: recipePipelinesDigest(loadRecipe(node.recipe), pipelines),
          arch,
          epoch: opts.sourceDateEpoch ?? sourceDateEpoch(),
          // A hermetic build of the same inputs is another build (its SBOM and provenance differ).
          ...(opts.hermetic ? { hermetic: true } : {}),
          // The environment the recipe resolves to now (name-version:checksum of every package,
          // from the output repository or appended ones): a rebuilt busybox under a hermetic
          // recipe's root rebuilds the recipe, a new unrelated package elsewhere does not.
          environment: resolvedEnvironment(node.recipe, { ...opts, arch }),
        });
        const key = BuildState.key(inputs);
        if (opts.only && !opts.only.has(name)) {
          skipped.push(name);
          opts.onEvent?.({ type: "skip", reason: `${name}: not part of this rebuild` });
          return { checksums: existingChecksums(state.file(name), archDir, node) };
        }
        const fresh = opts.only ? undefined : state.fresh(name, key);
        if (fresh) {
          skipped.push(name);
          opts.onEvent?.({ type: "skip", reason: `${name}: inputs unchanged` });
          return { checksums: fresh };
        }
        opts.onEvent?.({ type: "stale", recipe: name, reason: state.whyStale(name, inputs) });
        const report = await buildRecipe(node.recipe, { ...opts, arch });
        built.push(report);
        return { checksums: state.record(name, key, inputs, report) };
      } finally {
        release();
      }
    })();
    done.set(name, p);
    return p;
  };
  await Promise.all(plan.order.map(run));
  if (opts.signingKey && existsSync(archDir))
    indexDirectory(archDir, {
      signingKey: opts.signingKey,
      sourceDateEpoch: opts.sourceDateEpoch ?? sourceDateEpoch(),
      description: opts.distro ?? "undistro",
    });
  return { plan, built, skipped };
}
