import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ApkKeyring } from "../../apk/index.js";
import {
  assertLockHolds,
  checkLock,
  fetchRepositoryIndexes,
  formatLock,
  type LoadedRepository,
  loadRepository,
  lockFromResolution,
  parseLock,
  type RepositorySpec,
  resolveWorld,
  runSolverTestFile,
  UnsatisfiableError,
} from "../../solver/index.js";
import { fsError, hostArch, UndistroError, writeFileAtomic } from "../../util/index.js";
import { EXIT, type Io, printJson } from "../output.js";
import { action, collect } from "./shared.js";

function repositorySpecs(list: string[]): RepositorySpec[] {
  // "[@tag ]URL" as in /etc/apk/repositories, or "tag:URL" as apk's test harness writes it.
  return list.map((s) => {
    const m = /^@(\S+)\s+(.+)$/.exec(s);
    if (m) return { url: m[2] as string, tag: m[1] as string };
    return { url: s };
  });
}

async function loadAll(specs: RepositorySpec[], arch: string, keysDir: string | undefined, allowUntrusted: boolean): Promise<LoadedRepository[]> {
  if (specs.length === 0)
    throw new UndistroError("USAGE", "give at least one --repository", { hint: "--repository ./out/repo (the directory holding <arch>/APKINDEX.tar.gz)" });
  if (!keysDir && !allowUntrusted) {
    throw new UndistroError("USAGE", "index signatures are verified: give --keys-dir DIR (or --allow-untrusted)");
  }
  const keyring = keysDir ? ApkKeyring.fromDirectory(keysDir) : undefined;
  await fetchRepositoryIndexes(
    specs.map((s) => s.url),
    [arch],
  );
  return specs.map((s) => loadRepository(s, arch, keyring));
}

