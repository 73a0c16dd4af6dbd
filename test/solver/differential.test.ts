import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { caseArgs, formatRecords, generateCase, writeCase } from "../../src/solver/differential.js";
import { runSolverTestFile } from "../../src/solver/index.js";
import { FIXTURES, findFiles, tempDir } from "../helpers.js";

/**
 * Cases the differential generator (`undistro dev solver-diff`) found where undistro and apk-tools
 * 2.14.10 disagreed, shrunk, with apk-test's own output as @EXPECT: one per class of defect fixed.
 */
const DIR = join(FIXTURES, "solver-diff");

describe("solver cases found by the differential generator", () => {
  const files = findFiles(DIR, (n) => n.endsWith(".test"));
  it("has cases", () => assert.ok(files.length >= 3));
  for (const file of files) {
    it(file.slice(DIR.length + 1), () => {
      const r = runSolverTestFile(file);
      assert.equal(r.actual.replace(/\s+$/, ""), r.expected.replace(/\s+$/, ""));
    });
  }
});

describe("the differential generator", () => {
  it("names a case by its seed: the same seed, the same repositories and command", () => {
    const a = generateCase(42);
    assert.deepEqual(generateCase(42), a);
    assert.notDeepEqual(generateCase(43), a);
  });

  it("writes records apk reads (C:, P:, V:, S:, I: in every one) and a command apk-test takes", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const c = generateCase(seed);
      for (const repo of c.repos) {
        for (const block of formatRecords(repo.records).split("\n\n").filter(Boolean)) {
          assert.match(block, /^C:Q1[A-Za-z0-9+/]{27}=\nP:[a-z]\nV:\S+\nS:\d+\nI:\d+(\n|$)/);
        }
      }
      const args = caseArgs(c);
      assert.ok(args.includes(c.applet));
      assert.equal(args.filter((w) => w === "--test-repo").length, c.repos.length);
    }
  });

  it("ends where apk-tools 2.14.10 restarts forever: --force-broken-world with errors no world entry causes", (t) => {
    // Seeds 464, 502 and 1463: apk-test never finishes them (it solves again as long as errors
    // remain, even once no world entry is left to drop); undistro stops when a pass drops none.
    for (const seed of [464, 502, 1463]) {
      const c = generateCase(seed, { virtual: true });
      assert.ok(c.flags.includes("--force-broken-world"), `seed ${seed} uses --force-broken-world`);
      const r = runSolverTestFile(writeCase(c, tempDir(t), ""));
      assert.match(r.actual, /^ERROR: unable to select packages:/, `seed ${seed}`);
    }
  });
});
