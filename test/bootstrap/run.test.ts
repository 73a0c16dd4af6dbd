import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { generateApkKey, indexDirectory, loadSigningKey, readIndexFile } from "../../src/apk/index.js";
import { type BootstrapEvent, buildOrder, compareStages, loadStages, planBootstrap, recordedBuildTimes, runBootstrap } from "../../src/bootstrap/index.js";
import { runCli, tempDir } from "../helpers.js";

const recipe = (name: string, script: string) =>
  `package:\n  name: ${name}\n  version: '1'\n  epoch: 0\n  copyright:\n    - license: CC0-1.0\npipeline:\n  - runs: |\n      ${script}\n      mkdir -p "\${{targets.destdir}}/usr/share/${name}"\n      echo ${name} > "\${{targets.destdir}}/usr/share/${name}/name"\n`;

/** A directory with recipes under r/ and a stages file naming them; its stages and an OUT beside. */
function stagesFixture(t: { after: (fn: () => void) => void }, recipes: Record<string, string>, stagesYaml: string) {
  const dir = tempDir(t);
  mkdirSync(join(dir, "r"));
  for (const [name, text] of Object.entries(recipes)) writeFileSync(join(dir, `r/${name}.yaml`), text);
  writeFileSync(join(dir, "stages.yaml"), stagesYaml);
  return { dir, stages: loadStages(join(dir, "stages.yaml")), out: join(dir, "out") };
}

const report = (built: Array<[string, number]>) => JSON.stringify({ built: built.map(([recipe, ms]) => ({ recipe, ms, packages: [] })) });

