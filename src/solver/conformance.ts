/**
 * Runs apk-tools' own solver test cases (`*.test` with `@ARGS` and `@EXPECT`, repositories as
 * APKINDEX text, installed databases) against undistro's solver.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseIndex } from "../apk/index.js";
import { fsError, UndistroError } from "../util/index.js";
import { type AppletOptions, applyAdd, applyDel, applyFix, applyUpgrade } from "./applets.js";
import { PackageDb } from "./model.js";

export interface SolverTestCase {
  file: string;
  args: string[];
  expect: string;
}

export interface SolverTestResult {
  file: string;
  passed: boolean;
  expected: string;
  actual: string;
}

/** The clock apk's test suite runs under (virtual package versions are timestamps). */
export const TEST_CLOCK = new Date(Date.UTC(2019, 5, 3, 13, 14, 26));

/** Splits a line into words, honouring double and single quotes as a shell would. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

export function parseSolverTest(file: string): SolverTestCase {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw fsError(err, "read solver test", file);
  }
  const argsAt = text.indexOf("@ARGS");
  const expectAt = text.indexOf("@EXPECT");
  if (argsAt < 0 || expectAt < 0 || expectAt < argsAt) {
    throw new UndistroError("SOLVER_TEST_INVALID", `${file}: expected an @ARGS section followed by @EXPECT`);
  }
  const args = text
    .slice(argsAt + "@ARGS".length, expectAt)
    .split("\n")
    .flatMap((l) => shellWords(l));
  const expect = text.slice(expectAt + "@EXPECT".length).replace(/^\n/, "");
  return { file, args, expect };
}

const VALUE_OPTIONS = new Set(["--test-repo", "--test-instdb", "--test-world", "-t", "--virtual", "--repository", "-X"]);

/** Builds the database the test describes and runs its command; returns apk's output text. */
export function runSolverTest(tc: SolverTestCase): string {
  const dir = dirname(tc.file);
  const repos: string[] = [];
  const instdbs: string[] = [];
  let world = "";
  let noNetwork = false;
  const o: AppletOptions = { now: TEST_CLOCK };
  let applet: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < tc.args.length; i++) {
    const a = tc.args[i] as string;
    const value = () => {
      const v = tc.args[++i];
      if (v === undefined) throw new UndistroError("SOLVER_TEST_INVALID", `${tc.file}: ${a} needs a value`);
      return v;
    };
    if (VALUE_OPTIONS.has(a)) {
      const v = value();
      if (a === "--test-repo" || a === "--repository" || a === "-X") repos.push(v);
      else if (a === "--test-instdb") instdbs.push(v);
      else if (a === "--test-world") world = v;
      else o.virtual = v;
      continue;
    }
    switch (a) {
      case "--no-network":
        noNetwork = true;
        continue;
      case "--force":
      case "--force-broken-world":
        o.force = true;
        continue;
      case "--latest":
      case "-l":
        o.latest = true;
        continue;
      case "--upgrade":
      case "-u":
        o.upgrade = true;
        continue;
      case "--available":
      case "-a":
        o.available = true;
        continue;
      case "--depends":
      case "-d":
        o.depends = true;
        continue;
      case "--ignore":
        o.ignore = true;
        continue;
      case "--self-upgrade-only":
        o.selfUpgradeOnly = true;
        continue;
      case "--no-self-upgrade":
        o.noSelfUpgrade = true;
        continue;
      case "--prune":
        o.prune = true;
        continue;
      case "--rdepends":
        o.rdepends = true;
        continue;
      case "--reinstall":
        o.reinstall = true;
        continue;
      case "-r":
        if (applet === "del") o.rdepends = true;
        else o.reinstall = true;
        continue;
    }
    if (applet === undefined && ["add", "del", "fix", "upgrade"].includes(a)) applet = a;
    else rest.push(a);
  }
  const db = new PackageDb();
  for (const f of instdbs) {
    const path = join(dir, f);
    const entries = parseIndex(readText(path), path);
    for (const e of entries) {
      const tagField = e.extra.find(([k]) => k === "s")?.[1];
      const tag = tagField ? db.tagId(tagField) : 0;
      db.addPackage(e, 0, path, tag);
    }
  }
  for (const spec of repos) {
    let s = spec;
    let local = false;
    if (s.startsWith("!")) {
      local = true;
      s = s.slice(1);
    }
    let tag: string | undefined;
    const colon = s.indexOf(":");
    if (colon > 0) {
      tag = s.slice(0, colon);
      s = s.slice(colon + 1);
    }
    const path = join(dir, s);
    if (local) {
      // `!file`: a cache's index, as apk-test reads it: its packages belong to no repository.
      for (const e of parseIndex(readText(path), path)) db.addPackage(e, 0, path, undefined, true);
      continue;
    }
    const repoOpts: { tag?: string; local: boolean; available: boolean } = { local, available: !noNetwork };
    if (tag !== undefined) repoOpts.tag = tag;
    const repo = db.addRepository(path, repoOpts);
    for (const e of parseIndex(readText(path), path)) db.addPackage(e, 1 << repo.index, path);
  }
  db.world = shellWords(world).map((w) => db.parseDep(w, "--test-world"));
  const run = { add: applyAdd, del: applyDel, fix: applyFix, upgrade: applyUpgrade }[(applet ?? "") as "add"];
  if (run === undefined) throw new UndistroError("SOLVER_TEST_INVALID", `${tc.file}: no add/del/fix/upgrade command in @ARGS`);
  const report = run(db, rest, o);
  return report.output.map((l) => `${l}\n`).join("");
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw fsError(err, "read", path);
  }
}

export function runSolverTestFile(file: string): SolverTestResult {
  const tc = parseSolverTest(file);
  let actual: string;
  try {
    actual = runSolverTest(tc);
  } catch (err) {
    actual = `undistro failed: ${(err as Error).message}\n`;
  }
  const norm = (s: string) => s.replace(/\s+$/, "");
  return { file, passed: norm(actual) === norm(tc.expect), expected: tc.expect, actual };
}
