import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../src/cli/main.js";
import type { Io } from "../src/cli/output.js";
import { UndistroError } from "../src/util/index.js";

/** The repository root (tests run from dist/test/...). */
export const REPO_ROOT = resolve(fileURLToPath(new URL("../../", import.meta.url)));
/** `../shared/reference`, beside the clone (CI puts it there). */
export const SHARED = process.env.UNDISTRO_SHARED ?? resolve(REPO_ROOT, "../shared");
export const REFERENCE = join(SHARED, "reference");
export const FIXTURES = join(REPO_ROOT, "test/fixtures");
export const BIN = join(REPO_ROOT, "bin/undistro");

/**
 * A slow suite's `skip` (hours of builds): it runs only when asked for, under `npm run test:slow`
 * (scripts/run-tests.mjs --slow sets UNDISTRO_TEST_SLOW=1) or with that variable set by hand. A
 * glob such as `node --test dist/test/bootstrap/*.test.js` matches the slow files too, and would
 * otherwise start a bootstrap beside whatever else runs.
 */
export const SLOW_SUITE_SKIP: string | false =
  process.env.UNDISTRO_TEST_SLOW === "1" ? false : "a slow suite: run it with `npm run test:slow`, or set UNDISTRO_TEST_SLOW=1";

export function tempDir(t?: { after: (fn: () => void) => void }, prefix = "undistro-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (t) t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file under `dir` whose name satisfies `match`, sorted. */
export function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findFiles(path, match));
    else if (match(name)) out.push(path);
  }
  return out;
}

/** Runs the CLI in-process and captures what it prints. */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: Io = {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    interactive: false,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** Runs bin/undistro as a child process (the real executable, as a user would). */
export function runBin(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(BIN, args, { cwd: options.cwd ?? REPO_ROOT, env: { ...process.env, ...options.env }, encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a host command (tar, gzip, openssl): the independent path in golden tests. */
export function run(cmd: string, args: string[], options: { cwd?: string; input?: Buffer; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: options.cwd, input: options.input, env: { ...process.env, ...options.env }, maxBuffer: 512 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout as Buffer, stderr: (r.stderr as Buffer).toString("utf8") };
}

/** For assert.throws: an UndistroError with this code whose message names each of `mentions`. */
export function isError(code: string, ...mentions: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof UndistroError, `expected UndistroError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `message names ${m}: ${e.message}`);
    return true;
  };
}

export interface AsyncRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program without blocking the event loop (a registry under test may run in this process),
 * with a time limit so a hung program fails the test instead of the run.
 */
export function runAsync(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<AsyncRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}
