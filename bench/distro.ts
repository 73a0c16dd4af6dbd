/**
 * The base set, built from the source mirror: cold (empty repository and build state) and warm
 * (nothing changed: every recipe skipped), with each recipe's time, `-j 2`.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateApkKey, loadSigningKey } from "../src/apk/index.js";
import { buildGraph, hostArch } from "../src/build/index.js";

export async function benchDistro(repoRoot: string): Promise<void> {
  const mirror = join(repoRoot, ".cache/mirror");
  if (!existsSync(mirror)) {
    console.log("distro: no source mirror (run scripts/setup.sh); skipped");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "undistro-bench-distro-"));
  try {
    const key = loadSigningKey(generateApkKey(join(dir, "k"), { bits: 2048 }).privateKeyPath);
    for (const arch of [hostArch(), ...(hostArch() === "x86_64" && existsSync("/usr/bin/aarch64-linux-gnu-gcc") ? ["aarch64"] : [])]) {
      const opts = {
        outDir: join(dir, "repo"),
        signingKey: key,
        sourceMirrors: [mirror],
        cacheDir: join(dir, "cache"),
        logDir: join(dir, "logs"),
        sourceDateEpoch: 0,
        arch,
        jobs: 2,
      };
      let t = Date.now();
      const cold = await buildGraph(join(repoRoot, "distro/packages"), opts);
      const coldMs = Date.now() - t;
      const each = cold.built.map((b) => `${b.packages[0]?.name ?? b.recipe} ${(b.durationMs / 1000).toFixed(1)} s`).join(", ");
      console.log(`distro ${arch}: cold ${(coldMs / 1000).toFixed(1)} s for ${cold.built.length} recipes, -j 2 (${each})`);
      t = Date.now();
      const warm = await buildGraph(join(repoRoot, "distro/packages"), opts);
      console.log(`distro ${arch}: warm ${((Date.now() - t) / 1000).toFixed(2)} s, ${warm.built.length} rebuilt, ${warm.skipped.length} unchanged`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
