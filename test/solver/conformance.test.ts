import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runSolverTestFile } from "../../src/solver/index.js";
import { findFiles, REFERENCE, runCli, tempDir } from "../helpers.js";

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

  it("del reports what stays and which world entries keep it, as apk del does", (t) => {
    // apk-tools' own vectors have no such case: these use its basic and install_if repositories.
    const dir = tempDir(t);
    for (const f of ["basic.repo", "basic.installed", "installif1.repo", "installif1.installed"]) copyFileSync(join(DIR, f), join(dir, f));
    /** What undistro prints for `args` over one of apk-tools' repositories and installed databases. */
    const output = (name: string, repo: string, world: string, args: string) => {
      writeFileSync(join(dir, name), `@ARGS\n--test-repo ${repo}.repo\n--test-instdb ${repo}.installed\n--test-world "${world}"\n${args}\n@EXPECT\n`);
      return runSolverTestFile(join(dir, name)).actual;
    };
    const vector = (name: string, repo: string, world: string, args: string, expect: string) => assert.equal(output(name, repo, world, args), expect, name);
    // b stays: a, still in world, depends on it.
    vector("kept.test", "basic", "a b", "del b", "World updated, but the following packages are not removed due to:\n  b: a\n\nOK: 0 MiB in 2 packages\n");
    // Nothing to report when the named package goes (and when it was never installed).
    vector("gone.test", "basic", "a b", "del a", "(1/1) Purging a (1)\nOK: 0 MiB in 1 packages\n");
    vector("absent.test", "basic", "a b c", "del c", "OK: 0 MiB in 2 packages\n");
    // lib stays for app (in world); the walk goes on up through appiif1, which app and foo (in world)
    // brought in by install_if, so foo is named too.
    // (The transaction after it installs libiif: the known installif2 difference, so only the report is compared.)
    assert.deepEqual(output("installif.test", "installif1", "app foo", "del lib").split("\n").slice(0, 3), [
      "World updated, but the following packages are not removed due to:",
      "  lib: app foo",
      "",
    ]);
  });

  it("upgrade --prune drops world entries no repository provides any more, as apk upgrade --prune does", (t) => {
    const dir = tempDir(t);
    copyFileSync(join(DIR, "basic.installed"), join(dir, "basic.installed"));
    // The repository has only c now: a and b (installed, in world) are provided by no repository.
    writeFileSync(join(dir, "other.repo"), "C:Q1hdUpqRv5mYgJEqW52UmVsvmyyzE=\nP:c\nV:1\nS:1\nI:1\n\n");
    const output = (args: string) => {
      writeFileSync(join(dir, "t.test"), `@ARGS\n--test-repo other.repo\n--test-instdb basic.installed\n--test-world "a b c"\n${args}\n@EXPECT\n`);
      return runSolverTestFile(join(dir, "t.test")).actual;
    };
    assert.equal(output("upgrade --prune"), "(1/3) Purging a (1)\n(2/3) Purging b (1)\n(3/3) Installing c (1)\nOK: 0 MiB in 1 packages\n");
    // Without --prune the installed packages stay: the world still names them.
    assert.equal(output("upgrade"), "(1/1) Installing c (1)\nOK: 0 MiB in 3 packages\n");
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
