/**
 * The fuzzing loop, run in a worker thread so that the parent can stop an input that hangs (a
 * synchronous endless loop cannot be interrupted from inside). Coverage-guided in libFuzzer's way:
 * an input that reaches a statement or branch counter, or a hit-count bucket of one, that no input
 * reached before joins the corpus; new inputs are mutations of corpus entries.
 *
 * Hand-written because the maintained Node fuzzer, Jazzer.js, does not run here: its 4.0 native
 * addon needs glibc 2.38 (Debian 12 has 2.36) and its older releases download their addon from
 * GitHub at install. The coverage comes from istanbul-lib-instrument (see instrument.ts).
 */

import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { COVERAGE_VARIABLE, INSTRUMENTED_TREE } from "./instrument.js";
import { loadLibrary, TARGETS, type TargetContext } from "./targets.js";

export interface WorkerInput {
  target: string;
  seconds: number;
  seed: number;
  /** Shared with the parent: [0] exec start time (ms, 0 when idle), [1] input length; bytes from 8 on: the input. */
  shared: SharedArrayBuffer;
  corpusDir: string;
  /** Inputs to run first (the corpus saved by earlier runs, then seeds). */
  initial: string[];
  maxLen: number;
}

export type WorkerMessage =
  | { type: "stats"; execs: number; corpus: number; covered: number; total: number; slowest: number }
  | { type: "crash"; kind: "exception" | "slow"; input: string; message: string; ms: number }
  | { type: "done"; execs: number; corpus: number; covered: number; total: number; slowest: number };

type Counters = Record<string, number | number[]>;
type FileCoverage = { s: Counters; b: Counters; f: Counters };

/**
 * Counter slots seen so far: per file and counter, a bit per log2 hit-count bucket. `covered` and
 * `total` count the counters of the files the target reached at all (every module is loaded, so a
 * share of all of them would say little).
 */
class CoverageMap {
  private readonly seen = new Map<string, Uint8Array>();
  private readonly reached = new Map<string, number>();

  /** Takes in what loading the modules ran, so that only what the target runs counts. */
  baseline(): void {
    this.collect();
    this.reached.clear();
  }

  /** Counters ever hit, and all counters, in the files the target reached. */
  summary(): { covered: number; total: number } {
    let covered = 0;
    let total = 0;
    for (const [file, width] of this.reached) {
      total += width;
      for (const b of this.seen.get(file) ?? []) if (b) covered++;
    }
    return { covered, total };
  }

  /** Folds the counters of one run in, resets them to 0, and says whether anything was new. */
  collect(): boolean {
    const all = (globalThis as Record<string, unknown>)[COVERAGE_VARIABLE] as Record<string, FileCoverage> | undefined;
    if (!all) return false;
    let fresh = false;
    for (const [file, cov] of Object.entries(all)) {
      const sIds = Object.keys(cov.s);
      const bIds = Object.keys(cov.b);
      let width = sIds.length;
      for (const id of bIds) width += (cov.b[id] as number[]).length;
      let bits = this.seen.get(file);
      if (!bits || bits.length !== width) {
        bits = new Uint8Array(width);
        this.seen.set(file, bits);
      }
      let slot = 0;
      const mark = (hits: number) => {
        if (hits > 0) {
          const bucket = 1 << Math.min(7, 31 - Math.clz32(hits));
          if (((bits as Uint8Array)[slot] as number) === 0 && !this.reached.has(file)) this.reached.set(file, width);
          if ((((bits as Uint8Array)[slot] as number) & bucket) === 0) {
            (bits as Uint8Array)[slot] = ((bits as Uint8Array)[slot] as number) | bucket;
            fresh = true;
          }
        }
        slot++;
      };
      for (const id of sIds) {
        mark(cov.s[id] as number);
        cov.s[id] = 0;
      }
      for (const id of bIds) {
        const arr = cov.b[id] as number[];
        for (let i = 0; i < arr.length; i++) {
          mark(arr[i] as number);
          arr[i] = 0;
        }
      }
    }
    return fresh;
  }
}

