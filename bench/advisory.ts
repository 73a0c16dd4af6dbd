/**
 * Security feed figures on Wolfi's real advisories: load + validate every document, build the
 * secdb, and scan a 1,300-package installed set against ~18,000 OSV records derived from them
 * (every advisory becomes a record for its package, fixed at its fixed version), advisories applied.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSecdb, type InstalledPackage, latestEvent, loadAdvisoryDirectory, loadOsvDatabase, scanPackages } from "../src/advisory/index.js";

function ms(start: bigint): string {
  return (Number(process.hrtime.bigint() - start) / 1e6).toFixed(0);
}

export function benchAdvisory(reference: string): void {
  let t = process.hrtime.bigint();
  const loaded = loadAdvisoryDirectory(join(reference, "wolfi-advisories"));
  const advisories = loaded.documents.reduce((n, d) => n + d.advisories.length, 0);
  console.log(
    `advisories: load + validate ${loaded.documents.length + loaded.invalid.length} documents (${advisories} advisories, 16 MB of YAML): ${ms(t)} ms`,
  );
  t = process.hrtime.bigint();
  const secdb = buildSecdb(loaded.documents);
  console.log(`advisories: secdb for ${secdb.packages.length} packages: ${ms(t)} ms`);
  const dir = mkdtempSync(join(tmpdir(), "undistro-bench-osv-"));
  try {
    let records = 0;
    for (const doc of loaded.documents) {
      const list = doc.advisories.map((a) => {
        const latest = latestEvent(a);
        const fixed = latest?.type === "fixed" ? String(latest.data?.["fixed-version"]) : undefined;
        records++;
        return {
          id: `BENCH-${a.id}`,
          aliases: a.aliases,
          severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" }],
          affected: [
            {
              package: { ecosystem: "Wolfi", name: doc.package },
              ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, ...(fixed ? [{ fixed }] : [])] }],
            },
          ],
        };
      });
      writeFileSync(join(dir, `${doc.package}.json`), JSON.stringify(list));
    }
    t = process.hrtime.bigint();
    const db = loadOsvDatabase(dir);
    console.log(`scan: load ${records} OSV records from ${db.files} files: ${ms(t)} ms`);
    const installed: InstalledPackage[] = loaded.documents.map((d) => ({ name: d.package, version: "0.0.1-r0", origin: d.package, location: "bench" }));
    t = process.hrtime.bigint();
    const report = scanPackages("bench", installed, db, loaded.documents, { ecosystem: "Wolfi" });
    console.log(
      `scan: ${installed.length} packages → ${report.findings.length} findings, ${report.resolved.length} resolved by advisories (not-affected at any version): ${ms(t)} ms`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
