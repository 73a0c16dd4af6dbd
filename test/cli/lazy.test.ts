import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Command } from "commander";
import { COMMAND_MODULES, modulesFor } from "../../src/cli/main.js";
import type { Io } from "../../src/cli/output.js";
import { BIN, REPO_ROOT, tempDir } from "../helpers.js";

const quiet: Io = { out: () => {}, err: () => {}, interactive: false };

/** The dist/src modules a run of bin/undistro loads, from a module resolve hook. */
function loadedModules(t: { after: (fn: () => void) => void }, args: string[]): string[] {
  const dir = tempDir(t);
  const hooks = join(dir, "hooks.mjs");
  const log = join(dir, "loaded.log");
  // The hooks run on their own thread: written synchronously to a file, no line is lost at exit.
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";\nexport async function resolve(specifier, context, next) {\n  const r = await next(specifier, context);\n  if (r.url.startsWith("file:")) appendFileSync(${JSON.stringify(log)}, \`loaded \${r.url}\\n\`);\n  return r;\n}\n`,
  );
  const register = join(dir, "register.mjs");
  writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
  const r = spawnSync(process.execPath, ["--import", register, BIN, ...args], { cwd: REPO_ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const prefix = `file://${join(REPO_ROOT, "dist/src")}/`;
  return [
    ...new Set(
      readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l.startsWith(`loaded ${prefix}`))
        .map((l) => l.slice(`loaded ${prefix}`.length)),
    ),
  ].sort();
}

describe("the CLI loads only what a command uses", () => {
  it("the table of command modules names exactly the commands each module registers", async () => {
    const seen = new Set<string>();
    for (const m of COMMAND_MODULES) {
      const program = new Command("undistro");
      (await m.load())(program, quiet);
      assert.deepEqual(
        program.commands.map((c) => c.name()),
        [...m.commands],
      );
      for (const c of m.commands) {
        assert.ok(!seen.has(c), `${c} is in one module only`);
        seen.add(c);
      }
    }
    assert.deepEqual(modulesFor(["--version"]), []);
    assert.deepEqual(
      modulesFor(["push", "a", "b"]).map((m) => m.commands),
      [["copy", "push", "pull"]],
    );
    assert.equal(modulesFor(["--help"]).length, COMMAND_MODULES.length, "help lists every command");
    assert.equal(modulesFor(["instal"]).length, COMMAND_MODULES.length, "an unknown command gets suggestions from all");
  });

  it("--version loads no command module and no YAML parser; keygen loads neither the registry nor the builder", (t) => {
    assert.deepEqual(loadedModules(t, ["--version"]), [
      "cli/commands/shared.js",
      "cli/main.js",
      "cli/output.js",
      "cli/version.js",
      "util/errors.js",
      "util/json.js",
    ]);
    const keygen = loadedModules(t, ["keygen", "--help"]);
    assert.ok(keygen.includes("cli/commands/keygen.js"), keygen.join(" "));
    for (const m of keygen) assert.doesNotMatch(m, /^(registry|build|image|bootstrap|solver|advisory)\/|^cli\/commands\/(?!keygen|shared)/, m);
  });
});

describe("the CLI and a reader that stops early", () => {
  it("`undistro … | head -1` ends quietly: no EPIPE stack trace, status 0", () => {
    // Enough output that the pipe is closed while undistro still writes.
    const r = spawnSync("bash", ["-c", `set -o pipefail; for i in 1 2 3 4 5 6 7 8; do "${BIN}" bootstrap --list; done | head -1 > /dev/null`], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
  });
});
