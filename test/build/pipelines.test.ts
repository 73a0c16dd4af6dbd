import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { archInfo, evaluateCondition, PipelineRegistry, planSteps, recipeVars, substitute } from "../../src/build/index.js";
import { loadRecipe, parseRecipe } from "../../src/recipe/index.js";
import { UndistroError } from "../../src/util/index.js";
import { REFERENCE } from "../helpers.js";

describe("pipelines and substitutions", () => {
  it("loads Wolfi's pipelines directory beside the built-ins", () => {
    const r = PipelineRegistry.standard([join(REFERENCE, "wolfi-os/pipelines")]);
    for (const n of ["autoconf/configure", "split/dev", "strip", "patch", "sed", "git/gnulib-bootstrap", "go/assert-no-crypto"]) assert.ok(r.get(n), n);
    assert.ok(r.names().length >= 100);
  });

  it("expands uses with inputs, defaults and the host triplet", () => {
    const recipe = parseRecipe(
      `package:\n  name: demo\n  version: 1.2.3\n  epoch: 4\npipeline:\n  - uses: autoconf/configure\n    with:\n      opts: --enable-thing=\${{package.version}}\n  - if: \${{build.arch}} == 'aarch64'\n    runs: echo never on x86_64\n  - working-directory: sub\n    runs: echo in sub\n`,
      "demo.yaml",
    );
    const vars = recipeVars(recipe, archInfo("x86_64"));
    const steps = planSteps(recipe.pipeline, vars, PipelineRegistry.standard());
    assert.equal(steps.length, 2);
    const [configure, sub] = steps;
    assert.ok(configure?.kind === "run");
    assert.match(configure.script, /--host=x86_64-pc-linux-gnu/);
    assert.match(configure.script, /--enable-thing=1\.2\.3/);
    assert.equal(configure.name, "autoconf/configure");
    assert.ok(sub?.kind === "run");
    assert.equal(sub.workdir, "/home/build/sub");
  });

  it("applies var-transforms (Go regular expressions) as melange does", () => {
    const recipe = parseRecipe(
      `package:\n  name: x\n  version: 1.2.3\n  epoch: 0\nvars:\n  base: https://example.org\nvar-transforms:\n  - from: \${{package.version}}\n    match: ^(\\d+)\\.(\\d+)\\.(\\d+)$\n    replace: $1_$2_$3\n    to: underscored\n  - from: \${{package.version}}\n    match: ^(?P<major>\\d+)\\..*\n    replace: \${major}\n    to: major\n`,
      "vt.yaml",
    );
    const vars = recipeVars(recipe, archInfo("aarch64"));
    assert.equal(vars.get("vars.underscored"), "1_2_3");
    assert.equal(vars.get("vars.major"), "1");
    assert.equal(vars.get("vars.base"), "https://example.org");
    assert.equal(vars.get("host.triplet.gnu"), "aarch64-unknown-linux-gnu");
    assert.equal(substitute("v${{ package.full-version }}", vars, "t"), "v1.2.3-r0");
  });

  it("evaluates if: expressions", () => {
    assert.equal(evaluateCondition("'a' == 'a' && ('b' != 'c' || false)", "t"), true);
    assert.equal(evaluateCondition("x86_64 == 'aarch64'", "t"), false);
    assert.equal(evaluateCondition("!('true' == 'false')", "t"), true);
    assert.throws(
      () => evaluateCondition("'a' ==", "step"),
      (e: unknown) => e instanceof UndistroError && e.code === "BUILD_BAD_CONDITION",
    );
  });

  it("shows a step without a name by the first line of its script as it runs, substituted", () => {
    const r = parseRecipe(
      'package:\n  name: x\n  version: 1\n  epoch: 0\npipeline:\n  - runs: |\n      d="${{targets.destdir}}/usr"\n      mkdir -p "$d"\n',
      "n.yaml",
    );
    const [step] = planSteps(r.pipeline, recipeVars(r, archInfo("x86_64")), PipelineRegistry.standard());
    assert.equal(step?.name, 'd="/home/build/melange-out/x/usr"');
  });

  it("names the step for an unknown pipeline, a missing input or an unknown variable", () => {
    const reg = PipelineRegistry.standard();
    const mk = (body: string) => parseRecipe(`package:\n  name: x\n  version: 1\n  epoch: 0\npipeline:\n${body}`, "e.yaml");
    const plan = (body: string) => {
      const r = mk(body);
      return planSteps(r.pipeline, recipeVars(r, archInfo("x86_64")), reg);
    };
    assert.throws(
      () => plan("  - uses: no/such-pipeline\n"),
      (e: unknown) => e instanceof UndistroError && e.code === "BUILD_UNKNOWN_PIPELINE" && e.message.includes("pipeline[0]"),
    );
    assert.throws(
      () => plan("  - runs: echo ${{nope.var}}\n"),
      (e: unknown) => e instanceof UndistroError && e.code === "BUILD_UNKNOWN_VARIABLE" && e.message.includes("nope.var"),
    );
    const wolfi = PipelineRegistry.standard([join(REFERENCE, "wolfi-os/pipelines")]);
    const r = mk("  - uses: sed\n    with:\n      path: x\n");
    assert.throws(
      () => planSteps(r.pipeline, recipeVars(r, archInfo("x86_64")), wolfi),
      (e: unknown) => e instanceof UndistroError && e.code === "BUILD_MISSING_INPUT" && e.message.includes('"pattern"'),
    );
  });

  it("plans a real Wolfi recipe end to end without unknown pipelines or variables", () => {
    const wolfi = PipelineRegistry.standard([join(REFERENCE, "wolfi-os/pipelines")]);
    const recipe = loadRecipe(join(REFERENCE, "wolfi-os/libcap-ng.yaml"));
    const steps = planSteps(recipe.pipeline, recipeVars(recipe, archInfo("x86_64")), wolfi);
    assert.equal(steps[0]?.kind, "git-checkout");
    assert.ok(steps.some((s) => s.kind === "run" && s.script.includes("./configure")));
  });
});
