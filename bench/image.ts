/** Image assembly: a 10-package image from a warm cache, split by phase, against gzip's floor. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { emptyPackageInfo, generateApkKey, indexDirectory, loadSigningKey, writePackage } from "../src/apk/index.js";
import { buildImage } from "../src/image/index.js";

function content(seed: number, size: number): Buffer {
  const words = ["static", "const", "return", "include", "struct", "0x7f45", "buffer", "length", "undistro", "apk", "\n", "{", "}", ";"];
  const out = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  let pos = 0;
  while (pos < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    pos += out.write(`${words[x % words.length]} `, pos);
    if ((x & 0x3f) === 0) pos += out.write(String(x), pos);
  }
  return out;
}

export async function benchImage(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "undistro-bench-image-"));
  try {
    const key = generateApkKey(join(dir, "k"), { bits: 2048 }).privateKeyPath;
    const repo = join(dir, "repo/x86_64");
    mkdirSync(repo, { recursive: true });
    const names: string[] = [];
    for (let i = 0; i < 10; i++) {
      const stage = join(dir, `stage${i}`);
      mkdirSync(join(stage, `usr/share/pkg${i}`), { recursive: true });
      for (let f = 0; f < 50; f++) writeFileSync(join(stage, `usr/share/pkg${i}/file${f}`), content(i * 100 + f, 100_000));
      const info = emptyPackageInfo(`pkg${i}`, "1.0-r0", "x86_64");
      if (i > 0) info.depends = [`pkg${i - 1}`];
      await writePackage({ sourceDir: stage, info, signingKey: loadSigningKey(key), sourceDateEpoch: 0 }, join(repo, `pkg${i}-1.0-r0.apk`));
      names.push(`pkg${i}`);
    }
    indexDirectory(repo, { signingKey: loadSigningKey(key), sourceDateEpoch: 0 });
    writeFileSync(join(dir, "img.yaml"), `contents:\n  keyring: [${key}.pub]\n  repositories: [${join(dir, "repo")}]\n  packages: [pkg9]\narchs: [x86_64]\n`);
    await buildImage(join(dir, "img.yaml"), { outDir: join(dir, "warm"), sourceDateEpoch: 0 }); // warm caches and JIT
    const runs = 3;
    const sums: Record<string, number> = {};
    let total = 0;
    let layerBytes = 0;
    let layerDigest = "";
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = await buildImage(join(dir, "img.yaml"), { outDir: join(dir, `out${i}`), sourceDateEpoch: 0 });
      total += performance.now() - t;
      const a = r.archs[0];
      if (!a) throw new Error("no arch");
      for (const [k, v] of Object.entries(a.timings)) sums[k] = (sums[k] ?? 0) + v;
      layerBytes = a.layer.uncompressedSize;
      layerDigest = a.layer.digest;
    }
    const gz = readFileSync(join(dir, "out0/blobs/sha256", layerDigest.slice(7)));
    const tar = zlib.gunzipSync(gz);
    let t = performance.now();
    for (let i = 0; i < runs; i++) zlib.gzipSync(tar, { level: 6 });
    const floor = (performance.now() - t) / runs;
    const avg = total / runs;
    const split = Object.entries(sums)
      .map(([k, v]) => `${k} ${(v / runs).toFixed(0)} ms`)
      .join(", ");
    console.log(`image of 10 packages (${(layerBytes / 1e6).toFixed(1)} MB layer): ${avg.toFixed(0)} ms per build (mean of ${runs}); ${split}`);
    console.log(
      `  floor: node's gzipSync of the same layer ${floor.toFixed(0)} ms; build/floor = ${(avg / floor).toFixed(2)}x (layers over 4 MiB are compressed in parallel 1 MiB chunks)`,
    );
    t = performance.now();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
