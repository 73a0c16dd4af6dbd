import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runSolverTestFile } from "../../src/solver/index.js";
import { findFiles, REFERENCE, runCli, tempDir } from "../helpers.js";

const DIR = join(REFERENCE, "apk-tools/solver");
describe("apk-tools 2.14.10 solver conformance", () => {
  const files = findFiles(DIR, (n) => n.endsWith(".test"));

  it("has all 62 cases", () => {
    assert.equal(files.length, 62);
  });

  for (const file of files) {
    const name = file.slice(DIR.length + 1);
    it(name, () => {
      const r = runSolverTestFile(file);
      assert.equal(r.actual, r.expected.replace(/\s+$/, "") + (r.expected.trim() === "" ? "" : "\n"));
      assert.ok(r.passed);
    });
  }

  it("a C: checksum that differs only in base64 padding bits names the package already read, as in apk", () => {
    // installif1.repo's libiif has bar's checksum but for the last character (E for F): both decode
    // to the same 20 bytes, so apk keeps bar and never sees libiif (installif2 relies on it).
    const r = runSolverTestFile(join(DIR, "installif2.test"));
    assert.equal(r.actual.includes("libiif"), false);
    assert.ok(r.passed);
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
    // brought in by install_if, so foo is named too (apk-tools 2.14.10's apk-test prints exactly this).
    vector(
      "installif.test",
      "installif1",
      "app foo",
      "del lib",
      "World updated, but the following packages are not removed due to:\n  lib: app foo\n\nOK: 0 MiB in 4 packages\n",
    );
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

  it("`undistro dev solver-test` prints the summary line and exits non-zero on a mismatch", async (t) => {
    const all = await runCli(["dev", "solver-test", ...files]);
    assert.equal(all.code, 0);
    assert.match(all.stdout, /^62 passed, 0 failed$/m);
    // A mismatch: the expected transaction of basic1 against a world it does not produce.
    const dir = tempDir(t);
    copyFileSync(join(DIR, "basic.repo"), join(dir, "basic.repo"));
    writeFileSync(join(dir, "wrong.test"), "@ARGS\n--test-repo basic.repo\nadd a\n@EXPECT\n(1/1) Installing a (2)\nOK: 0 MiB in 1 packages\n");
    const wrong = await runCli(["dev", "solver-test", join(dir, "wrong.test")]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /^0 passed, 1 failed$/m);
    assert.match(wrong.stdout, /FAIL .*wrong\.test/);
    assert.match(wrong.stdout, /! \(1\/1\) Installing a \(2\) +\| \(1\/2\) Installing b \(2\)/);
    const passing = await runCli(["dev", "solver-test", join(DIR, "basic1.test"), join(DIR, "error1.test")]);
    assert.equal(passing.code, 0);
    assert.match(passing.stdout, /^2 passed, 0 failed$/m);
  });
});
