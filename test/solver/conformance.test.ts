import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runSolverTestFile } from "../../src/solver/index.js";
import { findFiles, REFERENCE, runCli } from "../helpers.js";

const DIR = join(REFERENCE, "apk-tools/solver");
/**
 * Cases where undistro deliberately or knowingly differs from apk-tools 2.14.10, with the reason.
 * installif2: apk leaves out libiif (install_if "lib foo") although both triggers are installed;
 * undistro installs it, as apk's own documentation of install_if says it should.
 */
const KNOWN_DIFFERENT = new Set(["installif2.test"]);

describe("apk-tools 2.14.10 solver conformance", () => {
  const files = findFiles(DIR, (n) => n.endsWith(".test"));

  it("has all 62 cases", () => {
    assert.equal(files.length, 62);
  });

  for (const file of files) {
    const name = file.slice(DIR.length + 1);
    it(name, () => {
      const r = runSolverTestFile(file);
      if (KNOWN_DIFFERENT.has(name)) {
        assert.equal(r.passed, false, `${name} now passes: remove it from KNOWN_DIFFERENT`);
        return;
      }
      assert.equal(r.actual, r.expected.replace(/\s+$/, "") + (r.expected.trim() === "" ? "" : "\n"));
      assert.ok(r.passed);
    });
  }

  it("the installif2 difference is exactly the install_if package libiif", () => {
    const r = runSolverTestFile(join(DIR, "installif2.test"));
    const extra = r.actual.split("\n").filter((l) => l.includes("libiif"));
    assert.deepEqual(extra, ["(6/7) Installing libiif (1)"]);
  });

  it("`undistro dev solver-test` prints the summary line and exits non-zero on a mismatch", async () => {
    const all = await runCli(["dev", "solver-test", ...files]);
    assert.equal(all.code, 1);
    assert.match(all.stdout, /^61 passed, 1 failed$/m);
    assert.match(all.stdout, /FAIL .*installif2\.test/);
    assert.match(all.stdout, /! \(6\/6\) Installing appiif1 \(1\) +\| \(6\/7\) Installing libiif \(1\)/);
    const passing = await runCli(["dev", "solver-test", join(DIR, "basic1.test"), join(DIR, "error1.test")]);
    assert.equal(passing.code, 0);
    assert.match(passing.stdout, /^2 passed, 0 failed$/m);
  });
});
