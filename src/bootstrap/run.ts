/**
 * `undistro bootstrap`: builds the stages of distro/bootstrap/stages.yaml in order, each recipe
 * into OUT/<stage>/<arch>/ with its environment from the stages the file names, and checks the
 * fixpoint: a stage with `compare-with` must reproduce that stage's packages byte for byte.
 * Each recipe is skipped when its inputs (recipe, pipelines, builder, environment repositories'
 * indexes, stage settings) are those of its last build and its packages are intact.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { indexDirectory, readIndexFile } from "../apk/index.js";
import {
  BUILDER_VERSION,
  type BuildEvent,
  type BuildOptions,
  BuildState,
  buildRecipe,
  environmentEntry,
  environmentKey,
  hostArch,
  PipelineRegistry,
  parseEnvironmentEntry,
  recipePipelinesDigest,
} from "../build/index.js";
import { loadRecipe, type Recipe } from "../recipe/index.js";
import { inPool, sha256Hex, sortedJson, sourceDateEpoch, UndistroError, writeFileAtomic } from "../util/index.js";
import { checkInstallable, type Uninstallable } from "./installable.js";
import type { Stage } from "./stages.js";

export interface BootstrapOptions extends Omit<BuildOptions, "outDir" | "hermetic" | "environmentRepositories" | "environmentAppend" | "onEvent"> {
  /** Every stage's repository is OUT/<stage>. */
  out: string;
  stages: Stage[];
  /** Recipes built at once in a stage whose recipes do not build from each other (no `self`); default 1. */
  jobs?: number;
  onEvent?: (e: BootstrapEvent) => void;
}

export type BootstrapEvent =
  | { type: "stage"; stage: string; index: number; total: number; description: string; recipes: number }
  | { type: "recipe"; stage: string; recipe: string; index: number; total: number; fresh: boolean; earlierMs?: number; why?: string }
  | { type: "recipe-done"; stage: string; recipe: string; ms: number; packages: number }
  | { type: "build"; stage: string; event: BuildEvent }
  | { type: "compare"; stage: string; against: string; identical: number; different: string[] }
  | { type: "installable"; stage: string; packages: number; uninstallable: Uninstallable[] };

export interface StageReport {
  name: string;
  /** What the stage built for (a cross stage's target). */
  arch: string;
  repository: string;
  /** What was built, with why (what changed since the recorded build) and how long it took. */
  built: Array<{ recipe: string; why: string; ms: number; packages: Array<{ file: string; sha256: string }> }>;
  fresh: string[];
  /** Packages of this stage's recipes that their latest builds no longer make (older versions), removed from the repository. */
  superseded: string[];
  /** What each recipe's latest build took (this run's, or an earlier run's for a recipe kept): a warm rerun keeps the cold figures. */
  buildTimes: Record<string, number>;
  ms: number;
  comparison?: Comparison;
  /** The stage's packages that do not install from its repository and its architecture's earlier ones (empty when all do). */
  uninstallable: Uninstallable[];
}

export interface Comparison {
  against: string;
  identical: Array<{ file: string; sha256: string }>;
  different: Array<{ file: string; sha256: string; againstSha256: string; report?: string }>;
  missing: string[];
}

export interface BootstrapReport {
  arch: string;
  stages: StageReport[];
  ms: number;
}

const sha256File = (file: string) => sha256Hex(readFileSync(file));

/** The repository of stage `name` under OUT. */
export function stageRepository(out: string, name: string): string {
  return join(resolve(out), name);
}

export async function runBootstrap(opts: BootstrapOptions): Promise<BootstrapReport> {
  const started = Date.now();
  const arch = opts.arch ?? hostArch();
  if (arch !== hostArch()) {
    throw new UndistroError("USAGE", `the bootstrap builds for the machine it runs on (${hostArch()}), not ${arch}`, {
      hint: "another architecture is a stage of its own: `arch:` in the stages file (docs/bootstrap.md, stage aarch64)",
    });
  }
  const reports: StageReport[] = [];
  for (const [i, stage] of opts.stages.entries()) {
    opts.onEvent?.({
      type: "stage",
      stage: stage.name,
      index: i + 1,
      total: opts.stages.length,
      description: stage.description,
      recipes: stage.recipes.length,
    });
    reports.push(await runStage(stage, stage.arch ?? arch, opts));
  }
  return { arch, stages: reports, ms: Date.now() - started };
}

