/**
 * A differential generator for the solver: random repositories (every index field apk's solver
 * reads: versions, depends with every operator and conflicts, versioned and virtual provides,
 * install_if, provider_priority, sizes), an installed database, a world with tags and constraints,
 * and an applet with its flags, run through apk-tools' `apk-test` and through undistro's solver
 * (the conformance runner), output against output. A difference is shrunk (records, world entries,
 * atoms and flags dropped while it persists) and kept as an apk-style `.test` case whose @EXPECT
 * is what apk printed: a regression test for the class of behaviour it shows.
 *
 * apk-test is apk-tools built with `make TEST=y`; undistro does not ship or build it.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seededRandom } from "../util/index.js";
import { runSolverTestFile, shellWords, TEST_CLOCK } from "./conformance.js";

/** TEST_CLOCK as faketime takes it (UTC). */
const FAKETIME_CLOCK = `${TEST_CLOCK.toISOString()
  .replace("T", " ")
  .replace(/\.\d+Z$/, "")}`;

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
const chance = (rng: Rng, p: number) => rng() < p;
const count = (rng: Rng, max: number) => Math.floor(rng() * (max + 1));

/** One index record, as the fields apk reads (order kept as apk writes them). */
export interface CaseRecord {
  C: string;
  P: string;
  V: string;
  S: string;
  I: string;
  D: string[];
  p: string[];
  i: string[];
  k?: string;
}

export interface DiffCase {
  /** Repositories in --test-repo order: file name, records, tag (`tag:file`) or `!` (cached). */
  repos: { file: string; tag?: string; cached?: boolean; records: CaseRecord[] }[];
  installed: CaseRecord[];
  world: string[];
  applet: "add" | "del" | "fix" | "upgrade";
  flags: string[];
  /** `add --virtual NAME`. */
  virtual?: string;
  args: string[];
}

const NAMES = ["a", "b", "c", "d", "e", "f", "g", "h"];
const VIRTUALS = ["so:libv.so.1", "cmd:tool", "virt", "pc:zz"];
const VERSIONS = ["1", "1.0", "1.2", "2", "2.0-r1", "1.0_rc1", "3", "10"];
const OPS = ["", "=", "<", ">", "<=", ">=", "~"];
const APPLET_FLAGS: Record<DiffCase["applet"], string[]> = {
  add: ["--upgrade", "--latest"],
  del: ["--rdepends"],
  fix: ["--depends", "--reinstall", "--upgrade"],
  upgrade: ["--available", "--latest", "--ignore", "--self-upgrade-only", "--no-self-upgrade", "--prune"],
};
const GLOBAL_FLAGS = ["--force-broken-world", "--no-network"];

/** A dependency atom: `[!]name[@tag][op version]`, the tag only where one is given. */
function atom(rng: Rng, names: readonly string[], tag?: string): string {
  const name = chance(rng, 0.15) ? pick(rng, VIRTUALS) : pick(rng, names);
  const op = chance(rng, 0.6) ? "" : pick(rng, OPS);
  return `${chance(rng, 0.1) ? "!" : ""}${name}${tag ? `@${tag}` : ""}${op ? `${op}${pick(rng, VERSIONS)}` : ""}`;
}

/** A random `Q1` checksum; `taken` keeps them distinct (as bytes: the last character's padding bits are zero). */
function checksum(rng: Rng, taken: Set<string>): string {
  for (;;) {
    const bytes = Buffer.alloc(20);
    for (let i = 0; i < 20; i++) bytes[i] = Math.floor(rng() * 256);
    const c = `Q1${bytes.toString("base64")}`;
    if (!taken.has(c)) {
      taken.add(c);
      return c;
    }
  }
}

