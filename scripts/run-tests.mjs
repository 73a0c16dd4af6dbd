#!/usr/bin/env node
// Runs the compiled tests with node's own test runner. A script rather than a glob on the command
// line because Node 20's `node --test` takes no glob patterns (Node 22 does).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

// Three sets, by file name: *.test.js (the default), *.slow.test.js (--slow: long builds) and
// *.peers.test.js (--peers: the Go peers of scripts/peers.txt, installed by scripts/setup-peers.sh).
const kind = process.argv.includes("--slow") ? ".slow.test.js" : process.argv.includes("--peers") ? ".peers.test.js" : ".test.js";
const root = new URL("../dist/test/", import.meta.url).pathname;

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (testKind(name) === kind) out.push(path);
  }
  return out;
}

function testKind(name) {
  if (!name.endsWith(".test.js")) return undefined;
  if (name.endsWith(".slow.test.js")) return ".slow.test.js";
  if (name.endsWith(".peers.test.js")) return ".peers.test.js";
  return ".test.js";
}

const files = find(root);
if (files.length === 0) {
  console.error(`no test files under ${root}; run \`npm run build\` first`);
  process.exit(1);
}
const extra = process.argv.slice(2).filter((a) => a !== "--slow" && a !== "--peers");
// The slow suites skip themselves unless this is set (test/helpers.ts, SLOW_SUITE_SKIP).
const env = kind === ".slow.test.js" ? { ...process.env, UNDISTRO_TEST_SLOW: "1" } : process.env;
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=2", ...extra, ...files], { stdio: "inherit", env });
process.exit(result.status ?? 1);