/** What a stage's builds share: its repository, where environments come from, its build state. */
interface StageSetup {
  repository: string;
  archDir: string;
  state: BuildState;
  pipelines: PipelineRegistry;
  buildOptions: BuildOptions;
}

function stageSetup(stage: Stage, arch: string, opts: BootstrapOptions): StageSetup {
  const repository = stageRepository(opts.out, stage.name);
  const environmentRepositories = stage.environmentFrom.map((s) => (s === "self" ? repository : stageRepository(opts.out, s)));
  const { onEvent: _progress, out: _out, stages: _stages, jobs: _jobs, ...common } = opts;
  const buildOptions: BuildOptions = {
    ...common,
    // One log directory per stage: the same recipe builds in several stages.
    ...(common.logDir ? { logDir: join(common.logDir, stage.name) } : {}),
    arch,
    outDir: repository,
    hermetic: stage.hermetic,
    environmentRepositories,
    environmentAppend: stage.environmentAppend,
  };
  const state = new BuildState(repository, arch, opts.cacheDir);
  return { repository, archDir: join(repository, arch), state, pipelines: PipelineRegistry.standard(opts.pipelineDirs ?? []), buildOptions };
}

/** The inputs a recipe's build in a stage is kept by (their hash is its build-state key). */
function recipeInputs(setup: StageSetup, stage: Stage, recipeFile: string, recipe: Recipe, opts: BootstrapOptions): string {
  return sortedJson({
    recipe: sha256File(recipeFile),
    builder: BUILDER_VERSION,
    pipelines: recipePipelinesDigest(recipe, setup.pipelines),
    arch: setup.buildOptions.arch,
    epoch: opts.sourceDateEpoch ?? sourceDateEpoch(),
    hermetic: stage.hermetic,
    // What the environment resolves to: a recipe is rebuilt when its build root changes, not
    // whenever another package of the repository it comes from does.
    environment: environmentKey(recipeFile, setup.buildOptions),
  });
}

