/**
 * The catalogue on a Wolfi-scale index (the solver benchmark's synthetic 15,000 names, 150,000
 * versions): build time against a floor (writing the same bytes into the same number of files),
 * and search latency of the page's own matching code against a floor (a bare substring scan).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeIndexArchive, generateApkKey, loadSigningKey } from "../src/apk/index.js";
import { buildCatalog, SEARCH_MATCH_JS } from "../src/catalog/index.js";
import { syntheticIndex } from "./solver.js";

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function siteFiles(dir: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...siteFiles(p));
    else out.push({ path: p, size: st.size });
  }
  return out;
}

export async function benchCatalog(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "undistro-bench-catalog-"));
  try {
    const key = loadSigningKey(generateApkKey(join(dir, "k"), { bits: 2048 }).privateKeyPath);
    mkdirSync(join(dir, "repo/x86_64"), { recursive: true });
    writeFileSync(join(dir, "repo/x86_64/APKINDEX.tar.gz"), encodeIndexArchive(syntheticIndex(), { signingKey: key, sourceDateEpoch: 0 }));
    let t = process.hrtime.bigint();
    const r = await buildCatalog({ repository: join(dir, "repo"), out: join(dir, "site") });
    const buildMs = ms(t);
    // Floor: the same number of files with the same sizes, written by the same process.
    const files = siteFiles(join(dir, "site"));
    const bytes = files.reduce((a, f) => a + f.size, 0);
    mkdirSync(join(dir, "floor"));
    t = process.hrtime.bigint();
    files.forEach((f, i) => {
      writeFileSync(join(dir, "floor", String(i)), Buffer.alloc(f.size, 0x61));
    });
    const floorMs = ms(t);
    console.log(
      `catalogue build: ${r.packages} packages, ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB in ${(buildMs / 1000).toFixed(2)} s; ` +
        `floor (same files written) ${(floorMs / 1000).toFixed(2)} s; ratio ${(buildMs / floorMs).toFixed(1)}x`,
    );

    const entries = JSON.parse(readFileSync(join(dir, "site/search.json"), "utf8")) as { n: string }[];
    const match = new Function(`return ${SEARCH_MATCH_JS}`)() as (e: unknown, q: string, lower: string) => unknown;
    const queries = ["app4000", "lib", "tool7", "so:lib5000.so", "cmd:tool77", "synthetic", "CVE-2024-1", "zzz-no-match"];
    for (const q of queries) {
      const lower = q.toLowerCase();
      t = process.hrtime.bigint();
      let hits = 0;
      for (const e of entries) if (match(e, q, lower)) hits++;
      const searchMs = ms(t);
      t = process.hrtime.bigint();
      let floorHits = 0;
      for (const e of entries) if (e.n.includes(lower)) floorHits++;
      const scanMs = ms(t);
      console.log(
        `  search ${JSON.stringify(q)}: ${hits} hits in ${searchMs.toFixed(2)} ms over ${entries.length} entries; floor (name substring scan) ${scanMs.toFixed(2)} ms (${floorHits} hits)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
