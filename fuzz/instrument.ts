/**
 * Coverage for the fuzzer: dist/src is copied, instrumented by istanbul-lib-instrument (the
 * instrumenter nyc and c8's predecessors use), to dist/fuzz-src. The copy sits at the same depth as
 * dist/src, so every relative URL in the code (schemas, package.json) and node_modules resolve as
 * they do for the real tree. Files are re-instrumented only when the compiled file is newer.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

interface Instrumenter {
  instrumentSync(code: string, filename: string): string;
}

/** The global the instrumented code counts into. */
export const COVERAGE_VARIABLE = "__undistroFuzzCoverage";

export const DIST = fileURLToPath(new URL("../", import.meta.url));
export const SOURCE_TREE = join(DIST, "src");
export const INSTRUMENTED_TREE = join(DIST, "fuzz-src");

function* jsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* jsFiles(path);
    else if (name.endsWith(".js")) yield path;
  }
}

/** Brings dist/fuzz-src up to date with dist/src; returns how many files were (re)instrumented. */
export function instrumentTree(): number {
  const require = createRequire(import.meta.url);
  const { createInstrumenter } = require("istanbul-lib-instrument") as { createInstrumenter(o: Record<string, unknown>): Instrumenter };
  const instrumenter = createInstrumenter({ esModules: true, compact: true, coverageVariable: COVERAGE_VARIABLE, produceSourceMap: false });
  let count = 0;
  for (const file of jsFiles(SOURCE_TREE)) {
    const target = join(INSTRUMENTED_TREE, relative(SOURCE_TREE, file));
    const targetTime = statSync(target, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (targetTime >= statSync(file).mtimeMs) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, instrumenter.instrumentSync(readFileSync(file, "utf8"), file));
    count++;
  }
  return count;
}