async function runStage(stage: Stage, arch: string, opts: BootstrapOptions): Promise<StageReport> {
  const t0 = Date.now();
  const setup = stageSetup(stage, arch, opts);
  const { repository, archDir, state, buildOptions } = setup;
  mkdirSync(archDir, { recursive: true });
  requireEnvironmentStages(stage, arch, buildOptions.environmentRepositories ?? []);
  const report: StageReport = { name: stage.name, arch, repository, built: [], fresh: [], superseded: [], buildTimes: {}, ms: 0, uninstallable: [] };
  // What each recipe took in earlier runs (any stage's report): the build order, and what progress expects.
  const recorded = recordedBuildTimes(opts.out);
  const recipes = stage.recipes.map((file) => ({ file, recipe: loadRecipe(file) }));
  const names = recipes.map((r) => r.recipe.package.name);
  const buildAt = async (i: number) => {
    const { file: recipeFile, recipe } = recipes[i] as (typeof recipes)[number];
    const name = recipe.package.name;
    const inputs = recipeInputs(setup, stage, recipeFile, recipe, opts);
    const key = BuildState.key(inputs);
    const fresh = state.fresh(name, key);
    const earlierMs = fresh ? undefined : recorded.get(name);
    const why = fresh ? undefined : state.whyStale(name, inputs);
    opts.onEvent?.({
      type: "recipe",
      stage: stage.name,
      recipe: name,
      index: i + 1,
      total: stage.recipes.length,
      fresh: fresh !== undefined,
      ...(earlierMs !== undefined ? { earlierMs } : {}),
      ...(why ? { why } : {}),
    });
    if (fresh) {
      report.fresh.push(name);
      return;
    }
    const r0 = Date.now();
    const built = await buildRecipe(recipeFile, { ...buildOptions, onEvent: (event) => opts.onEvent?.({ type: "build", stage: stage.name, event }) });
    state.record(name, key, inputs, built);
    const ms = Date.now() - r0;
    report.built.push({ recipe: name, why: why ?? "", ms, packages: built.packages.map((p) => ({ file: basename(p.file), sha256: sha256File(p.file) })) });
    opts.onEvent?.({ type: "recipe-done", stage: stage.name, recipe: name, ms, packages: built.packages.length });
  };
  // A stage whose recipes build from each other (`self`) builds them one by one, in file order.
  const jobs = stage.environmentFrom.includes("self") ? 1 : Math.max(1, opts.jobs ?? 1);
  await inPool(buildOrder(names, recorded, jobs), jobs, buildAt);
  // The report in the stages file's order, whichever build finished first.
  const position = (name: string) => names.indexOf(name);
  report.built.sort((a, b) => position(a.recipe) - position(b.recipe));
  report.fresh.sort((a, b) => position(a) - position(b));
  report.superseded = removeSuperseded(
    repository,
    arch,
    names.flatMap((n) => state.outputs(n)),
  );
  if (opts.signingKey && existsSync(archDir)) {
    indexDirectory(archDir, {
      signingKey: opts.signingKey,
      sourceDateEpoch: opts.sourceDateEpoch ?? sourceDateEpoch(),
      description: opts.distro ?? "undistro",
    });
  }
  const installable = checkInstallable(repository, arch, buildOptions.environmentRepositories ?? []);
  report.uninstallable = installable.uninstallable;
  opts.onEvent?.({ type: "installable", stage: stage.name, ...installable });
  if (stage.compareWith) {
    report.comparison = compareStages(stage, repository, stageRepository(opts.out, stage.compareWith), arch, buildOptions.logDir);
    const c = report.comparison;
    opts.onEvent?.({
      type: "compare",
      stage: stage.name,
      against: stage.compareWith,
      identical: c.identical.length,
      different: c.different.map((d) => d.file),
    });
  }
  const earlier = readStageReport(repository)?.buildTimes ?? {};
  for (const name of names) {
    const time = report.built.find((b) => b.recipe === name)?.ms ?? earlier[name];
    if (time !== undefined) report.buildTimes[name] = time;
  }
  report.ms = Date.now() - t0;
  // What this run of the stage did (times, packages and their sha256, the comparison), beside its
  // repository: the figures a later run that keeps everything would not show.
  writeFileAtomic(join(repository, "bootstrap-report.json"), Buffer.from(`${sortedJson(report)}\n`));
  return report;
}

/** A stage's recipes as a run would find them now: kept, or built and why. */
export interface StagePlan {
  stage: string;
  arch: string;
  build: Array<{ recipe: string; why: string; lastMs?: number }>;
  kept: string[];
  /** Stages of this plan that build something and that this stage's roots come from: a kept recipe here may build once they have. */
  after: string[];
}

/**
 * What `runBootstrap` would build, stage by stage, against the repositories as they are now
 * (`bootstrap --dry-run`). A stage whose roots come from a stage that builds something can only
 * be told about its present roots: `after` names those stages.
 */
export function planBootstrap(opts: BootstrapOptions): StagePlan[] {
  const recorded = recordedBuildTimes(opts.out);
  const building = new Set<string>();
  return opts.stages.map((stage) => {
    const arch = stage.arch ?? opts.arch ?? hostArch();
    const setup = stageSetup(stage, arch, opts);
    const plan: StagePlan = { stage: stage.name, arch, build: [], kept: [], after: [] };
    // In a stage that builds from itself, what an earlier recipe rebuilds changes a later one's root
    // where the root holds this stage's own package (not another stage's of the same version).
    const rebuilt = new Map<string, string>();
    const own = stage.environmentFrom.includes("self") ? indexedPackages(setup.repository) : new Set<string>();
    for (const file of stage.recipes) {
      const recipe = loadRecipe(file);
      const name = recipe.package.name;
      const lastMs = recorded.get(name);
      const build = (why: string) => {
        plan.build.push({ recipe: name, why, ...(lastMs !== undefined ? { lastMs } : {}) });
        for (const pkg of [name, ...setup.state.outputs(name).map(packageNameOf)]) rebuilt.set(pkg, name);
      };
      let inputs: string;
      try {
        inputs = recipeInputs(setup, stage, file, recipe, opts);
      } catch (err) {
        if (!(err instanceof UndistroError)) throw err;
        build(`its environment does not resolve yet (${err.code})`);
        continue;
      }
      if (!setup.state.fresh(name, BuildState.key(inputs))) {
        build(setup.state.whyStale(name, inputs));
        continue;
      }
      const fromSelf = ownPackagesIn(inputs, own).find((n) => rebuilt.has(n));
      if (fromSelf) build(`its root holds this stage's ${fromSelf}, which ${rebuilt.get(fromSelf)} builds first`);
      else plan.kept.push(name);
    }
    plan.after = stage.environmentFrom.map((from) => (from === "self" ? stage.name : from)).filter((from) => building.has(from) && from !== stage.name);
    if (plan.build.length) building.add(stage.name);
    return plan;
  });
}

