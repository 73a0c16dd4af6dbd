/**
 * The daily rebuild, planned: which recipes changed (a version the repository lacks, a recipe or
 * advisory edited since a git ref), which recipes depend on them (they rebuild too, with their
 * epoch raised so the new package is a new version), and which images contain any of the
 * packages involved. Pure data: `runRebuild` carries it out, `--plan` prints it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { compareVersions, readIndexFile } from "../apk/index.js";
import { type BuildPlan, hostArch, planGraph } from "../build/index.js";
import { lockImage } from "../image/index.js";
import { findRecipes, loadRecipe, parseRecipe } from "../recipe/index.js";
import { UndistroError } from "../util/index.js";

export interface RebuildInputs {
  packagesDir: string;
  imagesDir?: string;
  advisoriesDir?: string;
  /** The package repository (with <arch>/APKINDEX.tar.gz). */
  repository: string;
  /** APK public keys image builds trust. */
  keyring: string[];
  arch?: string;
  /** Git ref: recipes and advisories changed since then count as changed. */
  since?: string;
}

export interface ChangedRecipe {
  package: string;
  recipe: string;
  /** Newest version of the package in the repository, if any. */
  from?: string;
  to: string;
  reason: string;
  /** The recipe must get a new epoch to publish a new package (its version is already in the repository). */
  epochBump: boolean;
}

export interface DependentRecipe {
  package: string;
  recipe: string;
  /** Changed recipes (direct or transitive) it depends on. */
  because: string[];
  from: string;
  to: string;
  epochBump: boolean;
}

export interface AffectedImage {
  name: string;
  config: string;
  /** Packages in the image that are rebuilt. */
  because: string[];
}

export interface RebuildPlan {
  arch: string;
  since?: string;
  changed: ChangedRecipe[];
  dependents: DependentRecipe[];
  images: AffectedImage[];
  /** Recipes left alone. */
  unchanged: string[];
  /** Images left alone. */
  unchangedImages: string[];
  /** Advisories changed since the ref whose fixes this plan does or does not build. */
  advisories: Array<{ package: string; file: string; note: string }>;
  /** Build order of the recipes to rebuild. */
  order: string[];
}

function git(args: string[], cwd: string): string {
  const r = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (r.status !== 0)
    throw new UndistroError("REBUILD_GIT", `git ${args.join(" ")}: ${(r.stderr || r.error?.message || "").trim()}`, {
      hint: "--since needs a git checkout and a ref it knows",
    });
  return r.stdout;
}

/** Files under `dir` that differ from `ref` (committed, staged, in the work tree, or new). */
function changedSince(ref: string, dir: string): Set<string> {
  const top = git(["rev-parse", "--show-toplevel"], dir).trim();
  const rel = relative(top, resolve(dir)) || ".";
  const out = new Set<string>();
  for (const line of [
    ...git(["diff", "--name-only", ref, "--", rel], top).split("\n"),
    ...git(["ls-files", "--others", "--exclude-standard", "--", rel], top).split("\n"),
  ]) {
    if (line) out.add(resolve(top, line));
  }
  return out;
}

/** The recipe's version-epoch at a git ref (undefined when the file is new since then). */
function versionAt(ref: string, file: string): string | undefined {
  const dir = resolve(file, "..");
  const top = git(["rev-parse", "--show-toplevel"], dir).trim();
  const r = spawnSync("git", ["show", `${ref}:${relative(top, resolve(file))}`], { cwd: top, encoding: "utf8" });
  if (r.status !== 0) return undefined;
  try {
    const old = parseRecipe(r.stdout, `${file}@${ref}`);
    return `${old.package.version}-r${old.package.epoch}`;
  } catch {
    return undefined;
  }
}

