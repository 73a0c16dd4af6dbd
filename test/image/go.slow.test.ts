import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readIndexFile, readPackage } from "../../src/apk/index.js";
import { BUILD_RECORD_FILE, parseBuildRecord } from "../../src/build/index.js";
import { REPO_ROOT, runBin, tempDir } from "../helpers.js";
import { buildExtraImage, runcShell } from "./helpers.js";

// Slow suite (npm run test:slow): Go from source by its bootstrap chain — the build machine's gccgo
// builds Go 1.19 (distro/extra/go-bootstrap), then Go 1.21, 1.23 and 1.24 each build the next in a
// root made only of the previous Go and busybox (distro/extra/go, --hermetic) — then the go image,
// run under runc with no network. Cold: about 25 minutes on 2 cores; the repository under
// UNDISTRO_EXTRA_OUT (default .cache/extra, shared with the nginx test) keeps what did not change.
const OUT = process.env.UNDISTRO_EXTRA_OUT ?? join(REPO_ROOT, ".cache/extra");
const KEY = join(OUT, "keys/undistro.rsa");
const REPO = join(OUT, "repo");
const CHAIN = ["go-1.19", "go-1.21", "go-1.23", "go-1.24"];

function build(dir: string, ...extra: string[]): void {
  const r = spawnSync(
    join(REPO_ROOT, "bin/undistro"),
    ["build", dir, ...extra, "--out", REPO, "--signing-key", KEY, "--source-mirror", join(REPO_ROOT, ".cache/mirror"), "--log-dir", join(OUT, "logs")],
    { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "inherit", "pipe"], maxBuffer: 64 << 20 },
  );
  assert.equal(r.status, 0, r.stderr.slice(-4000));
}

/** The build record of the package NAME in the repository. */
function record(name: string) {
  const dir = join(REPO, "x86_64");
  const entry = readIndexFile(join(dir, "APKINDEX.tar.gz")).entries.find((e) => e.name === name);
  assert.ok(entry, `${name} is not in ${dir}'s index`);
  const apk = `${name}-${entry.version}.apk`;
  const bytes = readPackage(join(dir, apk)).controlFiles[BUILD_RECORD_FILE];
  assert.ok(bytes, `${apk} carries no build record`);
  return parseBuildRecord(bytes, apk);
}

describe("the go image (distro/extra), Go built from gccgo up", { timeout: 3 * 3600_000 }, () => {
  let dir: string;
  let layout: string;

  before(() => {
    const fetched = spawnSync("bash", ["scripts/fetch-sources.sh", "--extra"], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(fetched.status, 0, fetched.stderr);
    mkdirSync(join(OUT, "keys"), { recursive: true });
    if (!existsSync(KEY)) assert.equal(runBin(["keygen", "--apk", join(OUT, "keys/undistro")]).code, 0);
    build(join(REPO_ROOT, "distro/packages"), "-j", "2");
    build(join(REPO_ROOT, "distro/extra/go-bootstrap"));
    build(join(REPO_ROOT, "distro/extra/go"), "--hermetic");
    build(join(REPO_ROOT, "distro/packages"), "-j", "2", "--arch", "aarch64");
    build(join(REPO_ROOT, "distro/extra/go/go-1.24.yaml"), "--arch", "aarch64", "--hermetic");
    dir = tempDir();
    layout = buildExtraImage("go", dir, { "../../../out/keys/undistro.rsa.pub": `${KEY}.pub`, "../../../out/repo": REPO });
  });

  it("each Go of the chain was built by the one before it, from gccgo, the last three hermetically", () => {
    const first = record("go-1.19");
    assert.equal(first.settings.hermetic, false);
    assert.deepEqual(first.environment.hostProvided, ["gccgo"]);
    assert.ok(
      first.host?.some((t) => t.name === "gccgo-12"),
      "the record names the build machine's gccgo",
    );
    for (let i = 1; i < CHAIN.length; i++) {
      const r = record(CHAIN[i] as string);
      assert.equal(r.settings.hermetic, true, `${CHAIN[i]} is built hermetically`);
      const names = r.environment.packages.map((p) => p.name).sort();
      assert.ok(names.includes(CHAIN[i - 1] as string), `${CHAIN[i]}'s build root holds ${CHAIN[i - 1]}: ${names.join(", ")}`);
      assert.ok(!names.some((n) => /^(gcc|binutils|go-1\.(?!19|21|23))/.test(n) && n !== CHAIN[i - 1]), names.join(", "));
      assert.equal(r.host, undefined, "nothing of the build machine");
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
  });
});