/** Every `name-version:checksum` a repository's indexes (any architecture) list. */
function indexedPackages(repository: string): Set<string> {
  const out = new Set<string>();
  for (const arch of existsSync(repository) ? readdirSync(repository) : []) {
    const index = join(repository, arch, "APKINDEX.tar.gz");
    if (existsSync(index)) for (const e of readIndexFile(index).entries) out.add(`${e.name}-${e.version}:${e.checksum}`);
  }
  return out;
}

/** The names of the environment packages (root and sysroot) of `inputs` that are among `own`. */
function ownPackagesIn(inputs: string, own: ReadonlySet<string>): string[] {
  const environment = (JSON.parse(inputs) as { environment?: string[] }).environment ?? [];
  return environment.flatMap((e) => {
    const p = parseEnvironmentEntry(e);
    return p && own.has(environmentEntry(p)) ? [p.name] : [];
  });
}

/** `gcc-14.2.0-r0.apk` or `gcc-14.2.0-r0` → `gcc`. */
function packageNameOf(file: string): string {
  return /^(.+)-\d[^-]*-r\d+(\.apk)?$/.exec(file)?.[1] ?? file;
}

/**
 * Removes, with their provenance, the packages of the names the stage's recipes make that are not
 * among `current` (what their latest builds made): an older version or epoch left by an earlier
 * run. apk's solver takes the highest version, so a stale package could otherwise enter a later
 * stage's roots. Packages of other names (a stage seeded by hand) stay. Returns the removed files.
 */
function removeSuperseded(repository: string, arch: string, current: string[]): string[] {
  const archDir = join(repository, arch);
  const indexFile = join(archDir, "APKINDEX.tar.gz");
  if (!existsSync(indexFile)) return [];
  const keep = new Set(current);
  const entries = readIndexFile(indexFile).entries.map((e) => ({ name: e.name, file: `${e.name}-${e.version}.apk` }));
  const made = new Set(entries.filter((e) => keep.has(e.file)).map((e) => e.name));
  const stale = entries.filter((e) => made.has(e.name) && !keep.has(e.file)).map((e) => e.file);
  for (const file of stale) {
    rmSync(join(archDir, file), { force: true });
    for (const suffix of [".provenance.json", ".intoto.jsonl"]) rmSync(join(repository, "provenance", arch, `${file}${suffix}`), { force: true });
  }
  return stale.sort();
}

/** Fails, naming the stage to run first, when a stage this one builds from has no repository yet. */
function requireEnvironmentStages(stage: Stage, arch: string, repositories: string[]): void {
  for (const [j, from] of stage.environmentFrom.entries()) {
    // A cross stage's roots are this machine's packages, its /sysroot the target's: either will do.
    const indexes = [...new Set([hostArch(), arch])].map((a) => join(repositories[j] as string, a, "APKINDEX.tar.gz"));
    const index = indexes.find((f) => existsSync(f)) ?? (indexes[0] as string);
    if (from !== "self" && !existsSync(index)) {
      throw new UndistroError("BOOTSTRAP_STAGE_MISSING", `${stage.name} builds from ${from}, which has no repository at ${index}`, {
        hint: `run the earlier stages first: undistro bootstrap --stages ${from}-${stage.name}`,
      });
    }
  }
}

