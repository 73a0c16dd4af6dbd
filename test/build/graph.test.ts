import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { generateApkKey, loadSigningKey, readIndexFile } from "../../src/apk/index.js";
import { type BuildReport, BuildState, buildGraph, formatPlanDot, PipelineRegistry, planGraph, recipePipelinesDigest } from "../../src/build/index.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { sortedJson, UndistroError } from "../../src/util/index.js";
import { REPO_ROOT, runCli, tempDir } from "../helpers.js";

function recipe(dir: string, name: string, needs: string[], extra = ""): void {
  const env = needs.length ? `environment:\n  contents:\n    packages:\n${needs.map((n) => `      - ${n}\n`).join("")}` : "";
  writeFileSync(
    join(dir, `${name}.yaml`),
    `package:\n  name: ${name}\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\n${env}pipeline:\n  - runs: |\n      mkdir -p \${{targets.destdir}}/usr/share/${name}\n      echo ${name}${extra} > \${{targets.destdir}}/usr/share/${name}/data\n`,
  );
}

describe("build graph", () => {
  it("orders distro/packages: busybox before what builds with it", () => {
    const plan = planGraph(join(REPO_ROOT, "distro/packages"), "x86_64");
    assert.ok(plan.order.indexOf("busybox") < plan.order.indexOf("hello"));
    // busybox builds against the repository's musl-dev and linux-headers (stage 1).
    assert.ok(plan.order.indexOf("linux-headers") < plan.order.indexOf("busybox"));
    assert.ok(plan.order.indexOf("musl") < plan.order.indexOf("busybox"));
    assert.match(formatPlanDot(plan), /"linux-headers" -> "busybox"/);
    assert.ok(plan.order.indexOf("busybox") < plan.order.indexOf("ca-certificates-bundle"));
    assert.match(formatPlanDot(plan), /"busybox" -> "hello"/);
  });

  it("builds in order, in parallel, skips what did not change, rebuilds a touched recipe and its dependents only", async (t) => {
    const dir = tempDir(t);
    const recipes = join(dir, "recipes");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(recipes);
    recipe(recipes, "base", []);
    recipe(recipes, "middle", ["base"]);
    recipe(recipes, "top", ["middle"]);
    recipe(recipes, "loner", []);
    const key = loadSigningKey(generateApkKey(join(dir, "k"), { bits: 2048 }).privateKeyPath);
    const opts = { outDir: join(dir, "out"), signingKey: key, arch: "x86_64", sourceDateEpoch: 1, jobs: 2, cacheDir: join(dir, "cache") };
    const firstWhy: string[] = [];
    const first = await buildGraph(recipes, { ...opts, onEvent: (e) => e.type === "stale" && firstWhy.push(e.reason) });
    assert.deepEqual(first.plan.order, ["base", "loner", "middle", "top"]);
    assert.deepEqual(firstWhy, Array(4).fill("no earlier build here"));
    assert.equal(first.built.length, 4);
    assert.equal(readIndexFile(join(dir, "out/x86_64/APKINDEX.tar.gz")).entries.length, 4);
    const second = await buildGraph(recipes, opts);
    assert.deepEqual(second.built, []);
    assert.deepEqual(second.skipped.sort(), ["base", "loner", "middle", "top"]);
    recipe(recipes, "middle", ["base"], " changed");
    const why: string[] = [];
    const third = await buildGraph(recipes, { ...opts, onEvent: (e) => e.type === "stale" && why.push(`${e.recipe}: ${e.reason}`) });
    // Progress says why each is built again: middle's recipe, top's root (middle, rebuilt).
    assert.deepEqual(why.sort(), ["middle: the recipe changed", "top: a recipe it depends on was rebuilt; its build root changed: middle 1.0-r0 rebuilt"]);
    assert.deepEqual(third.built.map((r) => r.packages[0]?.name).sort(), ["middle", "top"]);
    assert.deepEqual(third.skipped.sort(), ["base", "loner"]);
    const { readdirSync } = await import("node:fs");
    const stateRoot = join(dir, "cache/build-state");
    const state = join(stateRoot, readdirSync(stateRoot)[0] as string, "x86_64/middle.json");
    assert.ok(readFileSync(state, "utf8").includes('"recipe"'));
    assert.deepEqual(readdirSync(join(dir, "out")).sort(), ["provenance", "x86_64"], "packages and their provenance, no cache inside the output");
    assert.deepEqual(
      readdirSync(join(dir, "out/x86_64")).filter((f) => !f.endsWith(".apk")),
      ["APKINDEX.tar.gz"],
      "the repository holds only packages and the index",
    );
  });

  it("rebuilds a recipe when an environment package from outside its directory changes, and only then", async (t) => {
    const dir = tempDir(t);
    const { mkdirSync } = await import("node:fs");
    const [lower, upper] = [join(dir, "lower"), join(dir, "upper")];
    mkdirSync(lower);
    mkdirSync(upper);
    recipe(lower, "tool", []);
    recipe(lower, "other", []);
    // `user` builds with `tool`, which another directory's build puts in the same repository (as
    // distro/extra/go's recipes build in roots of distro/packages' busybox).
    recipe(upper, "user", ["tool"]);
    const key = loadSigningKey(generateApkKey(join(dir, "k"), { bits: 2048 }).privateKeyPath);
    const opts = { outDir: join(dir, "out"), signingKey: key, arch: "x86_64", sourceDateEpoch: 1, cacheDir: join(dir, "cache") };
    await buildGraph(lower, opts);
    assert.equal((await buildGraph(upper, opts)).built.length, 1);
    assert.deepEqual((await buildGraph(upper, opts)).skipped, ["user"]);
    // Another package of the repository changes: not part of user's environment, nothing to do.
    recipe(lower, "other", [], " changed");
    await buildGraph(lower, opts);
    assert.deepEqual((await buildGraph(upper, opts)).skipped, ["user"]);
    // The tool in user's environment changes: user is built again.
    recipe(lower, "tool", [], " changed");
    await buildGraph(lower, opts);
    const why: string[] = [];
    assert.deepEqual(
      (await buildGraph(upper, { ...opts, onEvent: (e) => e.type === "stale" && why.push(e.reason) })).built.map((r) => r.packages[0]?.name),
      ["user"],
    );
    assert.deepEqual(why, ["its build root changed: tool 1.0-r0 rebuilt"]);
  });

  it("says why a recipe is built again: each input that changed, its root package by package", (t) => {
    const dir = tempDir(t);
    const state = new BuildState(join(dir, "out"), "x86_64", join(dir, "cache"));
    const inputs = (over: Record<string, unknown>) =>
      sortedJson({
        recipe: "aa",
        builder: "0.1.0",
        pipelines: "pp",
        arch: "x86_64",
        epoch: 0,
        hermetic: true,
        environment: ["busybox-1.37.0-r1:Q1a=", "gcc-14.2.0-r0:Q1g=", "perl-5.42.3-r0:Q1p=", "zlib-1.3.1-r0:Q1z="],
        ...over,
      });
    assert.equal(state.whyStale("perl", inputs({})), "no earlier build here");
    const before = inputs({});
    state.record("perl", BuildState.key(before), before, { packages: [] } as unknown as BuildReport);
    assert.equal(state.whyStale("perl", before), "its packages are missing from the repository or changed there");
    assert.equal(state.whyStale("perl", inputs({ recipe: "bb", builder: "0.2.0" })), "undistro's builder changed (0.1.0 → 0.2.0); the recipe changed");
    assert.equal(
      state.whyStale("perl", inputs({ environment: ["busybox-1.37.0-r1:Q1b=", "gcc-14.2.0-r0:Q1g=", "make-4.4.1-r0:Q1m=", "perl-5.42.3-r1:Q1q="], epoch: 1 })),
      "its build root changed: busybox 1.37.0-r1 rebuilt, +make 4.4.1-r0, perl 5.42.3-r0 → 5.42.3-r1, -zlib; SOURCE_DATE_EPOCH changed",
    );
  });

  it("reports a cycle with its path", async (t) => {
    const dir = tempDir(t);
    recipe(dir, "chicken", ["egg"]);
    recipe(dir, "egg", ["chicken"]);
    assert.throws(
      () => planGraph(dir, "x86_64"),
      (e: unknown) =>
        e instanceof UndistroError && e.code === "BUILD_GRAPH_CYCLE" && /chicken → egg → chicken/.test(e.message) && /chicken needs egg/.test(e.message),
    );
    const r = await runCli(["build", dir, "--plan"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[BUILD_GRAPH_CYCLE\]/);
  });
});

describe("the build cache's pipeline key", () => {
  it("covers the pipelines a recipe uses (and the ones they use), and no other", (t) => {
    const dir = tempDir(t);
    const pipes = join(dir, "pipelines");
    mkdirSync(join(pipes, "demo"), { recursive: true });
    const pipeline = (name: string, body: string) => writeFileSync(join(pipes, `demo/${name}.yaml`), `name: ${name}\npipeline:\n${body}`);
    pipeline("one", "  - uses: demo/nested\n");
    pipeline("nested", "  - runs: echo nested\n");
    pipeline("other", "  - runs: echo other\n");
    writeFileSync(
      join(dir, "r.yaml"),
      "package:\n  name: r\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - uses: demo/one\nsubpackages:\n  - name: r-doc\n    pipeline:\n      - uses: split/manpages\n",
    );
    const key = () => recipePipelinesDigest(loadRecipe(join(dir, "r.yaml")), PipelineRegistry.standard([pipes]));
    const first = key();
    assert.equal(key(), first);
    pipeline("other", "  - runs: echo changed\n");
    assert.equal(key(), first, "a pipeline the recipe does not use");
    pipeline("nested", "  - runs: echo changed\n");
    const second = key();
    assert.notEqual(second, first, "a pipeline used through another");
    pipeline("one", "  - uses: demo/nested\n  - runs: true\n");
    assert.notEqual(key(), second, "a pipeline used directly");
    // A built-in a subpackage uses is covered too: another directory's split/manpages overrides it.
    const third = key();
    mkdirSync(join(pipes, "split"));
    writeFileSync(join(pipes, "split/manpages.yaml"), "name: manpages\npipeline:\n  - runs: true\n");
    assert.notEqual(key(), third);
  });
});
