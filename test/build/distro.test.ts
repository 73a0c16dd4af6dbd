import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { generateApkKey, loadSigningKey, readPackage } from "../../src/apk/index.js";
import { buildGraph, buildRecipe } from "../../src/build/index.js";
import { installPackages } from "../../src/image/index.js";
import { REPO_ROOT, tempDir } from "../helpers.js";

const MIRROR = join(REPO_ROOT, ".cache/mirror");
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("the musl base: musl from upstream source, zlib built against it in a stage-1 environment", () => {
  let dir: string;
  let key: string;
  let repo: string;
  /** Builds the copied recipes into `out` for `arch`, from the source mirror, at SOURCE_DATE_EPOCH 0. */
  const build = (out: string, arch: string, suffix = "") =>
    buildGraph(join(dir, "packages"), {
      outDir: out,
      signingKey: loadSigningKey(key),
      sourceMirrors: [MIRROR],
      cacheDir: join(dir, `cache${suffix}`),
      logDir: join(dir, `logs${suffix}`),
      sourceDateEpoch: 0,
      arch,
    });
  before(async () => {
    assert.ok(existsSync(join(MIRROR, "sha256")), `no source mirror at ${MIRROR}: run scripts/setup.sh`);
    dir = tempDir();
    key = generateApkKey(join(dir, "undistro"), { bits: 2048 }).privateKeyPath;
    const recipes = join(dir, "packages");
    mkdirSync(recipes);
    for (const r of ["musl.yaml", "zlib.yaml"]) copyFileSync(join(REPO_ROOT, "distro/packages", r), join(recipes, r));
    // musl's patches live beside its recipe, in the directory named after the package.
    cpSync(join(REPO_ROOT, "distro/packages/musl"), join(recipes, "musl"), { recursive: true });
    repo = join(dir, "repo");
    const result = await build(repo, "x86_64");
    assert.deepEqual(result.plan.order, ["musl", "zlib"], "zlib needs musl-dev: musl first");
  });

  it("packages depend on musl's soname, never on the host's C library; the SBOM says how", () => {
    const zlib = readPackage(join(repo, "x86_64/zlib-1.3.1-r0.apk"));
    assert.deepEqual(zlib.info.depends, ["so:libc.musl-x86_64.so.1"]);
    const musl = readPackage(join(repo, "x86_64/musl-1.2.5-r0.apk"));
    assert.ok(musl.info.provides.includes("so:libc.musl-x86_64.so.1=1"));
    const sbom = JSON.parse(
      spawnSync("tar", ["-xzOf", join(repo, "x86_64/zlib-1.3.1-r0.apk"), "var/lib/db/sbom/zlib-1.3.1-r0.spdx.json"], { encoding: "utf8" }).stdout,
    ) as { packages: Array<{ name: string; comment?: string; primaryPackagePurpose?: string }> };
    const env = sbom.packages.find((p) => p.primaryPackagePurpose === "OTHER" && /stage 1/.test(p.comment ?? ""));
    assert.match(
      env?.comment ?? "",
      /stage 1: the host's toolchain mounted read-only \(build-base from the host\), and from the repository at \/sysroot: musl-1\.2\.5-r0, musl-dev-1\.2\.5-r0/,
    );
    assert.ok(sbom.packages.some((p) => p.name === "musl-dev" && /build environment package from the repository/.test(p.comment ?? "")));
    const source = sbom.packages.find((p) => p.primaryPackagePurpose === "SOURCE");
    assert.match(source?.comment ?? "", /Debian's dfsg repack of the upstream release/);
  });

  it("a program linked against our musl and zlib runs in a root holding only those packages", async () => {
    // The development root: musl-dev, zlib-dev (and what they pull in), installed by undistro.
    const devroot = join(dir, "devroot");
    await installPackages({ root: devroot, repositories: [repo], keyring: [`${key}.pub`], arch: "x86_64", world: ["musl-dev", "zlib-dev"] });
    writeFileSync(
      join(dir, "z.c"),
      `#include <stdio.h>\n#include <string.h>\n#include <zlib.h>\nint main(void) {\n  const char *text = "undistro undistro undistro undistro";\n  unsigned char packed[128], plain[128];\n  uLongf n = sizeof packed, m = sizeof plain;\n  if (compress(packed, &n, (const Bytef *)text, strlen(text)) != Z_OK) return 1;\n  if (uncompress(plain, &m, packed, n) != Z_OK) return 2;\n  printf("zlib %s: %lu -> %lu -> %.*s\\n", zlibVersion(), (unsigned long)strlen(text), (unsigned long)n, (int)m, plain);\n  return 0;\n}\n`,
    );
    // musl-gcc from the development root, relocated to it (the same wrapper works at /usr in an image).
    const cc = spawnSync(join(devroot, "usr/bin/musl-gcc"), ["-o", join(dir, "z"), join(dir, "z.c"), `-L${join(devroot, "usr/lib")}`, "-lz"], {
      encoding: "utf8",
    });
    assert.equal(cc.status, 0, cc.stderr);
    const interp = spawnSync("readelf", ["-l", join(dir, "z")], { encoding: "utf8" }).stdout;
    assert.match(interp, /Requesting program interpreter: \/lib\/ld-musl-x86_64\.so\.1/);
    // The runtime root: only zlib and what it depends on (musl).
    const root = join(dir, "root");
    const installed = await installPackages({ root, repositories: [repo], keyring: [`${key}.pub`], arch: "x86_64", world: ["zlib"] });
    assert.deepEqual(installed.packages.map((p) => p.name).sort(), ["musl", "zlib"]);
    mkdirSync(join(root, "opt"), { recursive: true });
    copyFileSync(join(dir, "z"), join(root, "opt/z"));
    const run = spawnSync("bwrap", ["--die-with-parent", "--unshare-all", "--bind", root, "/", "--clearenv", "--", "/opt/z"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^zlib 1\.3\.1: 35 -> \d+ -> undistro undistro undistro undistro\n$/);
    assert.ok(readFileSync(join(root, "usr/lib/apk/db/installed"), "utf8").includes("P:musl\n"));
  });

  it("stage 1: a program a step links against the environment's musl runs in that step (its loader is at /lib)", async () => {
    // nginx's configure runs what it compiles; the host has no musl of its own.
    const recipe = join(dir, "runs-what-it-links.yaml");
    writeFileSync(
      recipe,
      `package:
  name: runs-what-it-links
  version: "1"
  epoch: 0
  copyright:
    - license: MIT
environment:
  contents:
    packages: [musl-dev]
  environment:
    CC: musl-gcc
pipeline:
  - runs: |
      printf '#include <stdio.h>\\nint main(void) { puts("ran on musl"); return 0; }\\n' > t.c
      $CC -o t t.c
      ./t > said
      mkdir -p "\${{targets.destdir}}/usr/share/t"
      cp said "\${{targets.destdir}}/usr/share/t/said"
      test ! -e /usr/lib/ld-musl-x86_64.so.1
`,
    );
    const out = join(dir, "repo-runs");
    cpSync(repo, out, { recursive: true });
    await buildRecipe(recipe, { outDir: out, signingKey: loadSigningKey(key), logDir: join(dir, "logs-runs"), sourceDateEpoch: 0, arch: "x86_64" });
    const said = spawnSync("tar", ["-xzOf", join(out, "x86_64/runs-what-it-links-1-r0.apk"), "usr/share/t/said"], { encoding: "utf8" });
    assert.equal(said.stdout, "ran on musl\n");
  });

  it("a second build from the same inputs is bit-identical, package by package", async () => {
    const again = join(dir, "repo-again");
    await build(again, "x86_64", "-again");
    const apks = (d: string) =>
      readdirSync(join(d, "x86_64"))
        .filter((f) => f.endsWith(".apk"))
        .sort();
    assert.deepEqual(apks(again), apks(repo));
    assert.ok(apks(repo).length >= 5);
    for (const f of apks(repo)) assert.equal(sha256(join(again, "x86_64", f)), sha256(join(repo, "x86_64", f)), f);
  });

  it("the same recipes build for aarch64 with Debian's cross toolchain; the program runs under qemu-user", async () => {
    assert.ok(
      existsSync("/usr/bin/aarch64-linux-gnu-gcc") && existsSync("/usr/bin/qemu-aarch64-static"),
      "run scripts/setup.sh: it installs the cross toolchain and qemu",
    );
    const result = await build(repo, "aarch64");
    assert.deepEqual(
      result.built.map((b) => b.arch),
      ["aarch64", "aarch64"],
    );
    const zlib = readPackage(join(repo, "aarch64/zlib-1.3.1-r0.apk"));
    assert.equal(zlib.info.arch, "aarch64");
    assert.deepEqual(zlib.info.depends, ["so:libc.musl-aarch64.so.1"]);
    const devroot = join(dir, "devroot-aarch64");
    await installPackages({ root: devroot, repositories: [repo], keyring: [`${key}.pub`], arch: "aarch64", world: ["musl-dev", "zlib-dev"] });
    const cc = spawnSync(join(devroot, "usr/bin/musl-gcc"), ["-o", join(devroot, "z"), join(dir, "z.c"), `-L${join(devroot, "usr/lib")}`, "-lz"], {
      encoding: "utf8",
      env: { ...process.env, REALGCC: "aarch64-linux-gnu-gcc" },
    });
    assert.equal(cc.status, 0, cc.stderr);
    assert.match(spawnSync("readelf", ["-h", join(devroot, "z")], { encoding: "utf8" }).stdout, /Machine:\s+AArch64/);
    const run = spawnSync("qemu-aarch64-static", ["-L", devroot, join(devroot, "z")], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^zlib 1\.3\.1: 35 -> \d+ -> undistro undistro undistro undistro\n$/);
  });
});
