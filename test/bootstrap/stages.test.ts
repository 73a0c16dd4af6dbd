import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadStages, selectStages } from "../../src/bootstrap/index.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { isUndistroError } from "../../src/util/index.js";
import { REPO_ROOT, tempDir } from "../helpers.js";

const RECIPE = "package:\n  name: NAME\n  version: '1'\n  epoch: 0\n  copyright:\n    - license: CC0-1.0\npipeline:\n  - runs: 'true'\n";

function stagesFile(dir: string, body: string): string {
  mkdirSync(join(dir, "r"), { recursive: true });
  for (const n of ["a", "b"]) writeFileSync(join(dir, "r", `${n}.yaml`), RECIPE.replace("NAME", n));
  writeFileSync(join(dir, "stages.yaml"), body);
  return join(dir, "stages.yaml");
}

function refused(file: string, pattern: RegExp) {
  assert.throws(
    () => loadStages(file),
    (e: unknown) => isUndistroError(e) && e.code === "BOOTSTRAP_STAGES_INVALID" && pattern.test(e.message),
  );
}

describe("bootstrap stages", () => {
  it("reads the distro's stages: the cross toolchain, the native toolchain, the hermetic rebuild and the fixpoint", () => {
    const stages = loadStages(join(REPO_ROOT, "distro/bootstrap/stages.yaml"));
    assert.deepEqual(
      stages.map((s) => [s.name, s.hermetic, s.environmentFrom, s.compareWith ?? null, s.arch ?? null]),
      [
        ["stage0", false, ["self"], null, null],
        ["stage1", false, ["stage0"], null, null],
        ["stage2", true, ["stage1"], null, null],
        ["stage3", true, ["stage2"], "stage2", null],
        ["extra", true, ["stage1", "self"], null, null],
        ["extra-aarch64", true, ["stage1", "extra"], null, "aarch64"],
        ["cross-aarch64", true, ["stage1", "self"], null, null],
        ["aarch64", true, ["stage1", "cross-aarch64", "self"], null, "aarch64"],
      ],
    );
    const names = (i: number) => stages[i]?.recipes.map((r) => r.split("/").slice(-1)[0]);
    assert.deepEqual(names(0), ["linux-headers.yaml", "musl.yaml", "cross-binutils.yaml", "cross-gcc.yaml"]);
    assert.ok(names(1)?.includes("gcc.yaml") && names(1)?.includes("binutils.yaml") && names(1)?.at(-1) === "build-base.yaml");
    assert.deepEqual(stages[1]?.environmentAppend, ["cross-gcc"]);
    // Stage 2 rebuilds the toolchain and the distro's recipes.
    for (const r of ["gcc.yaml", "binutils.yaml", "make.yaml", "busybox.yaml", "hello.yaml", "zlib.yaml", "musl.yaml", "perl.yaml"])
      assert.ok(names(2)?.includes(r), r);
    // Perl's Configure runs what it compiles: native builds only, so not in the cross-native stage 1.
    assert.equal(names(1)?.includes("perl.yaml"), false);
    // The Go chain starts at undistro's own gccgo, each link built by the one before it.
    assert.deepEqual(names(4)?.slice(0, 5), ["gcc-go.yaml", "go-1.19.yaml", "go-1.21.yaml", "go-1.23.yaml", "go-1.24.yaml"]);
    for (const r of ["perl.yaml", "openssl.yaml", "pcre2.yaml", "nginx.yaml"]) assert.ok(names(4)?.includes(r), r);
    // aarch64: the cross toolchain, then musl first (every later recipe's /sysroot needs its musl-dev).
    assert.deepEqual(names(6), ["binutils-aarch64.yaml", "gcc-aarch64.yaml"]);
    assert.equal(names(7)?.[0], "musl.yaml");
    assert.ok(names(7)?.includes("gcc.yaml"));
    assert.deepEqual(stages[7]?.environmentAppend, ["gcc-aarch64"]);
    assert.deepEqual(names(5), ["go-1.24.yaml"]);
  });

  it("every recipe of a hermetic stage names its build root (an empty environment cannot build hermetically)", () => {
    for (const stage of loadStages(join(REPO_ROOT, "distro/bootstrap/stages.yaml")).filter((s) => s.hermetic)) {
      for (const file of stage.recipes) {
        const recipe = loadRecipe(file);
        assert.ok(recipe.environment.contents.packages.length > 0, `${stage.name}: ${file} has no environment.contents.packages`);
        const pipelineText = readFileSync(file, "utf8");
        // A recipe that compiles names build-base, which brings the compiler, binutils and make.
        if (/\b(make|configure|gcc|cc)\b/.test(pipelineText.split("\npipeline:")[1] ?? "")) {
          assert.ok(recipe.environment.contents.packages.includes("build-base"), `${stage.name}: ${file} builds code without build-base`);
        }
      }
    }
  });

  it("a stage for another architecture makes everything its packages depend on (its repository installs on its own)", () => {
    const stages = loadStages(join(REPO_ROOT, "distro/bootstrap/stages.yaml"));
    for (const stage of stages.filter((s) => s.arch !== undefined)) {
      // The stages a target's packages can come from: its own and those of its architecture it takes roots from.
      const feeding = stages.filter((s) => s === stage || (s.arch === stage.arch && stage.environmentFrom.includes(s.name)));
      const recipes = feeding.flatMap((s) => s.recipes.map((f) => loadRecipe(f)));
      const named = (r: ReturnType<typeof loadRecipe>, text: string) =>
        text.replaceAll("${{package.name}}", r.package.name).replaceAll("${{package.version}}", r.package.version);
      const made = new Set<string>();
      for (const r of recipes) {
        for (const [name, deps] of [[r.package.name, r.package.dependencies], ...r.subpackages.map((sp) => [sp.name, sp.dependencies] as const)] as const) {
          made.add(named(r, name));
          for (const p of deps.provides) made.add(named(r, p).split("=")[0] ?? "");
        }
      }
      for (const r of stage.recipes.map((f) => loadRecipe(f))) {
        const runtime = [r.package.dependencies, ...r.subpackages.map((sp) => sp.dependencies)].flatMap((d) => d.runtime);
        for (const dep of runtime.map((d) => named(r, d).split(/[<>=~]/)[0] ?? "")) {
          if (/^(so|cmd|pc):/.test(dep)) continue;
          assert.ok(made.has(dep), `${stage.name}: ${r.package.name} depends on ${dep}, which no ${stage.arch} stage it draws on makes`);
        }
      }
    }
  });

  it("selects stages by name, index, range and list, in file order", () => {
    const stages = loadStages(join(REPO_ROOT, "distro/bootstrap/stages.yaml"));
    const pick = (spec: string) => selectStages(stages, spec).map((s) => s.name);
    assert.deepEqual(pick("all"), ["stage0", "stage1", "stage2", "stage3", "extra", "extra-aarch64", "cross-aarch64", "aarch64"]);
    assert.deepEqual(pick("cross-aarch64-aarch64"), ["cross-aarch64", "aarch64"]);
    assert.deepEqual(pick("1-2"), ["stage1", "stage2"]);
    assert.deepEqual(pick("stage3,0"), ["stage0", "stage3"]);
    assert.deepEqual(pick("stage1-stage3"), ["stage1", "stage2", "stage3"]);
    // What the slow image suites run: the toolchain, then distro/extra on it (and its aarch64 Go).
    assert.deepEqual(pick("stage0-stage1,extra"), ["stage0", "stage1", "extra"]);
    assert.deepEqual(pick("extra,extra-aarch64"), ["extra", "extra-aarch64"]);
    assert.throws(() => pick("7"), /no stage 7/);
    assert.throws(() => pick("1-9"), /no stage 1-9/);
  });

  it("refuses unknown keys, duplicate names, environments from later stages and missing recipes, naming the field", (t) => {
    const dir = tempDir(t);
    refused(stagesFile(dir, "stages: []\n"), /stages: must be a non-empty list/);
    refused(stagesFile(dir, "stages:\n  - name: s\n    recipes: [r/a.yaml]\n    hermetc: true\n"), /stages\[0\]\.hermetc: unknown key/);
    refused(stagesFile(dir, "stages:\n  - name: s\n    recipes: [r/a.yaml]\n  - name: s\n    recipes: [r/b.yaml]\n"), /stages\[1\]\.name: s appears twice/);
    refused(
      stagesFile(dir, "stages:\n  - name: s\n    environment-from: [t]\n    recipes: [r/a.yaml]\n  - name: t\n    recipes: [r/b.yaml]\n"),
      /stages\[0\]\.environment-from: t is not an earlier stage/,
    );
    refused(stagesFile(dir, "stages:\n  - name: s\n    compare-with: s\n    recipes: [r/a.yaml]\n"), /stages\[0\]\.compare-with: must name an earlier stage/);
    refused(stagesFile(dir, "stages:\n  - name: s\n    recipes: [r/missing.yaml]\n"), /stages\[0\]\.recipes\[0\]: r\/missing\.yaml does not exist/);
    refused(stagesFile(dir, "stages:\n  - name: S!\n    recipes: [r/a.yaml]\n"), /stages\[0\]\.name: must be a lower-case name/);
    refused(
      stagesFile(dir, "stages:\n  - name: s\n    arch: riscv64\n    hermetic: true\n    recipes: [r/a.yaml]\n"),
      /stages\[0\]\.arch: must be one of x86_64, aarch64/,
    );
    refused(stagesFile(dir, "stages:\n  - name: s\n    arch: aarch64\n    recipes: [r/a.yaml]\n"), /stages\[0\]\.arch: needs hermetic: true/);
    const hyphens = loadStages(stagesFile(dir, "stages:\n  - name: a-b\n    recipes: [r/a.yaml]\n  - name: c\n    recipes: [r/b.yaml]\n"));
    assert.deepEqual(
      selectStages(hyphens, "a-b-c").map((s) => s.name),
      ["a-b", "c"],
      "a range of stages whose names hold hyphens",
    );
    const ok = loadStages(stagesFile(dir, "stages:\n  - name: s\n    recipes: [r]\n"));
    assert.deepEqual(
      ok[0]?.recipes.map((r) => r.slice(dir.length)),
      ["/r/a.yaml", "/r/b.yaml"],
    );
  });
});
