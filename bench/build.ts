/** Sandbox overhead per step, and a real build (GNU hello) for scale. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateApkKey, loadSigningKey } from "../src/apk/index.js";
import { buildRecipe, runInSandbox } from "../src/build/index.js";

const REPO_ROOT = resolve(fileURLToPath(new URL("../../", import.meta.url)));

export async function benchBuild(): Promise<void> {
  const ws = mkdtempSync(join(tmpdir(), "undistro-bench-sandbox-"));
  try {
    const n = 100;
    let t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) spawnSync("/bin/sh", ["-c", "true"]);
    const bare = Number(process.hrtime.bigint() - t) / 1e6 / n;
    t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await runInSandbox({ workspace: ws, script: "true" });
    const boxed = Number(process.hrtime.bigint() - t) / 1e6 / n;
    console.log(
      `step overhead: ${n} steps of \`true\`: bare /bin/sh ${bare.toFixed(2)} ms each, in the bubblewrap sandbox ${boxed.toFixed(2)} ms each (+${(boxed - bare).toFixed(2)} ms)`,
    );
    const mirror = join(REPO_ROOT, ".cache/mirror");
    if (!existsSync(mirror)) {
      console.log("hello build: skipped (no source mirror; run scripts/fetch-sources.sh)");
      return;
    }
    const key = generateApkKey(join(ws, "bench"), { bits: 2048 }).privateKeyPath;
    t = process.hrtime.bigint();
    const r = await buildRecipe(join(REPO_ROOT, "distro/packages/hello.yaml"), {
      outDir: join(ws, "out"),
      signingKey: loadSigningKey(key),
      sourceMirrors: [mirror],
      cacheDir: join(ws, "cache"),
    });
    const total = Number(process.hrtime.bigint() - t) / 1e6;
    console.log(
      `hello build (configure, make, install, strip, 3 packages with SBOMs, signed, indexed): ${(total / 1000).toFixed(1)} s; ${r.packages.length} packages`,
    );
    // The same compile without undistro, for the sandbox's share of it.
    const bareDir = join(ws, "bare");
    t = process.hrtime.bigint();
    const script = `set -e; mkdir -p ${bareDir} && cd ${bareDir} && tar -xf ${join(mirror, "sha256/31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b")} --strip-components=1 && ./configure --prefix=/usr >/dev/null && make -j$(nproc) >/dev/null && make install DESTDIR=${bareDir}/dest >/dev/null`;
    spawnSync("/bin/sh", ["-c", script], { stdio: "ignore" });
    const bareBuild = Number(process.hrtime.bigint() - t) / 1e6;
    console.log(
      `the same configure/make/install run bare on the host: ${(bareBuild / 1000).toFixed(1)} s (undistro total is ${(total / bareBuild).toFixed(2)}x, including packaging)`,
    );
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}
