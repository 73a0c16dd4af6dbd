import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT, runBin, SLOW_SUITE_SKIP, tempDir } from "../helpers.js";
import { BOOTSTRAP_KEY, BOOTSTRAP_OUT, emulatedShell, undistroOrFail } from "../image/helpers.js";

// Slow suite (npm run test:slow): aarch64 from x86_64, hermetically (docs/bootstrap.md). Needs
// stage 1 of the bootstrap under UNDISTRO_BOOTSTRAP_OUT (bootstrap.slow.test.ts makes it), then
// builds the cross-aarch64 and aarch64 stages: two GCC builds, about 80 minutes cold on 2 cores.
const MIRROR = join(REPO_ROOT, ".cache/mirror");

describe("aarch64, cross-built hermetically", { skip: SLOW_SUITE_SKIP || (process.arch !== "x64" && "the cross stages run on x86_64") }, () => {
  it("undistro's aarch64 GCC, built by its cross toolchain, compiles and runs a C program under qemu", { timeout: 6 * 3600_000 }, (t) => {
    assert.ok(existsSync(join(BOOTSTRAP_OUT, "stage1/x86_64/APKINDEX.tar.gz")), `stage 1 under ${BOOTSTRAP_OUT}: run the bootstrap's slow suite first`);
    const fetched = spawnSync("bash", ["scripts/fetch-sources.sh", "--bootstrap"], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(fetched.status, 0, fetched.stderr);
    undistroOrFail(["bootstrap", "--stages", "cross-aarch64-aarch64", "--out", BOOTSTRAP_OUT, "--signing-key", BOOTSTRAP_KEY, "--source-mirror", MIRROR]);
    const repository = join(BOOTSTRAP_OUT, "aarch64");
    // Every aarch64 package's record: built hermetically on x86_64, for aarch64, gcc-aarch64 in its root.
    const record = (apk: string) =>
      JSON.parse(spawnSync("tar", ["-xzOf", join(repository, "aarch64", apk), ".undistro-build.json"], { encoding: "utf8" }).stdout) as {
        settings: { arch: string; buildArch: string; hermetic: boolean };
        environment: { packages: { name: string; arch: string }[]; sysroot?: { arch: string; packages: { name: string }[] } };
      };
    const gccRecord = record("gcc-14.2.0-r0.apk");
    assert.deepEqual([gccRecord.settings.arch, gccRecord.settings.buildArch, gccRecord.settings.hermetic], ["aarch64", "x86_64", true]);
    assert.ok(gccRecord.environment.packages.some((p) => p.name === "gcc-aarch64" && p.arch === "x86_64"));
    assert.deepEqual(gccRecord.environment.sysroot?.packages.map((p) => p.name).sort(), ["linux-headers", "musl", "musl-dev"]);

    // aarch64's own toolchain, installed for aarch64 and run under qemu: it compiles a C program,
    // which runs.
    const root = join(tempDir(t), "root");
    mkdirSync(root);
    const installed = runBin([
      "install",
      "--root",
      root,
      "--arch",
      "aarch64",
      "--repository",
      repository,
      "--keyring",
      `${BOOTSTRAP_KEY}.pub`,
      "build-base",
      "busybox",
      "hello",
    ]);
    assert.equal(installed.code, 0, installed.stderr);
    writeFileSync(join(root, "tmp-hello.c"), '#include <stdio.h>\nint main(void) { printf("hello from %s\\n", __VERSION__); return 0; }\n');
    const r = emulatedShell(root, "uname -m && gcc --version | head -1 && gcc -O2 -o /tmp/h /tmp-hello.c && /tmp/h && od -An -tx1 -j18 -N1 /tmp/h && hello");
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "aarch64");
    assert.match(lines[1] ?? "", /^gcc \(undistro 14\.2\.0-r0\) 14\.2\.0$/);
    assert.match(lines[2] ?? "", /^hello from 14\.2\.0$/);
    assert.equal(lines[3]?.trim(), "b7", "an aarch64 program (ELF e_machine 0xb7)");
    assert.equal(lines[4], "Hello, world!");
    // The C library the program ran with is the aarch64 stage's musl.
    assert.ok(readFileSync(join(root, "lib/apk/db/installed"), "utf8").includes("P:musl\nV:1.2.5-r0\nA:aarch64"));
  });
});