function record(rng: Rng, name: string, version: string, names: readonly string[], taken: Set<string>): CaseRecord {
  const others = names.filter((n) => n !== name);
  const r: CaseRecord = {
    C: checksum(rng, taken),
    P: name,
    V: version,
    S: String(1 + count(rng, 3)),
    // Mostly tiny; now and then megabytes, so apk's "N MiB" figures are exercised.
    I: String(chance(rng, 0.15) ? (1 + count(rng, 4)) * 1048576 : 1 + count(rng, 3)),
    D: Array.from({ length: count(rng, 2) }, () => atom(rng, others)),
    p: chance(rng, 0.3)
      ? [...new Set(Array.from({ length: 1 + (chance(rng, 0.2) ? 1 : 0) }, () => `${pick(rng, VIRTUALS)}${chance(rng, 0.6) ? `=${pick(rng, VERSIONS)}` : ""}`))]
      : [],
    // install_if: names, now and then versioned or a conflict (`!name`: installed only without it).
    i: chance(rng, 0.15)
      ? Array.from({ length: 1 + count(rng, 1) }, () =>
          chance(rng, 0.15) ? `!${pick(rng, others)}` : chance(rng, 0.15) ? `${pick(rng, others)}>=${pick(rng, VERSIONS)}` : pick(rng, others),
        )
      : [],
  };
  if (chance(rng, 0.15)) r.k = String(count(rng, 20));
  return r;
}

/**
 * The case `seed` names: the same seed gives the same case on every machine and Node version.
 * `virtual`: whether `add --virtual` may be drawn (apk-test then has to run at the test clock, as
 * the virtual package's version is the time of day); without it such a draw is dropped.
 */
export function generateCase(seed: number, opts: { virtual?: boolean } = {}): DiffCase {
  // A seed names a case for good, on any machine.
  const rng = seededRandom(seed);
  const names = NAMES.slice(0, 3 + count(rng, 5));
  const taken = new Set<string>();
  const repoCount = 1 + (chance(rng, 0.35) ? 1 : 0);
  const repos: DiffCase["repos"] = [];
  for (let r = 0; r < repoCount; r++) {
    const records: CaseRecord[] = [];
    for (const name of names) {
      if (!chance(rng, 0.8)) continue;
      const versions = new Set(Array.from({ length: 1 + count(rng, 1) }, () => pick(rng, VERSIONS)));
      for (const v of versions) records.push(record(rng, name, v, names, taken));
    }
    const repo: DiffCase["repos"][number] = { file: `r${r}.repo`, records };
    if (r > 0 && chance(rng, 0.6)) repo.tag = "testing";
    else if (chance(rng, 0.08)) repo.cached = true;
    repos.push(repo);
  }
  const all = repos.flatMap((r) => r.records);
  // Now and then a dependency on one exact package by its checksum (`name><Q1…`).
  if (all.length > 1 && chance(rng, 0.1)) {
    const [from, to] = [pick(rng, all), pick(rng, all)];
    if (from !== to) from.D.push(`${to.P}><${to.C}`);
  }
  // Installed: some repository packages as they are, and now and then one no repository has.
  const installed: CaseRecord[] = [];
  const installedNames = new Set<string>();
  for (const rec of all) {
    if (installedNames.has(rec.P) || !chance(rng, 0.3)) continue;
    installedNames.add(rec.P);
    installed.push(rec);
  }
  if (chance(rng, 0.2)) {
    const name = pick(rng, names);
    if (!installedNames.has(name)) installed.push(record(rng, name, "0.9", names, taken));
  }
  const tagged = repos.some((r) => r.tag);
  const world = [
    ...new Set([
      ...installed.filter(() => chance(rng, 0.8)).map((r) => r.P),
      ...Array.from({ length: count(rng, 1) }, () => atom(rng, names, tagged && chance(rng, 0.25) ? "testing" : undefined)),
    ]),
  ];
  const applet = pick(rng, ["add", "add", "add", "del", "fix", "upgrade", "upgrade"] as const);
  const flags = [...APPLET_FLAGS[applet], ...GLOBAL_FLAGS].filter(() => chance(rng, 0.12));
  const args: string[] = [];
  const virtualDraw = chance(rng, 0.12);

  if (applet === "add") {
    for (let n = 1 + count(rng, 2); n > 0; n--) args.push(atom(rng, names, tagged && chance(rng, 0.25) ? "testing" : undefined));
  } else if (applet === "del") {
    for (let n = 1 + count(rng, 1); n > 0; n--) args.push(pick(rng, names));
  } else if (applet === "fix" && chance(rng, 0.5) && installed.length > 0) {
    args.push(pick(rng, installed).P);
  }
  const c: DiffCase = { repos, installed, world, applet, flags, args: [...new Set(args)] };
  if (applet === "add" && virtualDraw && opts.virtual) c.virtual = ".virt";
  return c;
}