/**
 * The order a stage's recipes (their package names, in the file's order) start in, as indexes.
 * One at a time: the file's order. Several at once: the longest first, by `recorded` times
 * (recordedBuildTimes), so GCC's build starts at once and the short ones run beside it; recipes
 * never timed keep the file's order, after the timed ones.
 */
export function buildOrder(names: string[], recorded: Map<string, number>, jobs: number): number[] {
  const order = names.map((_, i) => i);
  if (jobs <= 1) return order;
  const time = (i: number) => recorded.get(names[i] as string) ?? -1;
  return order.sort((a, b) => time(b) - time(a) || a - b);
}

/** The longest time each recipe's latest build took in any stage under OUT. */
export function recordedBuildTimes(out: string): Map<string, number> {
  const times = new Map<string, number>();
  if (!existsSync(out)) return times;
  for (const entry of readdirSync(out, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const [recipe, ms] of Object.entries(readStageReport(join(out, entry.name))?.buildTimes ?? {}))
      times.set(recipe, Math.max(times.get(recipe) ?? 0, ms));
  }
  return times;
}

/**
 * The report a stage's last run left beside its repository, or undefined when there is none or it
 * cannot be read (it is a record for people: what reads it only orders builds and shows times).
 * Reports written before `buildTimes` existed give their `built` times.
 */
export function readStageReport(repository: string): { buildTimes: Record<string, number> } | undefined {
  const file = join(repository, "bootstrap-report.json");
  if (!existsSync(file)) return undefined;
  let report: { built?: unknown; buildTimes?: unknown };
  try {
    report = JSON.parse(readFileSync(file, "utf8")) as typeof report;
  } catch {
    return undefined;
  }
  const buildTimes: Record<string, number> = {};
  for (const b of Array.isArray(report.built) ? (report.built as Array<{ recipe?: unknown; ms?: unknown }>) : []) {
    if (typeof b?.recipe === "string" && typeof b.ms === "number") buildTimes[b.recipe] = b.ms;
  }
  if (report.buildTimes && typeof report.buildTimes === "object") {
    for (const [recipe, ms] of Object.entries(report.buildTimes)) if (typeof ms === "number") buildTimes[recipe] = ms;
  }
  return { buildTimes };
}

/**
 * Every package of `stage` (as its index lists them) against the file of the same name in the
 * other stage's repository, by sha256. A difference is reported with diffoscope when it is
 * installed (its text report beside the logs). Reports of earlier comparisons go first: the stage's
 * log directory shows what differs now, not what differed before a fix.
 */
export function compareStages(stage: Stage, repository: string, against: string, arch: string, logDir?: string): Comparison {
  if (logDir && existsSync(logDir)) for (const name of readdirSync(logDir)) if (name.endsWith(DIFFOSCOPE_SUFFIX)) rmSync(join(logDir, name), { force: true });
  const mine = readIndexFile(join(repository, arch, "APKINDEX.tar.gz")).entries.map((e) => `${e.name}-${e.version}.apk`);
  const out: Comparison = { against: stage.compareWith ?? against, identical: [], different: [], missing: [] };
  for (const file of mine.sort()) {
    const a = join(repository, arch, file);
    const b = join(against, arch, file);
    if (!existsSync(b)) {
      out.missing.push(file);
      continue;
    }
    const [sa, sb] = [sha256File(a), sha256File(b)];
    if (sa === sb) out.identical.push({ file, sha256: sa });
    else out.different.push({ file, sha256: sa, againstSha256: sb, ...diffoscope(a, b, logDir) });
  }
  return out;
}

const DIFFOSCOPE_SUFFIX = ".diffoscope.txt";

function diffoscope(a: string, b: string, logDir: string | undefined): { report?: string } {
  if (!logDir || spawnSync("diffoscope", ["--version"], { stdio: "ignore" }).status !== 0) return {};
  mkdirSync(logDir, { recursive: true });
  const report = join(logDir, `${basename(a)}${DIFFOSCOPE_SUFFIX}`);
  // diffoscope exits 1 when the files differ: that is the expected case here.
  spawnSync("diffoscope", ["--text", report, "--max-report-size", String(16 << 20), a, b], { stdio: "ignore", timeout: 30 * 60_000 });
  return existsSync(report) ? { report } : {};
}
