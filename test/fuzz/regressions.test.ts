import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { instrumentTree, SOURCE_TREE } from "../../fuzz/instrument.js";
import { fuzzTarget } from "../../fuzz/run.js";
import { type Lib, loadLibrary, TARGETS, type TargetContext } from "../../fuzz/targets.js";
import { FIXTURES } from "../helpers.js";

/**
 * Every input the fuzzer ever failed on is kept in test/fixtures/fuzz/TARGET/ and replayed here
 * against the real (uninstrumented) code: only UndistroError may escape, within a second.
 */
describe("fuzz regressions: every input that once failed", () => {
  let lib: Lib;
  before(async () => {
    lib = await loadLibrary(SOURCE_TREE);
  });

  const dir = join(FIXTURES, "fuzz");
  const targets = existsSync(dir) ? readdirSync(dir).sort() : [];
  it("every fixture directory names a target", () => {
    for (const t of targets)
      assert.ok(
        TARGETS.some((x) => x.name === t),
        t,
      );
  });
  for (const name of targets) {
    const target = TARGETS.find((t) => t.name === name);
    if (!target) continue;
    describe(name, () => {
      let ctx: TargetContext;
      before(async () => {
        ctx = { lib, scratch: mkdtempSync(join(tmpdir(), `undistro-fuzz-regression-${name}-`)), state: {} };
        await target.setup?.(ctx);
      });
      after(async () => {
        await target.teardown?.(ctx);
        rmSync(ctx.scratch, { recursive: true, force: true });
      });
      for (const file of readdirSync(join(dir, name)).sort()) {
        it(file, async () => {
          const data = readFileSync(join(dir, name, file));
          const t0 = performance.now();
          try {
            await target.run(data, ctx);
          } catch (err) {
            assert.ok(err instanceof lib.util.UndistroError, `only UndistroError may escape: ${(err as Error)?.stack ?? String(err)}`);
          }
          assert.ok(performance.now() - t0 < 1000, `took ${(performance.now() - t0).toFixed(0)} ms`);
        });
      }
    });
  }
});

describe("the fuzzer itself", () => {
  it("runs a target, grows a corpus from new coverage and reports executions and coverage", async () => {
    instrumentTree();
    const r = await fuzzTarget("version", 2, () => undefined);
    assert.equal(r.failures.length, 0, JSON.stringify(r.failures));
    assert.ok(r.execs > 50, `${r.execs} executions`);
    assert.ok(r.coveredCounters > 10 && r.coveredCounters <= r.totalCounters, `${r.coveredCounters}/${r.totalCounters}`);
    assert.ok(r.corpus >= 1);
  });
});
