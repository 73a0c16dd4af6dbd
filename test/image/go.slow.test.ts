import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readIndexFile, readPackage } from "../../src/apk/index.js";
import { BUILD_RECORD_FILE, parseBuildRecord } from "../../src/build/index.js";
import { REPO_ROOT, SLOW_SUITE_SKIP, tempDir } from "../helpers.js";
import { BOOTSTRAP_KEY, BOOTSTRAP_OUT, bootstrapExtraStage, buildExtraImage, buildWithBootstrapKey, publishAndVerify, runcShell } from "./helpers.js";

// Slow suite (npm run test:slow): Go from source by its bootstrap chain, with no compiler of the
// build machine: the bootstrap's `extra` stage builds GCC's Go front end (gcc-go) with stage 1's
// GCC, gccgo builds Go 1.19, then Go 1.21, 1.23 and 1.24 each build the next, every one in a root
// made only of undistro packages; then the go image, run under runc with no network. The bootstrap
// state is shared with the bootstrap's slow test (UNDISTRO_BOOTSTRAP_OUT, default .cache/bootstrap):
// cold, stages 0 and 1 take about 80 minutes on 2 cores and the extra stage about an hour; a rerun
// keeps what did not change.
const EXTRA = join(BOOTSTRAP_OUT, "extra");
/** The base set (busybox, the CA bundle, baselayout) for both architectures, under the bootstrap's key. */
const BASE = join(BOOTSTRAP_OUT, "base");
const CHAIN = ["go-1.19", "go-1.21", "go-1.23", "go-1.24"];

/** The build record of the package NAME in the extra stage's repository. */
function record(name: string) {
  const dir = join(EXTRA, "x86_64");
  const entry = readIndexFile(join(dir, "APKINDEX.tar.gz")).entries.find((e) => e.name === name);
  assert.ok(entry, `${name} is not in ${dir}'s index`);
  const apk = `${name}-${entry.version}.apk`;
  const bytes = readPackage(join(dir, apk)).controlFiles[BUILD_RECORD_FILE];
  assert.ok(bytes, `${apk} carries no build record`);
  return parseBuildRecord(bytes, apk);
}

