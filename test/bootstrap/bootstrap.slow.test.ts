import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT, runBin, SLOW_SUITE_SKIP, tempDir } from "../helpers.js";

// Slow suite (npm run test:slow): the bootstrap to its fixpoint (stages 0-3; the `extra` stage is
// the Go chain, tested by test/image/go.slow.test.ts), GCC four times (cold: hours on 2 cores; the
// build state under UNDISTRO_BOOTSTRAP_OUT, default .cache/bootstrap, makes a rerun minutes).
const OUT = process.env.UNDISTRO_BOOTSTRAP_OUT ?? join(REPO_ROOT, ".cache/bootstrap");
const KEY = join(OUT, "keys/undistro.rsa");
const arch = process.arch === "arm64" ? "aarch64" : "x86_64";

describe("the bootstrap", { skip: SLOW_SUITE_SKIP }, () => {
  it("builds the toolchain from the host's compiler to a fixpoint, then a hermetic probe with it", { timeout: 12 * 3600_000 }, (t) => {
    const fetched = spawnSync("bash", ["scripts/fetch-sources.sh", "--bootstrap"], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(fetched.status, 0, fetched.stderr);
    mkdirSync(join(OUT, "keys"), { recursive: true });
    if (!readdirSync(join(OUT, "keys")).includes("undistro.rsa")) assert.equal(runBin(["keygen", "--apk", join(OUT, "keys/undistro")]).code, 0);
    const started = Date.now();
    const r = spawnSync(join(REPO_ROOT, "bin/undistro"), ["bootstrap", "--stages", "stage0-stage3", "--out", OUT, "--signing-key", KEY, "--json"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      maxBuffer: 256 << 20,
      stdio: ["ignore", "pipe", "inherit"],
    });
    assert.equal(r.status, 0, r.stdout.slice(-4000));
    const report = JSON.parse(r.stdout) as {
      stages: {
        name: string;
        built: { recipe: string; ms: number }[];
        fresh: string[];
        comparison?: { identical: { file: string; sha256: string }[]; different: unknown[] };
      }[];
    };
    console.log(`bootstrap: ${((Date.now() - started) / 60000).toFixed(1)} min`);
    for (const s of report.stages)
      console.log(`  ${s.name}: ${s.built.map((b) => `${b.recipe} ${(b.ms / 60000).toFixed(1)} min`).join(", ") || "nothing built"}; kept ${s.fresh.length}`);
    const stage3 = report.stages.find((s) => s.name === "stage3");
    assert.deepEqual(stage3?.comparison?.different, []);
    for (const p of stage3?.comparison?.identical ?? []) console.log(`  identical ${p.sha256} ${p.file}`);
    const identical = new Set(stage3?.comparison?.identical.map((p) => p.file.replace(/-\d.*$/, "")));
    for (const name of ["gcc", "libgcc", "libstdc++", "libstdc++-dev", "binutils", "make", "musl", "busybox"])
      assert.ok(identical.has(name), `${name} reproduced`);

    // A hermetic build in a root of stage 2's build-base: only its packages' files, undistro's GCC.
    const dir = tempDir(t);
    const probe = runBin([
      "build",
      join(REPO_ROOT, "test/fixtures/bootstrap/toolchain-probe.yaml"),
      "--hermetic",
      "--out",
      join(dir, "repo"),
      "--repository-append",
      join(OUT, "stage2"),
      "--signing-key",
      KEY,
    ]);
    assert.equal(probe.code, 0, probe.stderr);
    const apk = join(dir, "repo", arch, "toolchain-probe-1-r0.apk");
    const seen = (f: string) => spawnSync("tar", ["-xzOf", apk, `usr/share/toolchain-probe/${f}`], { encoding: "utf8" }).stdout;
    assert.equal(seen("usr-bin"), seen("usr-bin-owned"), "ls /usr/bin lists exactly what the environment's packages installed");
    assert.match(seen("gcc-version"), /^gcc \(undistro 14\.2\.0-r0\) 14\.2\.0$/m);
    assert.ok(seen("installed").includes("P:gcc\n") && seen("installed").includes("P:busybox\n"));
    assert.ok(
      seen("host-files")
        .split("\n")
        .filter(Boolean)
        .every((l) => l.startsWith("absent ")),
      seen("host-files"),
    );

    // The programs, in an image made by undistro, run under runc.
    writeFileSync(
      join(dir, "image.yaml"),
      [
        "contents:",
        "  keyring:",
        `    - ${KEY}.pub`,
        "  repositories:",
        `    - ${join(dir, "repo")}`,
        `    - ${join(OUT, "stage2")}`,
        "  packages:",
        "    - toolchain-probe",
        "entrypoint:",
        "  command: /bin/sh -c '/usr/bin/toolchain-hello && /usr/bin/toolchain-hello++'",
        "archs:",
        `  - ${arch}`,
        "",
      ].join("\n"),
    );
    // The programs need no shell: run them one after the other as two containers.
    const image = runBin(["image", "build", join(dir, "image.yaml"), "--out", join(dir, "image")]);
    assert.equal(image.code, 0, image.stderr);
    for (const program of ["toolchain-hello", "toolchain-hello++"]) {
      const bundle = join(dir, `bundle-${program}`);
      const unpack = spawnSync("umoci", ["unpack", "--image", `${join(dir, "image")}:latest`, bundle], { encoding: "utf8" });
      assert.equal(unpack.status, 0, unpack.stderr);
      const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as { process: { args: string[]; terminal: boolean } };
      config.process.args = [`/usr/bin/${program}`];
      config.process.terminal = false;
      writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
      const run = spawnSync("runc", ["run", "--bundle", bundle, `undistro-bootstrap-${process.pid}-${program.length}`], { encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /hello from undistro's g(cc|\+\+) 14\.2\.0/);
    }
  });
});