/** xorshift32: mutations are reproducible from the seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const INTERESTING = [
  "0",
  "-1",
  "-512",
  "1",
  "255",
  "256",
  "65535",
  "4294967295",
  "2147483648",
  "9007199254740993",
  "1e308",
  "NaN",
  "",
  "\u0000",
  "..",
  "/",
  "%",
  "%zz",
  "\uffff",
];

const JSON_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 53 + 1,
  -(2 ** 31),
  "",
  "x",
  "../../etc/passwd",
  "%zz",
  "sha256:",
  [],
  {},
  [null],
  { "": null },
];

/**
 * For JSON formats, byte mutations mostly make invalid JSON: this one parses the input, changes one
 * node (another type, an interesting value, a node from another corpus entry, a deleted key, a
 * duplicated element) and serialises it again. Undefined when the input is not JSON.
 */
function mutateJson(input: Buffer, corpus: Buffer[], random: () => number): Buffer | undefined {
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const parse = (b: Buffer): unknown => {
    try {
      return JSON.parse(b.toString("utf8"));
    } catch {
      return undefined;
    }
  };
  const doc = parse(input);
  if (doc === undefined || doc === null || typeof doc !== "object") return undefined;
  // Every container and key on the way down, so one can be chosen at random.
  const slots: Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> = [];
  const walk = (node: unknown, depth: number) => {
    if (depth > 30 || node === null || typeof node !== "object") return;
    const entries: Array<[string | number, unknown]> = Array.isArray(node) ? node.map((v, k) => [k, v]) : Object.entries(node);
    for (const [key, v] of entries) {
      slots.push({ parent: node as Record<string, unknown> | unknown[], key });
      walk(v, depth + 1);
    }
  };
  walk(doc, 0);
  if (!slots.length) return Buffer.from(JSON.stringify(pick(JSON_VALUES)));
  const slot = pick(slots);
  const container = slot.parent as Record<string | number, unknown>;
  const donor = parse(pick(corpus));
  switch (Math.floor(random() * 5)) {
    case 0:
      container[slot.key] = pick(JSON_VALUES);
      break;
    case 1:
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else delete container[slot.key];
      break;
    case 2:
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 0, structuredClone(slot.parent[slot.key as number]));
      else container[`${slot.key}_`] = container[slot.key];
      break;
    case 3:
      container[slot.key] = donor ?? pick(JSON_VALUES);
      break;
    default: {
      const v = container[slot.key];
      container[slot.key] = typeof v === "string" ? `${v}${pick(["%", "/..", "\u0000", "é", "-1"])}` : typeof v === "number" ? -v - 1 : String(v);
    }
  }
  return Buffer.from(JSON.stringify(doc));
}

function mutate(input: Buffer, corpus: Buffer[], dictionary: Buffer[], random: () => number, maxLen: number, json = false): Buffer {
  if (json && random() < 0.5) {
    const m = mutateJson(input, corpus, random);
    if (m) return m.length > maxLen ? m.subarray(0, maxLen) : m;
  }
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
  let out = Buffer.from(input);
  const rounds = 1 + Math.floor(random() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = out.length ? Math.floor(random() * out.length) : 0;
    switch (Math.floor(random() * 10)) {
      case 0: // flip a bit
        if (out.length) out[at] = (out[at] as number) ^ (1 << Math.floor(random() * 8));
        break;
      case 1: // a random byte
        if (out.length) out[at] = Math.floor(random() * 256);
        break;
      case 2: {
        // delete a run
        const len = 1 + Math.floor(random() * Math.min(16, Math.max(1, out.length - at)));
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + len)]);
        break;
      }
      case 3: {
        // duplicate a run
        const len = 1 + Math.floor(random() * 32);
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + len), out.subarray(at)]);
        break;
      }
      case 4: // insert a dictionary word
      case 5:
        if (dictionary.length) out = Buffer.concat([out.subarray(0, at), pick(dictionary), out.subarray(at)]);
        break;
      case 6: {
        // replace a run of digits with an interesting number
        const s = out.toString("latin1");
        const m = [...s.matchAll(/-?\d+/g)];
        if (m.length) {
          const hit = pick(m);
          out = Buffer.from(s.slice(0, hit.index) + pick(INTERESTING) + s.slice((hit.index ?? 0) + hit[0].length), "latin1");
        }
        break;
      }
      case 7: {
        // splice with another corpus entry
        const other = pick(corpus);
        const cut = Math.floor(random() * (other.length + 1));
        out = Buffer.concat([out.subarray(0, at), other.subarray(cut)]);
        break;
      }
      case 8: // small arithmetic on a byte
        if (out.length) out[at] = ((out[at] as number) + (random() < 0.5 ? 1 : -1) * (1 + Math.floor(random() * 16))) & 0xff;
        break;
      default: {
        // overwrite a run with an interesting string
        const word = Buffer.from(pick(INTERESTING), "latin1");
        out = Buffer.concat([out.subarray(0, at), word, out.subarray(at + word.length)]);
      }
    }
  }
  return out.length > maxLen ? out.subarray(0, maxLen) : out;
}

