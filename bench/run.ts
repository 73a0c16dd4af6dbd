/**
 * Benchmarks for the APK layer (issue: foundation). Prints figures; asserts nothing about time.
 *   npm run bench            all
 *   npm run bench -- write   one of: write, index, parse, advisory, solver, install, build, image, registry, startup;
 *                            `distro` (the base set cold and warm, minutes: not part of "all")
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import {
  END_OF_ARCHIVE,
  emptyPackageInfo,
  encodeEntry,
  generateApkKey,
  indexDirectory,
  loadSigningKey,
  parseIndexArchive,
  writePackage,
} from "../src/apk/index.js";
import { benchAdvisory } from "./advisory.js";
import { benchBuild } from "./build.js";
import { benchCatalog } from "./catalog.js";
import { benchDistro } from "./distro.js";
import { benchImage } from "./image.js";
import { benchInstall } from "./install.js";
import { benchRegistry } from "./registry.js";
import { benchSolver } from "./solver.js";
import { benchStartup } from "./startup.js";

const REPO_ROOT = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const REFERENCE = join(process.env.UNDISTRO_SHARED ?? resolve(REPO_ROOT, "../shared"), "reference");

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Deterministic, moderately compressible content (words from a small vocabulary, like text and code). */
function content(seed: number, size: number): Buffer {
  const words = ["static", "const", "return", "include", "struct", "0x7f45", "buffer", "length", "undistro", "apk", "\n", "{", "}", "(", ")", ";"];
  const out = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  let pos = 0;
  while (pos < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length] as string;
    pos += out.write(`${w} `, pos);
    if ((x & 0xff) === 0) pos += out.write(String(x), pos);
  }
  return out;
}

async function benchWrite(dir: string, keyPath: string): Promise<void> {
  const files = 5000;
  const size = 20_000;
  const stage = join(dir, "stage");
  for (let i = 0; i < files; i++) {
    const sub = join(stage, "usr/share/bench", String(i % 50));
    if (i < 50) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file-${i}.dat`), content(i, size));
  }
  const total = files * size;
  for (const level of [6, 9]) {
    const t0 = process.hrtime.bigint();
    const pkg = await writePackage(
      {
        sourceDir: stage,
        info: emptyPackageInfo("bench", "1.0-r0", "x86_64"),
        signingKey: loadSigningKey(keyPath),
        sourceDateEpoch: 0,
        compressionLevel: level,
      },
      join(dir, `bench-${level}.apk`),
    );
    const write = seconds(t0);
    // The floor: node's gzip of the same uncompressed data tar, in one call on one thread.
    const tar: Buffer[] = [];
    for (let i = 0; i < files; i++) {
      const c = content(i, size);
      tar.push(
        ...encodeEntry(
          { name: `f${i}`, type: "file", mode: 0o644, uid: 0, gid: 0, uname: "root", gname: "root", mtime: 0, size: c.length, linkname: "", pax: {} },
          c,
        ),
      );
    }
    tar.push(END_OF_ARCHIVE);
    const raw = Buffer.concat(tar);
    const t1 = process.hrtime.bigint();
    const gz = zlib.gzipSync(raw, { level });
    const floor = seconds(t1);
    console.log(
      `write+sign ${files} files / ${mb(total)} MB, gzip level ${level}: ${write.toFixed(2)} s (${mb(total / write)} MB/s), ` +
        `package ${mb(pkg.size)} MB; node gzipSync of the same tar: ${floor.toFixed(2)} s (${mb(raw.length / floor)} MB/s, ${mb(gz.length)} MB); ` +
        `writer/floor = ${(write / floor).toFixed(2)}x`,
    );
  }
}

async function benchIndex(dir: string, keyPath: string): Promise<void> {
  const count = 5000;
  const repo = join(dir, "repo");
  mkdirSync(repo);
  const stage = join(dir, "small");
  mkdirSync(join(stage, "usr/lib"), { recursive: true });
  writeFileSync(join(stage, "usr/lib/lib.so"), content(1, 4000));
  const key = loadSigningKey(keyPath);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const info = emptyPackageInfo(`pkg-${String(i).padStart(5, "0")}`, `1.${i % 7}.${i}-r0`, "x86_64");
    info.depends = [`so:libc.so.6`, `pkg-${String((i * 7) % count).padStart(5, "0")}`];
    info.provides = [`so:libpkg${i}.so.1=1`];
    await writePackage({ sourceDir: stage, info, signingKey: key, sourceDateEpoch: 0, compressionLevel: 6 }, join(repo, `${info.name}-${info.version}.apk`));
  }
  const made = seconds(t0);
  const t1 = process.hrtime.bigint();
  const r = indexDirectory(repo, { signingKey: key, sourceDateEpoch: 0 });
  const indexed = seconds(t1);
  console.log(
    `create ${count} small signed packages: ${made.toFixed(2)} s (${((made * 1000) / count).toFixed(2)} ms each); index ${r.packages} packages: ${indexed.toFixed(2)} s (${(count / indexed) | 0} packages/s)`,
  );
}

function benchParse(): void {
  const file = join(REFERENCE, "apko/pkg/apk/apk/testdata/alpine-317/APKINDEX.tar.gz");
  const buf = readFileSync(file);
  let entries = 0;
  const runs = 10;
  parseIndexArchive(buf, file);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) entries = parseIndexArchive(buf, file).entries.length;
  const each = seconds(t0) / runs;
  console.log(`parse Alpine 3.17 APKINDEX.tar.gz (${mb(buf.length)} MB, ${entries} packages): ${(each * 1000).toFixed(1)} ms per parse (mean of ${runs})`);
}

async function main(): Promise<void> {
  const which = process.argv[2];
  const dir = mkdtempSync(join(tmpdir(), "undistro-bench-"));
  try {
    const keyPath = generateApkKey(join(dir, "bench"), { bits: 4096 }).privateKeyPath;
    console.log(`node ${process.version}, ${process.arch}`);
    if (!which || which === "startup") benchStartup(REPO_ROOT);
    if (!which || which === "parse") benchParse();
    if (!which || which === "advisory") benchAdvisory(REFERENCE);
    if (!which || which === "solver") benchSolver();
    if (!which || which === "install") await benchInstall(REPO_ROOT, dir);
    if (!which || which === "build") await benchBuild();
    if (which === "distro") await benchDistro(REPO_ROOT);
    if (!which || which === "image") await benchImage();
    if (!which || which === "catalog") await benchCatalog();
    if (!which || which === "registry") await benchRegistry();
    if (!which || which === "write") await benchWrite(dir, keyPath);
    if (!which || which === "index") await benchIndex(dir, keyPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