describe("bootstrap run order", () => {
  it("one at a time keeps the file's order; several at once start the longest first, by earlier runs' times", (t) => {
    const out = tempDir(t);
    for (const [stage, body] of [
      [
        "stage1",
        report([
          ["gcc", 1_800_000],
          ["perl", 200_000],
          ["bash", 60_000],
        ]),
      ],
      // The longest time any stage recorded counts: perl took longer in stage 2.
      [
        "stage2",
        report([
          ["gcc", 1_700_000],
          ["perl", 270_000],
        ]),
      ],
      ["broken", "{ not json"],
    ] as const) {
      mkdirSync(join(out, stage), { recursive: true });
      writeFileSync(join(out, stage, "bootstrap-report.json"), body);
    }
    const names = ["hello", "bash", "gcc", "zlib", "perl"];
    const recorded = recordedBuildTimes(out);
    assert.deepEqual([...recorded].sort(), [
      ["bash", 60_000],
      ["gcc", 1_800_000],
      ["perl", 270_000],
    ]);
    assert.deepEqual(buildOrder(names, recorded, 1), [0, 1, 2, 3, 4]);
    assert.deepEqual(
      buildOrder(names, recorded, 2).map((i) => names[i]),
      ["gcc", "perl", "bash", "hello", "zlib"],
    );
    assert.deepEqual(buildOrder(names, recordedBuildTimes(join(out, "nothing-yet")), 2), [0, 1, 2, 3, 4], "no earlier run: the file's order");
  });

  it("--jobs 2 builds a stage's independent recipes side by side, reports them in the file's order, and a stage building from itself one by one", async (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, "r"));
    writeFileSync(join(dir, "r/slow.yaml"), recipe("slow", "sleep 1"));
    writeFileSync(join(dir, "r/quick.yaml"), recipe("quick", "true"));
    writeFileSync(
      join(dir, "stages.yaml"),
      [
        "stages:",
        "  - name: pair",
        "    recipes: [r/slow.yaml, r/quick.yaml]",
        "  - name: chain",
        "    environment-from: [self]",
        "    recipes: [r/slow.yaml, r/quick.yaml]",
        "  - name: seeded",
        "    environment-from: [self]",
        "    recipes: [r/slow.yaml]",
        "",
      ].join("\n"),
    );
    const stages = loadStages(join(dir, "stages.yaml"));
    const events: BootstrapEvent[] = [];
    const out = join(dir, "out");
    const key = loadSigningKey(generateApkKey(join(dir, "builder"), { bits: 2048 }).privateKeyPath);
    const result = await runBootstrap({
      out,
      stages: stages.slice(0, 1),
      jobs: 2,
      cacheDir: join(dir, "cache"),
      signingKey: key,
      onEvent: (e) => events.push(e),
    });
    const pair = result.stages[0];
    assert.deepEqual(
      pair?.built.map((b) => [b.recipe, b.packages.map((p) => p.file)]),
      [
        ["slow", ["slow-1-r0.apk"]],
        ["quick", ["quick-1-r0.apk"]],
      ],
    );
    const order = (list: BootstrapEvent[]) =>
      list.filter((e) => e.type === "recipe" || e.type === "recipe-done").map((e) => `${e.type} ${"recipe" in e ? e.recipe : ""}`);
    // `quick` started while `slow` was building (one at a time, it would start after `slow` is done).
    const seen = order(events);
    assert.ok(seen.indexOf("recipe quick") < seen.indexOf("recipe-done slow"), seen.join(", "));
    assert.deepEqual(
      (JSON.parse(readFileSync(join(out, "pair", "bootstrap-report.json"), "utf8")) as { built: { recipe: string }[] }).built.map((b) => b.recipe),
      ["slow", "quick"],
    );
    // The same recipes in a stage that builds from itself: one by one, whatever --jobs says.
    const chained: BootstrapEvent[] = [];
    await runBootstrap({ out, stages: stages.slice(1, 2), jobs: 2, cacheDir: join(dir, "cache"), signingKey: key, onEvent: (e) => chained.push(e) });
    assert.deepEqual(order(chained), ["recipe slow", "recipe-done slow", "recipe quick", "recipe-done quick"]);
    // Progress knows what each recipe took in the run before (the pair stage's report): slow slept a second.
    const slowStart = chained.find((e) => e.type === "recipe" && e.recipe === "slow");
    assert.ok(slowStart?.type === "recipe" && (slowStart.earlierMs ?? 0) >= 1000, JSON.stringify(slowStart));

    // A warm rerun builds nothing and keeps the cold run's times in the stage's report, where
    // `--list` shows them.
    const warm = await runBootstrap({ out, stages: stages.slice(0, 1), jobs: 2, cacheDir: join(dir, "cache"), signingKey: key });
    assert.deepEqual([warm.stages[0]?.built, warm.stages[0]?.fresh], [[], ["slow", "quick"]]);
    assert.deepEqual(Object.keys(warm.stages[0]?.buildTimes ?? {}), ["slow", "quick"]);
    assert.equal(warm.stages[0]?.buildTimes.slow, pair?.buildTimes.slow);
    const listed = await runCli(["bootstrap", "--stages-file", join(dir, "stages.yaml"), "--out", out, "--list", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const stagesListed = JSON.parse(listed.stdout) as Array<{ name: string; recipes: Array<{ file: string; lastMs?: number }> }>;
    const lastTimes = (name: string) => stagesListed.find((st) => st.name === name)?.recipes.map((r) => r.lastMs);
    assert.deepEqual(lastTimes("pair"), [pair?.buildTimes.slow, pair?.buildTimes.quick]);
    assert.ok((lastTimes("chain")?.[0] ?? 0) >= 1000, "the chain stage's own time for slow");

    // A new epoch of slow: its old package (and provenance) leaves the stage's repository, so no
    // later stage's root can take it; quick's stays.
    writeFileSync(join(dir, "r/slow.yaml"), recipe("slow", "sleep 1").replace("epoch: 0", "epoch: 1"));
    const bumpedEvents: BootstrapEvent[] = [];
    const bumped = await runBootstrap({
      out,
      stages: stages.slice(0, 1),
      jobs: 2,
      cacheDir: join(dir, "cache"),
      signingKey: key,
      onEvent: (e) => bumpedEvents.push(e),
    });
    // Progress says why slow is built again.
    assert.deepEqual(
      bumpedEvents.flatMap((e) => (e.type === "recipe" ? [[e.recipe, e.fresh, e.why]] : [])),
      [
        ["slow", false, "the recipe changed"],
        ["quick", true, undefined],
      ],
    );
    assert.deepEqual(
      bumped.stages[0]?.built.map((b) => b.packages.map((p) => p.file)),
      [["slow-1-r1.apk"]],
    );
    assert.deepEqual(bumped.stages[0]?.superseded, ["slow-1-r0.apk"]);
    assert.deepEqual(
      bumped.stages[0]?.built.map((b) => [b.recipe, b.why]),
      [["slow", "the recipe changed"]],
    );
    const arch = bumped.arch;
    assert.deepEqual(readdirSync(join(out, "pair", arch)).sort(), ["APKINDEX.tar.gz", "quick-1-r0.apk", "slow-1-r1.apk"]);
    assert.deepEqual(readdirSync(join(out, "pair", "provenance", arch)).sort(), ["quick-1-r0.apk.provenance.json", "slow-1-r1.apk.provenance.json"]);
    assert.deepEqual(
      readIndexFile(join(out, "pair", arch, "APKINDEX.tar.gz"))
        .entries.map((e) => `${e.name}-${e.version}`)
        .sort(),
      ["quick-1-r0", "slow-1-r1"],
    );
    // A stage seeded by hand (as the main-job test seeds one with busybox and musl): what it does
    // not build stays, its own builds' older versions go.
    const seededDir = join(out, "seeded", arch);
    mkdirSync(seededDir, { recursive: true });
    for (const f of ["quick-1-r0.apk", "slow-1-r1.apk"]) copyFileSync(join(out, "pair", arch, f), join(seededDir, f));
    indexDirectory(seededDir, { signingKey: key, sourceDateEpoch: 0 });
    writeFileSync(join(dir, "r/slow.yaml"), recipe("slow", "sleep 1").replace("epoch: 0", "epoch: 2"));
    const seeded = await runBootstrap({ out, stages: stages.slice(2), cacheDir: join(dir, "cache"), signingKey: key });
    assert.deepEqual(seeded.stages[0]?.superseded, ["slow-1-r1.apk"], "a seeded package of a name the stage builds is an older version");
    assert.deepEqual(readdirSync(seededDir).sort(), ["APKINDEX.tar.gz", "quick-1-r0.apk", "slow-1-r2.apk"]);
    const reseeded = await runBootstrap({ out, stages: stages.slice(2), cacheDir: join(dir, "cache"), signingKey: key });
    assert.deepEqual(reseeded.stages[0]?.fresh, ["slow"]);
  });

  it("a stage compared with another: a differing package gets a diffoscope report, and a later comparison drops the reports of the one before", async (t) => {
    const { dir, stages, out } = stagesFixture(
      t,
      { probe: recipe("probe", "true") },
      "stages:\n  - name: a\n    recipes: [r/probe.yaml]\n  - name: b\n    compare-with: a\n    recipes: [r/probe.yaml]\n",
    );
    const key = loadSigningKey(generateApkKey(join(dir, "builder"), { bits: 2048 }).privateKeyPath);
    const { arch } = await runBootstrap({ out, stages: stages.slice(0, 1), cacheDir: join(dir, "cache"), signingKey: key });
    // Stage b: a's repository, with its package's last byte changed after indexing.
    mkdirSync(join(out, "b", arch), { recursive: true });
    for (const f of readdirSync(join(out, "a", arch))) copyFileSync(join(out, "a", arch, f), join(out, "b", arch, f));
    const apk = join(out, "b", arch, "probe-1-r0.apk");
    const bytes = readFileSync(apk);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(apk, bytes);
    const logDir = join(dir, "logs");
    mkdirSync(logDir);
    writeFileSync(join(logDir, "probe-0-r0.apk.diffoscope.txt"), "a report from an earlier run\n");
    writeFileSync(join(logDir, "probe-1-r0.x86_64.log"), "a build log\n");
    const stageB = stages[1] as (typeof stages)[number];
    const differing = compareStages(stageB, join(out, "b"), join(out, "a"), arch, logDir);
    assert.deepEqual(differing.identical, []);
    assert.deepEqual(
      differing.different.map((d) => d.file),
      ["probe-1-r0.apk"],
    );
    // diffoscope (scripts/setup.sh installs it) writes the report; the earlier one is gone, the build log stays.
    assert.equal(differing.different[0]?.report, join(logDir, "probe-1-r0.apk.diffoscope.txt"));
    assert.deepEqual(readdirSync(logDir).sort(), ["probe-1-r0.apk.diffoscope.txt", "probe-1-r0.x86_64.log"]);
    // Fixed: the same bytes again. The comparison is clean, and so is the log directory.
    copyFileSync(join(out, "a", arch, "probe-1-r0.apk"), apk);
    const same = compareStages(stageB, join(out, "b"), join(out, "a"), arch, logDir);
    assert.deepEqual([same.identical.map((p) => p.file), same.different], [["probe-1-r0.apk"], []]);
    assert.deepEqual(readdirSync(logDir), ["probe-1-r0.x86_64.log"]);
  });

  it("a stage whose package needs what no repository it offers has fails with BOOTSTRAP_NOT_INSTALLABLE, naming both; made, it passes", async (t) => {
    const needsHelper = recipe("probe", "true").replace("  epoch: 0\n", "  epoch: 0\n  dependencies:\n    runtime:\n      - helper\n");
    const { dir, out } = stagesFixture(
      t,
      { probe: needsHelper, helper: recipe("helper", "true") },
      "stages:\n  - name: a\n    recipes: [r/probe.yaml]\n  - name: b\n    environment-from: [a]\n    recipes: [r/helper.yaml]\n  - name: c\n    recipes: [r/probe.yaml, r/helper.yaml]\n",
    );
    const keyPath = generateApkKey(join(dir, "builder"), { bits: 2048 }).privateKeyPath;
    const bootstrap = (stages: string) =>
      runCli(["bootstrap", "--stages-file", join(dir, "stages.yaml"), "--stages", stages, "--out", out, "--signing-key", keyPath, "--json"]);
    const failed = await bootstrap("a");
    assert.equal(failed.code, 1, failed.stderr);
    const report = JSON.parse(failed.stdout) as {
      stages: { name: string; uninstallable: { package: string; problems: string[] }[] }[];
      error: { code: string; message: string; hint: string };
    };
    assert.deepEqual(
      report.stages[0]?.uninstallable.map((u) => u.package),
      ["probe-1-r0"],
    );
    assert.match(report.stages[0]?.uninstallable[0]?.problems.join("\n") ?? "", /helper \(no such package\)/);
    assert.equal(report.error.code, "BOOTSTRAP_NOT_INSTALLABLE");
    assert.match(report.error.message, /^a: probe-1-r0 \(helper \(no such package\)/);
    assert.match(failed.stderr, /\[a\] NOT INSTALLABLE from its repositories: probe-1-r0/);
    // Without --json: the package and its problem on stdout, the error with its hint on stderr.
    const text = await runCli(["bootstrap", "--stages-file", join(dir, "stages.yaml"), "--stages", "a", "--out", out, "--signing-key", keyPath]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^ {2}NOT INSTALLABLE {2}probe-1-r0: helper \(no such package\)/m);
    assert.match(text.stderr, /error\[BOOTSTRAP_NOT_INSTALLABLE\]: a: probe-1-r0/);
    assert.match(text.stderr, /hint: add the recipe that makes what is missing/);
    // A later stage of the same architecture that makes helper does not mend a's repository (a is
    // not offered with b's), and b's own package installs: b passes, the run still names a.
    const both = await bootstrap("a,b");
    assert.equal(both.code, 1);
    const bothReport = JSON.parse(both.stdout) as typeof report;
    assert.deepEqual(
      bothReport.stages.map((st) => [st.name, st.uninstallable.length]),
      [
        ["a", 1],
        ["b", 0],
      ],
    );
    // A stage that makes both installs on its own.
    const whole = await bootstrap("c");
    assert.equal(whole.code, 0, whole.stdout);
    assert.match(whole.stderr, /\[c\] all 2 packages install from the stage's repositories/);
  });

  it("--dry-run's plan: kept recipes, what builds and why, and a later recipe whose root holds a package its stage rebuilds first", async (t) => {
    const { dir, stages, out } = stagesFixture(
      t,
      {
        base: recipe("base", "true"),
        top: recipe("top", "true").replace("pipeline:", "environment:\n  contents:\n    packages: [base]\npipeline:"),
        loner: recipe("loner", "true"),
      },
      "stages:\n  - name: chain\n    environment-from: [self]\n    recipes: [r/base.yaml, r/top.yaml, r/loner.yaml]\n  - name: next\n    environment-from: [chain]\n    recipes: [r/loner.yaml]\n",
    );
    const common = { out, stages, cacheDir: join(dir, "cache") };
    const before = planBootstrap(common);
    assert.deepEqual(
      before.map((p) => [p.stage, p.build.map((b) => `${b.recipe}: ${b.why}`), p.kept, p.after]),
      [
        ["chain", ["base: no earlier build here", "top: no earlier build here", "loner: no earlier build here"], [], []],
        ["next", ["loner: no earlier build here"], [], ["chain"]],
      ],
    );
    const key = loadSigningKey(generateApkKey(join(dir, "builder"), { bits: 2048 }).privateKeyPath);
    await runBootstrap({ ...common, signingKey: key });
    const warm = planBootstrap(common);
    assert.deepEqual(
      warm.map((p) => [p.build, p.kept, p.after]),
      [
        [[], ["base", "top", "loner"], []],
        [[], ["loner"], []],
      ],
    );
    // base changes: it builds, and so does top, whose root holds this stage's base.
    writeFileSync(join(dir, "r/base.yaml"), recipe("base", "echo changed"));
    const changed = planBootstrap(common);
    assert.deepEqual(
      changed[0]?.build.map((b) => `${b.recipe}: ${b.why}`),
      ["base: the recipe changed", "top: its root holds this stage's base, which base builds first"],
    );
    assert.deepEqual([changed[0]?.kept, changed[1]?.after], [["loner"], ["chain"]]);
    // The plan is what the run does.
    const ran = await runBootstrap({ ...common, signingKey: key });
    assert.deepEqual(
      ran.stages.map((s) => s.built.map((b) => b.recipe)),
      [["base", "top"], []],
    );
  });
});
