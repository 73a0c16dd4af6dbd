#!/usr/bin/env node
// Runs the compiled tests with node's own test runner. A script rather than a glob on the command
// line because Node 20's `node --test` takes no glob patterns (Node 22 does).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const slow = process.argv.includes("--slow");
const root = new URL("../dist/test/", import.meta.url).pathname;

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith(".test.js") && name.endsWith(".slow.test.js") === slow) out.push(path);
  }
  return out;
}

const files = find(root);
if (files.length === 0) {
  console.error(`no test files under ${root}; run \`npm run build\` first`);
  process.exit(1);
}
const extra = process.argv.slice(2).filter((a) => a !== "--slow");
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=2", ...extra, ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