export function formatRecords(records: readonly CaseRecord[]): string {
  return records
    .map((r) => {
      const lines = [`C:${r.C}`, `P:${r.P}`, `V:${r.V}`, `S:${r.S}`, `I:${r.I}`];
      if (r.D.length) lines.push(`D:${r.D.join(" ")}`);
      if (r.p.length) lines.push(`p:${r.p.join(" ")}`);
      if (r.i.length) lines.push(`i:${r.i.join(" ")}`);
      if (r.k !== undefined) lines.push(`k:${r.k}`);
      return `${lines.join("\n")}\n`;
    })
    .join("\n");
}

/** The `@ARGS` words of a case (apk-test's command line). */
export function caseArgs(c: DiffCase): string[] {
  const words: string[] = [];
  for (const r of c.repos) words.push("--test-repo", `${r.cached ? "!" : ""}${r.tag ? `${r.tag}:` : ""}${r.file}`);
  if (c.installed.length) words.push("--test-instdb", "installed.db");
  if (c.world.length) words.push("--test-world", c.world.join(" "));
  words.push(...c.flags, ...(c.virtual ? ["--virtual", c.virtual] : []), c.applet, ...c.args);
  return words;
}

/** Writes the case's files into `dir`, with `expect` as @EXPECT; returns the .test file. */
export function writeCase(c: DiffCase, dir: string, expect: string, name = "case.test"): string {
  mkdirSync(dir, { recursive: true });
  for (const r of c.repos) writeFileSync(join(dir, r.file), formatRecords(r.records));
  if (c.installed.length) writeFileSync(join(dir, "installed.db"), formatRecords(c.installed));
  const quote = (w: string) => (/[\s"']/.test(w) || w === "" ? `"${w}"` : w);
  const file = join(dir, name);
  writeFileSync(file, `@ARGS\n${caseArgs(c).map(quote).join(" ")}\n@EXPECT\n${expect}`);
  return file;
}

/**
 * What apk-test prints for the case, stdout and stderr in one file as apk's own test runner takes
 * them; undefined when apk-test does not finish in 10 s (apk-tools itself can loop on some inputs).
 */
export function runApkTest(apkTest: string, c: DiffCase, dir: string): string | undefined {
  writeCase(c, dir, "");
  const out = join(dir, "apk.out");
  const fd = openSync(out, "w");
  try {
    const args = shellWords(
      caseArgs(c)
        .map((w) => (/\s/.test(w) ? `"${w}"` : w))
        .join(" "),
    );
    // A virtual package's version is apk-test's clock: run it at the clock the solver tests use.
    const [cmd, cmdArgs] = c.virtual ? ["faketime", [FAKETIME_CLOCK, apkTest, ...args]] : [apkTest, args];
    const r = spawnSync(cmd, cmdArgs, { cwd: dir, stdio: ["ignore", fd, fd], timeout: 10_000, env: { ...process.env, TZ: "UTC" } });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT") return undefined;
    if (r.error) throw r.error;
  } finally {
    closeSync(fd);
  }
  return readFileSync(out, "utf8");
}

export interface Difference {
  seed: number;
  case: DiffCase;
  apk: string;
  undistro: string;
}

/** Runs one case both ways in `dir`: a Difference when the outputs differ, "apk-hangs" when apk-test does not finish. */
export function compareCase(apkTest: string, seed: number, c: DiffCase, dir: string): Difference | "apk-hangs" | undefined {
  const apk = runApkTest(apkTest, c, dir);
  if (apk === undefined) return "apk-hangs";
  const r = runSolverTestFile(writeCase(c, dir, apk));
  return r.passed ? undefined : { seed, case: c, apk, undistro: r.actual };
}

/**
 * Shrinks a differing case: drops repository and installed records, world entries, atoms of
 * depends/provides/install_if, flags and arguments one at a time, keeping each drop after which
 * the outputs still differ. Greedy, repeated until nothing more can go.
 */
export function shrink(apkTest: string, d: Difference, dir: string): Difference {
  let best = d;
  const tryCase = (c: DiffCase) => {
    const r = compareCase(apkTest, d.seed, c, dir);
    if (r === undefined || r === "apk-hangs") return false;
    best = r;
    return true;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const candidate of smaller(best.case)) {
      if (tryCase(candidate)) {
        changed = true;
        break;
      }
    }
  }
  return best;
}

function* smaller(c: DiffCase): Generator<DiffCase> {
  const clone = (): DiffCase => JSON.parse(JSON.stringify(c)) as DiffCase;
  for (let r = 0; r < c.repos.length; r++) {
    const repos = c.repos[r]?.records ?? [];
    for (let i = 0; i < repos.length; i++) {
      const x = clone();
      x.repos[r]?.records.splice(i, 1);
      yield x;
    }
  }
  for (let i = 0; i < c.installed.length; i++) {
    const x = clone();
    x.installed.splice(i, 1);
    yield x;
  }
  for (const key of ["world", "flags", "args"] as const) {
    for (let i = 0; i < c[key].length; i++) {
      const x = clone();
      x[key].splice(i, 1);
      yield x;
    }
  }
  for (const [r, repo] of [...c.repos.map((rp) => rp.records), c.installed].entries()) {
    for (let i = 0; i < repo.length; i++) {
      for (const field of ["D", "p", "i"] as const) {
        const atoms = repo[i]?.[field] ?? [];
        for (let j = 0; j < atoms.length; j++) {
          const x = clone();
          const rec = r < c.repos.length ? x.repos[r]?.records[i] : x.installed[i];
          rec?.[field].splice(j, 1);
          yield x;
        }
      }
    }
  }
  if (c.virtual) {
    const x = clone();
    delete x.virtual;
    yield x;
  }
  if (c.repos.length > 1) {
    for (let r = 0; r < c.repos.length; r++) {
      const x = clone();
      x.repos.splice(r, 1);
      yield x;
    }
  }
}

export interface DiffRun {
  cases: number;
  differences: Difference[];
  /** Seeds whose case apk-test did not finish (left out of the comparison). */
  apkHangs: number[];
}

/** Runs `cases` seeds from `seed`; each difference shrunk, written under `keep` when given. */
export function runDifferential(opts: {
  apkTest: string;
  seed: number;
  cases: number;
  keep?: string;
  /** Draw `add --virtual` cases (needs faketime). */
  virtual?: boolean;
  onCase?: (i: number, d?: Difference) => void;
}): DiffRun {
  const work = mkdtempSync(join(tmpdir(), "undistro-solver-diff-"));
  const differences: Difference[] = [];
  const apkHangs: number[] = [];
  try {
    for (let i = 0; i < opts.cases; i++) {
      const seed = opts.seed + i;
      const dir = join(work, String(seed));
      const r = compareCase(opts.apkTest, seed, generateCase(seed, { virtual: opts.virtual ?? false }), dir);
      if (r === "apk-hangs") apkHangs.push(seed);
      let d = r === "apk-hangs" ? undefined : r;
      if (d) {
        d = shrink(opts.apkTest, d, dir);
        differences.push(d);
        if (opts.keep) writeCase(d.case, join(opts.keep, `seed-${seed}`), d.apk, `seed-${seed}.test`);
      }
      rmSync(dir, { recursive: true, force: true });
      opts.onCase?.(i, d);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { cases: opts.cases, differences, apkHangs };
}