export async function fuzzLoop(input: WorkerInput, post: (m: WorkerMessage) => void): Promise<void> {
  const target = TARGETS.find((t) => t.name === input.target);
  if (!target) throw new Error(`no fuzz target ${input.target}`);
  const lib = await loadLibrary(INSTRUMENTED_TREE);
  const scratch = join(tmpdir(), `undistro-fuzz-${input.target}-${process.pid}-${input.seed}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const ctx: TargetContext = { lib, scratch, state: {} };
  await target.setup?.(ctx);
  const coverage = new CoverageMap();
  coverage.baseline();
  const header = new Float64Array(input.shared, 0, 2);
  const bytes = new Uint8Array(input.shared, 16);
  const random = rng(input.seed);
  const dictionary = target.dictionary.map((w) => Buffer.from(w, "latin1"));
  const corpus: Buffer[] = [];
  const seenInputs = new Set<string>();
  let execs = 0;
  let slowest = 0;
  const stats = () => ({ execs, corpus: corpus.length, ...coverage.summary(), slowest });
  const runOne = async (data: Buffer): Promise<void> => {
    const len = Math.min(data.length, bytes.length);
    bytes.set(data.subarray(0, len));
    header[1] = len;
    const started = performance.now();
    header[0] = Date.now();
    try {
      await target.run(data, ctx);
    } catch (err) {
      if (!(err instanceof lib.util.UndistroError)) {
        post({
          type: "crash",
          kind: "exception",
          input: data.toString("base64"),
          message: (err as Error)?.stack ?? String(err),
          ms: performance.now() - started,
        });
      }
    }
    header[0] = 0;
    const ms = performance.now() - started;
    slowest = Math.max(slowest, ms);
    execs++;
    if (ms > 1000) {
      // Reported only when it is slow again: a pause of the machine (GC, another process) is no finding.
      const again = performance.now();
      try {
        await target.run(data, ctx);
      } catch {
        // judged above
      }
      const ms2 = performance.now() - again;
      if (ms2 > 1000)
        post({
          type: "crash",
          kind: "slow",
          input: data.toString("base64"),
          message: `took ${ms.toFixed(0)} ms, then ${ms2.toFixed(0)} ms (limit 1000 ms)`,
          ms,
        });
    }
    if (coverage.collect()) {
      const key = createHash("sha1").update(data).digest("hex");
      if (!seenInputs.has(key)) {
        seenInputs.add(key);
        corpus.push(data);
        writeFileSync(join(input.corpusDir, key), data);
      }
    }
  };
  mkdirSync(input.corpusDir, { recursive: true });
  for (const b64 of input.initial) await runOne(Buffer.from(b64, "base64"));
  if (corpus.length === 0) corpus.push(Buffer.alloc(0));
  const deadline = Date.now() + input.seconds * 1000;
  let lastReport = Date.now();
  while (Date.now() < deadline) {
    await runOne(mutate(corpus[Math.floor(random() * corpus.length)] as Buffer, corpus, dictionary, random, input.maxLen, target.json === true));
    if (Date.now() - lastReport > 1000) {
      post({ type: "stats", ...stats() });
      lastReport = Date.now();
    }
  }
  await target.teardown?.(ctx);
  rmSync(scratch, { recursive: true, force: true });
  post({ type: "done", ...stats() });
}

if (parentPort && workerData) {
  const port = parentPort;
  fuzzLoop(workerData as WorkerInput, (m) => port.postMessage(m)).catch((err) => {
    port.postMessage({ type: "crash", kind: "exception", input: "", message: `the fuzz worker failed: ${(err as Error)?.stack ?? String(err)}`, ms: 0 });
    port.postMessage({ type: "done", execs: 0, corpus: 0, covered: 0, total: 0, slowest: 0 });
  });
}
