import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { generateApkKey, loadSigningKey, readPackage } from "../../src/apk/index.js";
import { buildRecipe } from "../../src/build/index.js";
import { installPackages } from "../../src/image/index.js";
import { REPO_ROOT, SLOW_SUITE_SKIP, tempDir } from "../helpers.js";

const MIRROR = join(REPO_ROOT, ".cache/mirror");

// Slow suite (npm run test:slow): glibc from its release tarball takes about 5 minutes on 2 cores.
describe("the glibc flavour", { skip: SLOW_SUITE_SKIP }, () => {
  it("builds glibc 2.36 from source; a program runs in a root holding only our glibc", { timeout: 90 * 60_000 }, async (t) => {
    const fetched = spawnSync("bash", ["scripts/fetch-sources.sh", "glibc"], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(fetched.status, 0, fetched.stderr);
    const dir = tempDir(t);
    const key = generateApkKey(join(dir, "undistro"), { bits: 2048 }).privateKeyPath;
    const options = { outDir: join(dir, "repo"), signingKey: loadSigningKey(key), sourceMirrors: [MIRROR], logDir: join(dir, "logs"), sourceDateEpoch: 0 };
    // glibc's build environment: the Linux UAPI headers, built from the base set's recipe.
    await buildRecipe(join(REPO_ROOT, "distro/packages/linux-headers.yaml"), options);
    const started = Date.now();
    const report = await buildRecipe(join(REPO_ROOT, "distro/flavours/glibc/glibc.yaml"), options);
    console.log(`glibc: built ${report.packages.map((p) => p.name).join(", ")} in ${((Date.now() - started) / 60000).toFixed(1)} min`);
    const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
    const glibc = readPackage(join(dir, "repo", arch, "glibc-2.36-r0.apk"));
    assert.ok(glibc.info.provides.includes("so:libc.so.6=6"), glibc.info.provides.join(" "));
    // glibc's headers include the kernel's: glibc-dev pulls in the linux-headers glibc was built against.
    assert.ok(readPackage(join(dir, "repo", arch, "glibc-dev-2.36-r0.apk")).info.depends.includes("linux-headers"));
    const root = join(dir, "root");
    const installed = await installPackages({ root, repositories: [join(dir, "repo")], keyring: [`${key}.pub`], arch, world: ["glibc"] });
    assert.deepEqual(
      installed.packages.map((p) => p.name),
      ["glibc"],
    );
    // A program the host's gcc links against glibc 2.36 runs on our glibc alone.
    writeFileSync(
      join(dir, "p.c"),
      '#include <stdio.h>\n#include <gnu/libc-version.h>\nint main(void) { printf("glibc %s\\n", gnu_get_libc_version()); return 0; }\n',
    );
    mkdirSync(join(root, "opt"), { recursive: true });
    const cc = spawnSync("gcc", ["-o", join(root, "opt/p"), join(dir, "p.c")], { encoding: "utf8" });
    assert.equal(cc.status, 0, cc.stderr);
    assert.ok(existsSync(join(root, arch === "x86_64" ? "lib64/ld-linux-x86-64.so.2" : "lib/ld-linux-aarch64.so.1")));
    assert.ok(!glibc.info.depends.some((d) => /^cmd:(bash|perl)$/.test(d)), `scripts live in glibc-tools: ${glibc.info.depends.join(" ")}`);
    const run = spawnSync("bwrap", ["--die-with-parent", "--unshare-all", "--bind", root, "/", "--clearenv", "--", "/opt/p"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "glibc 2.36\n");
    copyFileSync(join(dir, "logs", `glibc-2.36-r0.${arch}.log`), join(dir, "kept.log"));
  });
});
