/**
 * `npm run fuzz -- TARGET|all [SECONDS] [--json]`: coverage-guided fuzzing of undistro's parsers.
 * Each target runs in a worker for SECONDS (default 60); the parent stops an input that runs
 * longer than 10 s (a hang) and starts the worker again. Properties checked on every input: only
 * UndistroError escapes, no input takes over 1 s, extraction writes nothing outside its root.
 * Corpora grow in .cache/fuzz/TARGET/corpus; every failure is saved in .cache/fuzz/TARGET/crashes
 * and should become a fixture in test/fixtures/fuzz/TARGET/ (test/fuzz replays those).
 * Exit 0 when nothing failed, 1 otherwise, 2 on usage errors.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import type { WorkerInput, WorkerMessage } from "./engine.js";
import { DIST, instrumentTree } from "./instrument.js";
import { TARGETS } from "./targets.js";

const REPO = resolve(DIST, "..");
const HANG_MS = 10_000;
const MAX_LEN = 64 * 1024;

export interface TargetReport {
  target: string;
  seconds: number;
  execs: number;
  execsPerSecond: number;
  corpus: number;
  coveredCounters: number;
  totalCounters: number;
  coverage: string;
  slowestMs: number;
  failures: Array<{ kind: string; message: string; file: string }>;
}

function readDirInputs(dir: string): Buffer[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((n) => readFileSync(join(dir, n)));
}

/** One worker run; resolves with its last stats, or with the input that hung it. */
function runWorker(
  input: WorkerInput,
  onFailure: (kind: string, data: Buffer, message: string) => void,
): Promise<{ done: WorkerMessage | undefined; hung?: Buffer }> {
  return new Promise((resolveRun) => {
    const worker = new Worker(new URL("./engine.js", import.meta.url), { workerData: input });
    const header = new Float64Array(input.shared, 0, 2);
    const bytes = new Uint8Array(input.shared, 16);
    let last: WorkerMessage | undefined;
    let finished = false;
    const finish = (hung?: Buffer) => {
      if (finished) return;
      finished = true;
      clearInterval(watchdog);
      resolveRun(hung ? { done: last, hung } : { done: last });
    };
    const watchdog = setInterval(() => {
      const started = header[0] as number;
      if (started && Date.now() - started > HANG_MS) {
        const data = Buffer.from(bytes.subarray(0, header[1] as number));
        onFailure("hang", data, `no answer after ${HANG_MS / 1000} s`);
        void worker.terminate();
        finish(data);
      }
    }, 200);
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "crash") onFailure(m.kind, Buffer.from(m.input, "base64"), m.message);
      else last = m;
      if (m.type === "done") {
        void worker.terminate();
        finish();
      }
    });
    worker.on("error", (err) => {
      onFailure("exception", Buffer.alloc(0), `the worker died: ${err.stack ?? err.message}`);
      finish();
    });
    worker.on("exit", () => finish());
  });
}