describe("the go image (distro/extra), Go built from undistro's gccgo up", { skip: SLOW_SUITE_SKIP, timeout: 6 * 3600_000 }, () => {
  let dir: string;
  let layout: string;

  before(() => {
    // With the aarch64 Go: cross-built by the x86_64 chain's Go 1.23 (the extra-aarch64 stage).
    bootstrapExtraStage();
    for (const arch of ["x86_64", "aarch64"]) buildWithBootstrapKey(join(REPO_ROOT, "distro/packages"), BASE, "-j", "2", "--arch", arch);
    dir = tempDir();
    layout = buildExtraImage("go", dir, {
      "../../../out/keys/undistro.rsa.pub": `${BOOTSTRAP_KEY}.pub`,
      "../../../out/bootstrap/extra": EXTRA,
      "../../../out/bootstrap/extra-aarch64": join(BOOTSTRAP_OUT, "extra-aarch64"),
      "../../../out/repo": BASE,
    });
  });

  it("gccgo is undistro's, and each Go of the chain was built by the one before it, all hermetically", () => {
    const gccgo = record("gcc-go");
    assert.equal(gccgo.settings.hermetic, true);
    assert.ok(
      gccgo.environment.packages.some((p) => p.name === "gcc"),
      "gcc-go is built by undistro's gcc",
    );
    let before = "gcc-go";
    for (const name of CHAIN) {
      const r = record(name);
      assert.equal(r.settings.hermetic, true, `${name} is built hermetically`);
      assert.deepEqual(r.environment.hostProvided, []);
      assert.equal(r.host, undefined, "nothing of the build machine");
      const names = r.environment.packages.map((p) => p.name).sort();
      assert.ok(names.includes(before), `${name}'s build root holds ${before}: ${names.join(", ")}`);
      // No other Go in the root than the one before it.
      assert.ok(!names.some((n) => /^go-1\./.test(n) && n !== before), names.join(", "));
      before = name;
    }
  });

  /** One platform of the two-architecture image (skopeo picks it), unpacked as a runc bundle. */
  function unpack(arch: "amd64" | "arm64"): string {
    const single = join(dir, arch);
    const c = spawnSync("skopeo", ["copy", "--override-arch", arch, `oci:${layout}:latest`, `oci:${single}:latest`], { encoding: "utf8" });
    assert.equal(c.status, 0, c.stderr);
    const bundle = join(dir, `bundle-${arch}`);
    const u = spawnSync("umoci", ["unpack", "--image", `${single}:latest`, bundle], { encoding: "utf8" });
    assert.equal(u.status, 0, u.stderr);
    return bundle;
  }

  it("go version names the release; a Go program builds and runs inside, offline, as uid 65532", () => {
    const bundle = unpack("amd64");
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    assert.deepEqual(spec.process.user, { uid: 65532, gid: 65532 });
    assert.deepEqual(spec.process.args, ["/usr/bin/go", "version"]);
    // No network in the container: its own network namespace, with no interface up.
    assert.ok(spec.linux.namespaces.some((n: { type: string }) => n.type === "network"));
    const src = join(bundle, "rootfs/home/build/hello");
    const out = join(bundle, "rootfs/home/build/out");
    mkdirSync(out);
    chownSync(out, 65532, 65532);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "go.mod"), "module example.com/hello\n\ngo 1.24\n");
    writeFileSync(
      join(src, "main.go"),
      'package main\n\nimport (\n\t"crypto/sha256"\n\t"fmt"\n\t"runtime"\n)\n\nfunc main() {\n\tfmt.Printf("hello from %s, %x\\n", runtime.Version(), sha256.Sum256([]byte("undistro")))\n}\n',
    );
    for (const p of [src, join(src, "go.mod"), join(src, "main.go")]) chownSync(p, 65532, 65532);
    const script =
      "go version && go env GOTOOLCHAIN CGO_ENABLED GOROOT && cd hello && go build -o hello . && ./hello && id -u && GOARCH=arm64 go build -o ../out/hello-arm64 .";
    const r = runcShell(bundle, spec, script, "undistro-go");
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const sum = spawnSync("sh", ["-c", "printf undistro | sha256sum"], { encoding: "utf8" }).stdout.split(" ")[0];
    assert.equal(r.stdout, `go version go1.24.9 linux/amd64\nlocal\n0\n/usr/lib/go\nhello from go1.24.9, ${sum}\n65532\n`);
    // Cross-compiled for arm64 inside the image, run on this machine under qemu.
    const arm = spawnSync("qemu-aarch64-static", [join(out, "hello-arm64")], { encoding: "utf8" });
    assert.equal(arm.status, 0, arm.stderr);
    assert.equal(arm.stdout, `hello from go1.24.9, ${sum}\n`);
  });

  it("the arm64 image's Go is an aarch64 Go 1.24.9 (run under qemu)", () => {
    const bundle = unpack("arm64");
    const go = join(bundle, "rootfs/usr/lib/go/bin/go");
    assert.match(spawnSync("file", ["-b", go], { encoding: "utf8" }).stdout, /ARM aarch64.*statically linked/);
    const v = spawnSync("qemu-aarch64-static", [go, "version"], { encoding: "utf8" });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout, "go version go1.24.9 linux/arm64\n");
    // No cross compiler's name baked in by the cross build: the default C compiler, as on amd64.
    const cc = spawnSync("qemu-aarch64-static", [go, "env", "CC"], { encoding: "utf8", env: { ...process.env, HOME: dir } });
    assert.equal(cc.stdout, "gcc\n", cc.stderr);
  });

  it("is pushed to undistro's registry, signed and attested (SLSA, an SPDX SBOM per platform), pulled back and verified offline", async () => {
    const output = await publishAndVerify(layout, join(dir, "publish"), "go", `${BOOTSTRAP_KEY}.pub`, [EXTRA, join(BOOTSTRAP_OUT, "extra-aarch64"), BASE]);
    assert.match(output, /linux\/arm64/, output);
  });
});
