import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT, SLOW_SUITE_SKIP, tempDir } from "../helpers.js";
import { buildExtraImage, publishAndVerify, runcShell } from "./helpers.js";

// Slow suite (npm run test:slow): the gcc image of distro/extra, from the bootstrap's packages
// (test/bootstrap/bootstrap.slow.test.ts runs the bootstrap first into the same directory). It
// compiles and runs a C and a C++ program inside the image, as its non-root user, under runc.
const OUT = process.env.UNDISTRO_BOOTSTRAP_OUT ?? join(REPO_ROOT, ".cache/bootstrap");
const STAGE = process.env.UNDISTRO_GCC_STAGE ?? "stage2";

describe("the gcc image (distro/extra, from the bootstrap)", { skip: SLOW_SUITE_SKIP }, () => {
  let layout = "";
  let dir = "";
  let repo = "";

  it("compiles and runs C and C++ inside the image, as uid 65532, with undistro's GCC", () => {
    repo = join(OUT, STAGE);
    assert.ok(
      existsSync(join(repo, "x86_64/APKINDEX.tar.gz")),
      `no bootstrap repository at ${repo}: run undistro bootstrap --out ${OUT} (the bootstrap slow test does)`,
    );
    dir = tempDir();
    layout = buildExtraImage("gcc", dir, {
      "../../../out/keys/undistro.rsa.pub": join(OUT, "keys/undistro.rsa.pub"),
      "../../../out/bootstrap/stage2": repo,
    });
    const bundle = join(dir, "bundle");
    const u = spawnSync("umoci", ["unpack", "--image", `${layout}:latest`, bundle], { encoding: "utf8" });
    assert.equal(u.status, 0, u.stderr);
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    assert.deepEqual(spec.process.user, { uid: 65532, gid: 65532 });
    assert.deepEqual(spec.process.args, ["/usr/bin/gcc", "--version"]);
    writeFileSync(join(bundle, "rootfs/tmp/hello.c"), '#include <stdio.h>\nint main(void) { printf("hello from C, %ld\\n", __STDC_VERSION__); return 0; }\n');
    writeFileSync(
      join(bundle, "rootfs/tmp/hello.cc"),
      '#include <iostream>\n#include <vector>\n#include <numeric>\nint main() { std::vector<int> v{1, 2, 3, 4}; std::cout << "hello from C++, " << std::accumulate(v.begin(), v.end(), 0) << "\\n"; }\n',
    );
    const script = "gcc --version | head -1; gcc -O2 -o hello /tmp/hello.c && ./hello && g++ -O2 -o hellocc /tmp/hello.cc && ./hellocc && id -u";
    const r = runcShell(bundle, spec, script, "undistro-gcc");
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^gcc \(undistro 14\.2\.0-r0\) 14\.2\.0\nhello from C, 201710\nhello from C\+\+, 10\n65532\n$/);
  });

  it("is pushed to undistro's registry, signed and attested (SLSA, SPDX), pulled back and verified offline", async () => {
    assert.ok(layout, "the image was built by the test before");
    await publishAndVerify(layout, join(dir, "publish"), "gcc", join(OUT, "keys/undistro.rsa.pub"), [repo]);
  });
});
