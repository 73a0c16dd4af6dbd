import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { lintRecipes, parseRecipe, RecipeInvalidError } from "../../src/recipe/index.js";
import { REFERENCE, runCli } from "../helpers.js";

const MELANGE = join(REFERENCE, "melange");

describe("melange recipes", () => {
  it("loads every recipe in Wolfi's tree", () => {
    const report = lintRecipes([join(REFERENCE, "wolfi-os")]);
    assert.ok(report.valid > 2700, `${report.valid} valid`);
    assert.deepEqual(
      report.results.filter((r) => !r.valid),
      [],
    );
  });

  it("loads melange's examples (warning about the versions no APK can carry)", () => {
    const report = lintRecipes([join(MELANGE, "examples")]);
    assert.equal(report.invalid, 0);
    const warned = report.results.filter((r) => r.warnings.length > 0).map((r) => r.file.split("/").pop());
    assert.deepEqual(warned.sort(), ["R-build.yaml", "git-checkout.yaml"]);
  });

  it("rejects melange's own invalid configuration cases, naming the field", () => {
    const dir = join(MELANGE, "pkg/build/testdata/configuration_load");
    const expect: Record<string, RegExp> = {
      "invalid-duplicate-package-name.melange.yaml": /subpackages\[0\]\.name \(line 6\): "hello" is already used by package\.name/,
      "invalid-package-name.melange.yaml": /package\.name \(line 2\): "boost-\\"mobile\\"" is not a valid package name/,
      "invalid-range-subpackage-name.melange.yaml": /subpackages\[0\]\.name \(line 19\): "turtle-\\"donatello\\"" is not a valid package name/,
      "missing-package-name.melange.yaml": /package\.name \(line 2\): is required/,
      "unknown-fields.melange.yaml": /environment\.repositories \(line 8\): unknown field/,
      "uses-and-runs.melange.yaml": /pipeline\[0\] \(line 7\): a step has either `uses` or `runs`, not both/,
      "with-and-runs.melange.yaml": /pipeline\[0\] \(line 7\): `with` only goes with `uses`/,
    };
    const report = lintRecipes([dir]);
    const invalid = report.results.filter((r) => !r.valid);
    assert.deepEqual(invalid.map((r) => r.file.split("/").pop()).sort(), Object.keys(expect).sort());
    for (const r of invalid) {
      const re = expect[r.file.split("/").pop() as string] as RegExp;
      assert.ok(
        r.errors.some((e) => re.test(e)),
        `${r.file}: ${r.errors.join("; ")}`,
      );
    }
  });

  it("keeps versions as written and expands ranges", () => {
    const r = parseRecipe(
      `package:\n  name: x\n  version: 1.10\n  epoch: 2\n  dependencies:\n    runtime:\ndata:\n  - name: flavours\n    items:\n      b: "two"\n      a: one\nsubpackages:\n  - range: flavours\n    name: x-\${{range.key}}\n    description: \${{range.value}} flavour\n`,
      "inline.yaml",
    );
    assert.equal(r.package.version, "1.10");
    assert.equal(r.package.epoch, 2);
    assert.deepEqual(r.package.dependencies.runtime, []);
    assert.deepEqual(
      r.subpackages.map((s) => [s.name, s.description]),
      [
        ["x-a", "one flavour"],
        ["x-b", "two flavour"],
      ],
    );
  });

  it("reports type errors and YAML syntax errors with position", () => {
    assert.throws(
      () => parseRecipe("package:\n  name: x\n  version: 1\n  epoch: many\n", "t.yaml"),
      (e: unknown) => e instanceof RecipeInvalidError && /package\.epoch \(line 4\): must be integer/.test(e.message),
    );
    assert.throws(
      () => parseRecipe("package:\n  name: [x\n", "broken.yaml"),
      (e: unknown) => e instanceof Error && /broken\.yaml:\d+:\d+/.test(e.message),
    );
  });

  it("CLI lint prints counts, and --json the documented shape", async () => {
    const dir = join(MELANGE, "pkg/build/testdata/configuration_load");
    const r = await runCli(["recipe", "lint", dir, "--json"]);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.stdout);
    assert.equal(j.invalid, 7);
    assert.equal(typeof j.valid, "number");
    assert.ok(
      j.results.every(
        (x: { file: string; valid: boolean; errors: string[] }) => typeof x.file === "string" && typeof x.valid === "boolean" && Array.isArray(x.errors),
      ),
    );
    const ok = await runCli(["recipe", "lint", join(MELANGE, "examples/minimal.yaml")]);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /^1 valid, 0 invalid$/m);
  });
});