export function registerSolver(program: Command, io: Io): void {
  program
    .command("resolve [packages...]")
    .description("resolve packages (apk atoms) against repositories: the install order, or why not")
    .option("-X, --repository <url>", "repository directory or file:// URL; '@tag URL' pins (repeatable)", collect, [])
    .option("--keys-dir <dir>", "trusted public keys for index signatures")
    .option("--allow-untrusted", "do not verify index signatures")
    .option("--arch <arch>", "architecture", hostArch())
    .option("--write-lock <file>", "write a lock file for the resolved set")
    .option("--json", "print as JSON")
    .action(
      action(
        io,
        async (
          packages: string[],
          f: { repository: string[]; keysDir?: string; allowUntrusted?: boolean; arch: string; writeLock?: string; json?: boolean },
        ) => {
          const repos = await loadAll(repositorySpecs(f.repository), f.arch, f.keysDir, f.allowUntrusted ?? false);
          let res: ReturnType<typeof resolveWorld>;
          try {
            res = resolveWorld(repos, packages, f.arch);
          } catch (err) {
            if (err instanceof UnsatisfiableError && !f.json) {
              io.err(`${err.message}\n`);
              return EXIT.failed;
            }
            if (err instanceof UnsatisfiableError) {
              printJson(io, { error: { code: err.code, message: err.message, hint: err.hint }, problems: err.problems });
              return EXIT.failed;
            }
            throw err;
          }
          if (f.writeLock) writeFileAtomic(f.writeLock, Buffer.from(formatLock(lockFromResolution(res, repos))));
          if (f.json) printJson(io, res);
          else {
            res.packages.forEach((p, i) => {
              io.out(`(${i + 1}/${res.packages.length}) ${p.name}-${p.version} ${p.arch} ${p.checksum} ${p.url}\n`);
            });
            if (f.writeLock) io.out(`wrote ${f.writeLock}\n`);
          }
          return EXIT.ok;
        },
      ),
    );

  const lock = program.command("lock").description("check lock files against repositories");
  lock
    .command("check <file>")
    .description("check that every locked package is still in its repository with the same checksum")
    .option("-X, --repository <url>", "repository (repeatable); default: those recorded in the lock", collect, [])
    .option("--keys-dir <dir>", "trusted public keys for index signatures")
    .option("--allow-untrusted", "do not verify index signatures")
    .option("--json", "print as JSON")
    .action(
      action(io, async (file: string, f: { repository: string[]; keysDir?: string; allowUntrusted?: boolean; json?: boolean }) => {
        let text: string;
        try {
          text = readFileSync(file, "utf8");
        } catch (err) {
          throw fsError(err, "read lock", file);
        }
        const l = parseLock(text, file);
        const specs = f.repository.length ? repositorySpecs(f.repository) : l.repositories.map((r) => (r.tag ? { url: r.url, tag: r.tag } : { url: r.url }));
        const repos = await loadAll(specs, l.arch, f.keysDir, f.allowUntrusted ?? false);
        if (f.json) {
          const problems = checkLock(l, repos);
          printJson(io, { ok: problems.length === 0, problems, packages: l.packages.length });
          return problems.length ? EXIT.failed : EXIT.ok;
        }
        assertLockHolds(l, repos, file);
        io.out(`${file}: OK, ${l.packages.length} packages still match their repositories\n`);
        return EXIT.ok;
      }),
    );

  const dev = program.command("dev").description("developer tools");
  dev
    .command("solver-test <files...>")
    .description("run apk-tools solver test cases (*.test) against undistro's solver")
    .option("--json", "print as JSON")
    .action(
      action(io, async (files: string[], f: { json?: boolean }) => {
        const results = files.map((file) => runSolverTestFile(file));
        const passed = results.filter((r) => r.passed).length;
        const failed = results.length - passed;
        if (f.json) printJson(io, { passed, failed, results });
        else {
          for (const r of results) {
            if (r.passed) continue;
            io.out(`FAIL ${r.file}\n${sideBySide(r.expected, r.actual)}\n`);
          }
          io.out(`${passed} passed, ${failed} failed\n`);
        }
        return failed === 0 ? EXIT.ok : EXIT.failed;
      }),
    );
  dev
    .command("solver-diff")
    .description("random solver cases run through apk-tools' apk-test and undistro; differences are shrunk and kept as .test cases")
    .requiredOption("--apk-test <path>", "apk-tools' apk-test binary (built with make TEST=y; set LD_LIBRARY_PATH for its libapk)")
    .option("--seed <n>", "first seed (cases are seed, seed+1, ...)", "1")
    .option("--cases <n>", "how many cases", "200")
    .option("--keep <dir>", "write each difference as DIR/seed-N/seed-N.test with its repositories")
    .option("--json", "print as JSON")
    .action(
      action(io, async (f: { apkTest: string; seed: string; cases: string; keep?: string; json?: boolean }) => {
        const seed = integerOption("--seed", f.seed);
        const cases = integerOption("--cases", f.cases);
        if (spawnSync(f.apkTest, ["--version"], { stdio: "ignore" }).status !== 0) {
          throw new UndistroError("SOLVER_DIFF_NO_APK_TEST", `${f.apkTest} does not run`, {
            hint: "build apk-tools 2.14 with `make TEST=y` and pass src/apk-test, with LD_LIBRARY_PATH naming its src/ for libapk.so",
          });
        }
        const { runDifferential } = await import("../../solver/differential.js");
        // `add --virtual` cases need apk-test at the test clock (the virtual version is the time).
        const virtual = spawnSync("faketime", ["--version"], { stdio: "ignore" }).status === 0;
        if (!virtual) io.err("faketime is not installed: no add --virtual cases\n");
        const run = runDifferential({
          apkTest: f.apkTest,
          virtual,
          seed,
          cases,
          ...(f.keep ? { keep: f.keep } : {}),
          onCase: (i, d) => {
            if (d && !f.json) io.out(`seed ${d.seed} differs\n${sideBySide(d.apk, d.undistro)}\n`);
            if ((i + 1) % 50 === 0) io.err(`${i + 1}/${cases} cases\n`);
          },
        });
        const seeds = run.differences.map((d) => d.seed);
        const hangs = run.apkHangs.length ? `; apk-test did not finish ${run.apkHangs.length} (seeds ${run.apkHangs.join(", ")}), left out` : "";
        if (f.json)
          printJson(io, {
            cases: run.cases,
            apkHangs: run.apkHangs,
            differences: run.differences.map((d) => ({ seed: d.seed, apk: d.apk, undistro: d.undistro })),
          });
        else io.out(`${run.cases} cases, ${seeds.length} differ${seeds.length ? ` (seeds ${seeds.join(", ")})` : ""}${hangs}\n`);
        return seeds.length === 0 ? EXIT.ok : EXIT.failed;
      }),
    );
}

function integerOption(option: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new UndistroError("USAGE", `${option} ${value}: expected a whole number`);
  return Number(value);
}

/** Expected (apk) and actual (undistro) output in two columns, differing lines marked. */
function sideBySide(expected: string, actual: string): string {
  const a = expected.replace(/\n$/, "").split("\n");
  const b = actual.replace(/\n$/, "").split("\n");
  const width = Math.max(20, ...a.map((l) => l.length));
  const rows = [`  ${"expected (apk-tools)".padEnd(width)} | undistro`];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    rows.push(`${x === y ? " " : "!"} ${x.padEnd(width)} | ${y}`);
  }
  return rows.join("\n");
}
