import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { compareVersions, compareVersionsFuzzy, isValidVersion } from "../../src/apk/index.js";
import { REFERENCE } from "../helpers.js";

const SYMBOL = { "-1": "<", "0": "=", "1": ">" } as const;

describe("apk version ordering", () => {
  it("holds every line of apk-tools 2.14.10 version.data", () => {
    const text = readFileSync(join(REFERENCE, "apk-tools/version.data"), "utf8");
    const failures: string[] = [];
    let checked = 0;
    for (const [i, raw] of text.split("\n").entries()) {
      const line = raw.replace(/#.*$/, "").trim();
      if (line === "") continue;
      const m = /^(\S+)\s+([<>=])\s+(\S+)$/.exec(line);
      assert.ok(m, `line ${i + 1} has the form "a OP b": ${raw}`);
      const [, a, op, b] = m as unknown as [string, string, string, string];
      const got = SYMBOL[String(compareVersions(a, b)) as "-1" | "0" | "1"];
      const back = SYMBOL[String(compareVersions(b, a)) as "-1" | "0" | "1"];
      const mirrored = op === "<" ? ">" : op === ">" ? "<" : "=";
      if (got !== op || back !== mirrored) failures.push(`line ${i + 1}: ${a} ${op} ${b}, got ${got} (reverse ${back})`);
      checked++;
    }
    assert.deepEqual(failures, []);
    assert.ok(checked >= 733, `checked ${checked} lines`);
  });

  it("validates versions as apk does", () => {
    for (const v of ["1", "1.0", "1.2.3-r0", "2.12.1-r1", "1.0_alpha1", "1.0a", "1.0_rc1_p2-r3", "0.1~abc123-r0", "20230101"]) {
      assert.equal(isValidVersion(v), true, v);
    }
    for (const v of ["", "a1", "1.0-1", "1.0bc", "1.0_foo", "1..2", "1.0-r", "1.0~", "1.0~xyz", "1.0-r1-r2"]) {
      assert.equal(isValidVersion(v), false, v);
    }
  });

  it("orders the suffixes and the commit hash as the spec lists them", () => {
    const ascending = ["1.0_alpha", "1.0_beta", "1.0_pre", "1.0_rc", "1.0", "1.0_cvs", "1.0_svn", "1.0_git", "1.0_hg", "1.0_p"];
    for (let i = 1; i < ascending.length; i++)
      assert.equal(compareVersions(ascending[i - 1] as string, ascending[i] as string), -1, `${ascending[i - 1]} < ${ascending[i]}`);
    assert.equal(compareVersions("1.0-r1", "1.0-r10"), -1);
    assert.equal(compareVersions("99999999999999999999.1", "99999999999999999998.2"), 1, "numbers beyond 2^53 compare by value");
  });

  it("fuzzy-matches a version prefix for ~", () => {
    assert.equal(compareVersionsFuzzy("1.2.3-r4", "1.2"), 0);
    assert.equal(compareVersionsFuzzy("1.3.0", "1.2"), 1);
    // apk-tools 2.14.10 stops at the first side that ends: `apk add c~1.2.3` installs c-1.2.
    assert.equal(compareVersionsFuzzy("1.2", "1.2.3"), 0);
    assert.equal(compareVersionsFuzzy("1", "1.0"), 0);
    assert.equal(compareVersionsFuzzy("1.3", "1.2.3"), 1);
    assert.equal(compareVersionsFuzzy("1.2_rc1", "1.2.3"), 0);
  });
});