export function planRebuild(inputs: RebuildInputs): RebuildPlan {
  const arch = inputs.arch ?? hostArch();
  const graph: BuildPlan = planGraph(inputs.packagesDir, arch);
  const indexFile = join(inputs.repository, arch, "APKINDEX.tar.gz");
  const inRepo = new Map<string, string[]>();
  if (existsSync(indexFile)) {
    for (const e of readIndexFile(indexFile).entries) inRepo.set(e.name, [...(inRepo.get(e.name) ?? []), e.version]);
  }
  const newest = (name: string) => (inRepo.get(name) ?? []).sort(compareVersions).at(-1);
  const gitChanged = inputs.since ? changedSince(inputs.since, inputs.packagesDir) : new Set<string>();
  const changed: ChangedRecipe[] = [];
  const recipes = new Map(findRecipes(inputs.packagesDir).map((f) => [resolve(f), loadRecipe(f)]));
  const byName = new Map([...recipes.values()].map((r) => [r.package.name, r]));
  for (const node of graph.nodes) {
    const recipe = byName.get(node.name);
    if (!recipe) continue;
    const full = `${recipe.package.version}-r${recipe.package.epoch}`;
    const present = inRepo.get(node.name) ?? [];
    const from = newest(node.name);
    if (!present.includes(full)) {
      changed.push({
        package: node.name,
        recipe: node.recipe,
        ...(from ? { from } : {}),
        to: full,
        reason: from ? `recipe is at ${full}, the repository at ${from}` : "not in the repository yet",
        epochBump: false,
      });
    } else if (gitChanged.has(resolve(node.recipe)) && versionAt(inputs.since as string, node.recipe) === full) {
      changed.push({
        package: node.name,
        recipe: node.recipe,
        from: full,
        to: `${recipe.package.version}-r${recipe.package.epoch + 1}`,
        reason: `recipe edited since ${inputs.since} without a new version: epoch raised`,
        epochBump: true,
      });
    }
  }
  // Advisories edited since the ref: a fix the repository lacks rebuilds the package when the recipe carries it.
  const advisories: RebuildPlan["advisories"] = [];
  if (inputs.since && inputs.advisoriesDir && existsSync(inputs.advisoriesDir)) {
    for (const file of changedSince(inputs.since, inputs.advisoriesDir)) {
      if (!file.endsWith(".advisories.yaml")) continue;
      const pkg = basename(file, ".advisories.yaml");
      const recipe = byName.get(pkg);
      if (!recipe) {
        advisories.push({ package: pkg, file, note: "no recipe builds this package here" });
        continue;
      }
      const isChanged = changed.some((c) => c.package === pkg);
      advisories.push({ package: pkg, file, note: isChanged ? "rebuilt (its recipe changed)" : "advisory only: the package is current, nothing to rebuild" });
    }
  }
  // Reverse dependencies, transitively, in graph order.
  const selected = new Map(changed.map((c) => [c.package, c]));
  const dependents: DependentRecipe[] = [];
  const causes = new Map<string, Set<string>>();
  for (const name of graph.order) {
    const node = graph.nodes.find((n) => n.name === name);
    if (!node || selected.has(name)) continue;
    const why = new Set<string>();
    for (const dep of node.after) {
      if (selected.has(dep)) why.add(dep);
      for (const c of causes.get(dep) ?? []) why.add(c);
    }
    if (!why.size) continue;
    causes.set(name, why);
    const recipe = byName.get(name);
    if (!recipe) continue;
    const full = `${recipe.package.version}-r${recipe.package.epoch}`;
    const bump = (inRepo.get(name) ?? []).includes(full);
    dependents.push({
      package: name,
      recipe: node.recipe,
      because: [...why].sort(),
      from: full,
      to: bump ? `${recipe.package.version}-r${recipe.package.epoch + 1}` : full,
      epochBump: bump,
    });
  }
  const rebuilt = new Set([...changed.map((c) => c.package), ...dependents.map((d) => d.package)]);
  const produced = new Map<string, string>();
  for (const n of graph.nodes) if (rebuilt.has(n.name)) for (const p of n.produces) produced.set(p, n.name);
  // Images: resolve each config against the repository as it is now; one that installs a rebuilt package is rebuilt.
  const images: AffectedImage[] = [];
  const unchangedImages: string[] = [];
  if (inputs.imagesDir && existsSync(inputs.imagesDir)) {
    for (const f of readdirSync(inputs.imagesDir)
      .filter((n) => /\.ya?ml$/.test(n))
      .sort()) {
      const config = join(inputs.imagesDir, f);
      const name = f.replace(/\.ya?ml$/, "");
      let because: string[];
      if (!existsSync(indexFile)) because = ["(no repository yet)"];
      else {
        const lock = lockImage(config, [arch], { repositories: [resolve(inputs.repository)], keyring: inputs.keyring.map((k) => resolve(k)) });
        because = (lock.packages[arch] ?? [])
          .map((p) => p.name)
          .filter((p) => produced.has(p))
          .sort();
      }
      if (because.length) images.push({ name, config, because });
      else unchangedImages.push(name);
    }
  }
  return {
    arch,
    ...(inputs.since ? { since: inputs.since } : {}),
    changed,
    dependents,
    images,
    unchanged: graph.order.filter((n) => !rebuilt.has(n)),
    unchangedImages,
    advisories,
    order: graph.order.filter((n) => rebuilt.has(n)),
  };
}

export function formatRebuildPlan(plan: RebuildPlan): string {
  const lines: string[] = [];
  if (!plan.changed.length) lines.push(`nothing changed${plan.since ? ` since ${plan.since}` : ""}: no package or image to rebuild`);
  for (const c of plan.changed) {
    lines.push(`${c.package} ${c.from ?? "(new)"} → ${c.to}  (${c.reason})`);
    for (const d of plan.dependents.filter((x) => x.because.includes(c.package))) {
      lines.push(`  └ ${d.package} ${d.from} → ${d.to}  (depends on ${d.because.join(", ")}${d.epochBump ? "; epoch raised" : ""})`);
    }
  }
  if (plan.order.length) lines.push(`build order: ${plan.order.join(", ")}`);
  for (const i of plan.images) lines.push(`image ${i.name}  (contains ${i.because.join(", ")})`);
  if (plan.unchanged.length) lines.push(`unchanged: ${plan.unchanged.join(", ")}`);
  if (plan.unchangedImages.length) lines.push(`unchanged images: ${plan.unchangedImages.join(", ")}`);
  for (const a of plan.advisories) lines.push(`advisory ${a.package}: ${a.note}`);
  return `${lines.join("\n")}\n`;
}