export async function fuzzTarget(name: string, seconds: number, log: (line: string) => void): Promise<TargetReport> {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target ${name}`);
  const home = join(REPO, ".cache/fuzz", name);
  const crashDir = join(home, "crashes");
  const failures: TargetReport["failures"] = [];
  const signatures = new Set<string>();
  const onFailure = (kind: string, data: Buffer, message: string) => {
    // One report per distinct failure: its kind and the first lines of its message and stack.
    const lines = message.split("\n");
    const frame = lines.find((l) => l.trim().startsWith("at ")) ?? "";
    const signature = `${kind}:${(lines[0] ?? "").replace(/"[^"]*"/g, '""').replace(/\d+/g, "N")}:${frame.replace(/:\d+:\d+/g, "")}`;
    if (signatures.has(signature)) return;
    signatures.add(signature);
    mkdirSync(crashDir, { recursive: true });
    const file = join(crashDir, `${kind}-${createHash("sha1").update(data).digest("hex")}`);
    writeFileSync(file, data);
    failures.push({ kind, message: message.split("\n").slice(0, 6).join("\n"), file });
    log(`  ${name}: ${kind.toUpperCase()}: ${message.split("\n")[0]} (input saved: ${file})`);
  };
  const fixtures = readDirInputs(join(REPO, "test/fixtures/fuzz", name));
  let initial = [...fixtures, ...readDirInputs(join(home, "corpus")), ...target.seeds()].map((b) => b.subarray(0, MAX_LEN).toString("base64"));
  const started = Date.now();
  let execs = 0;
  let last: Extract<WorkerMessage, { type: "done" | "stats" }> | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    const left = seconds - (Date.now() - started) / 1000;
    if (left <= 0 && attempt > 0) break;
    const input: WorkerInput = {
      target: name,
      seconds: Math.max(left, 0),
      seed: 0x9e3779b9 ^ (attempt * 7919),
      shared: new SharedArrayBuffer(16 + MAX_LEN * 2),
      corpusDir: join(home, "corpus"),
      initial,
      maxLen: MAX_LEN,
    };
    const r = await runWorker(input, onFailure);
    if (r.done && r.done.type !== "crash") {
      last = r.done;
      execs += r.done.execs;
    }
    if (!r.hung) break;
    const hung = r.hung.toString("base64");
    initial = initial.filter((b) => b !== hung);
  }
  const elapsed = (Date.now() - started) / 1000;
  const covered = last?.covered ?? 0;
  const total = last?.total ?? 0;
  return {
    target: name,
    seconds: Math.round(elapsed * 10) / 10,
    execs,
    execsPerSecond: Math.round(execs / Math.max(elapsed, 0.001)),
    corpus: last?.corpus ?? 0,
    coveredCounters: covered,
    totalCounters: total,
    coverage: total ? `${((100 * covered) / total).toFixed(1)}%` : "n/a",
    slowestMs: Math.round(last?.slowest ?? 0),
    failures,
  };
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const args = argv.filter((a) => a !== "--json");
  const [which, secondsText = "60"] = args;
  const seconds = Number(secondsText);
  if (!which || !Number.isFinite(seconds) || seconds <= 0) {
    process.stderr.write(
      `usage: npm run fuzz -- TARGET|all [SECONDS] [--json]\ntargets:\n${TARGETS.map((t) => `  ${t.name.padEnd(13)} ${t.description}`).join("\n")}\n`,
    );
    return 2;
  }
  const names = which === "all" ? TARGETS.map((t) => t.name) : which.split(",");
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) {
    process.stderr.write(`error[USAGE]: no fuzz target ${unknown.join(", ")}; targets: ${TARGETS.map((t) => t.name).join(", ")}\n`);
    return 2;
  }
  const instrumented = instrumentTree();
  if (!json) process.stderr.write(`fuzz: ${instrumented} files instrumented; ${names.length} target(s), ${seconds} s each\n`);
  const reports: TargetReport[] = [];
  for (const name of names) {
    const r = await fuzzTarget(name, seconds, (l) => process.stderr.write(`${l}\n`));
    reports.push(r);
    if (!json)
      process.stdout.write(
        `${r.target.padEnd(13)} ${String(r.execs).padStart(8)} execs ${String(r.execsPerSecond).padStart(6)}/s  coverage ${r.coverage.padStart(6)} (${r.coveredCounters}/${r.totalCounters} counters)  corpus ${String(r.corpus).padStart(5)}  slowest ${r.slowestMs} ms  ${r.failures.length ? `${r.failures.length} FAILED` : "ok"}\n`,
      );
  }
  const failed = reports.reduce((n, r) => n + r.failures.length, 0);
  if (json) process.stdout.write(`${JSON.stringify({ targets: reports, failed }, null, 2)}\n`);
  else
    process.stdout.write(
      `fuzz: ${reports.filter((r) => !r.failures.length).length} target(s) clean, ${reports.filter((r) => r.failures.length).length} with failures\n`,
    );
  return failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`fuzz: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(70);
    },
  );
}
