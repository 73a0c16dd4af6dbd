// grype (pinned in scripts/peers.txt) scanning an image of undistro's own packages offline, with a
// vulnerability database built here by grype's own builder (scripts/peers/grypedb) from NVD
// records: grype matches undistro's apk packages by the CPEs syft derives for them (it knows no
// "undistro" distribution feed, so NVD is its only source, as for any distro it does not know), and
// `undistro vex` (OpenVEX from the advisories) is what takes the fixed and not-affected findings
// away, which is the job VEX does for scanners.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { BIN } from "../helpers.js";
import { ownPackagesImage, peer, runPeer, scratchDir, verdictAdvisories } from "./helpers.js";

/** The advisories of the OpenVEX check in syft.peers.test.ts, with other ids. */
const ADVISORIES = verdictAdvisories(
  ["UDA-2222-3333-5552", "UDA-2222-3333-5553", "UDA-2222-3333-5554", "UDA-2222-3333-5555"],
  ["CVE-2099-1001", "CVE-2099-1002", "CVE-2099-1003", "CVE-2099-1004"],
);

/** An NVD API 2.0 record: every version of the product CPE is vulnerable (NVD knows nothing of distro patches). */
function nvdRecord(id: string, cpe: string) {
  return {
    id,
    sourceIdentifier: "cve@mitre.org",
    published: "2026-11-01T00:00:00.000",
    lastModified: "2026-11-02T00:00:00.000",
    vulnStatus: "Analyzed",
    descriptions: [{ lang: "en", value: `A test vulnerability in the CA certificate bundle (${id}).` }],
    metrics: {
      cvssMetricV31: [
        {
          source: "nvd@nist.gov",
          type: "Primary",
          cvssData: {
            version: "3.1",
            vectorString: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            baseScore: 9.8,
            baseSeverity: "CRITICAL",
            attackVector: "NETWORK",
            attackComplexity: "LOW",
            privilegesRequired: "NONE",
            userInteraction: "NONE",
            scope: "UNCHANGED",
            confidentialityImpact: "HIGH",
            integrityImpact: "HIGH",
            availabilityImpact: "HIGH",
          },
          exploitabilityScore: 3.9,
          impactScore: 5.9,
        },
      ],
    },
    configurations: [
      { nodes: [{ operator: "OR", negate: false, cpeMatch: [{ vulnerable: true, criteria: cpe, matchCriteriaId: "00000000-0000-0000-0000-000000000001" }] }] },
    ],
    references: [{ url: `https://undistro.invalid/advisories/${id}`, source: "cve@mitre.org" }],
  };
}

interface GrypeReport {
  matches: Array<{ vulnerability: { id: string }; artifact: { name: string; cpes: Array<string | { cpe: string }> } }>;
  ignoredMatches?: Array<{ vulnerability: { id: string }; appliedIgnoreRules: Array<{ namespace?: string; "vex-status"?: string }> }>;
}

describe("grype on undistro's images, offline, with a database built here", () => {
  let dir: string;
  let layout: string;
  const undistro = (...args: string[]) => runPeer(BIN, args, { timeoutMs: 600_000 });
  const env = { GRYPE_DB_AUTO_UPDATE: "false", GRYPE_DB_VALIDATE_AGE: "false", GRYPE_CHECK_FOR_APP_UPDATE: "false" };
  const grype = (dbDir: string, ...args: string[]) => runPeer(peer("grype"), args, { env: { ...env, GRYPE_DB_CACHE_DIR: dbDir }, timeoutMs: 300_000 });

  before(async () => {
    dir = scratchDir();
    layout = await ownPackagesImage(dir);
  });

  it("finds the NVD findings by CPE, and undistro's OpenVEX takes away exactly the fixed and not-affected ones", async () => {
    // The CPEs syft derives for undistro's package (grype matches by them): NVD's records name one of them.
    const syftJson = await runPeer(peer("syft"), ["scan", `oci-dir:${layout}`, "-o", "syft-json", "-q"], { env: { SYFT_CHECK_FOR_APP_UPDATE: "false" } });
    const artifact = (JSON.parse(syftJson.stdout) as { artifacts: Array<{ name: string; cpes: Array<{ cpe: string }> }> }).artifacts.find(
      (a) => a.name === "ca-certificates-bundle",
    );
    const cpe = artifact?.cpes[0]?.cpe;
    assert.ok(cpe, "syft derives a CPE for ca-certificates-bundle");
    const product = cpe.split(":").slice(0, 5).join(":");
    const ids = ["CVE-2099-1001", "CVE-2099-1002", "CVE-2099-1003", "CVE-2099-1004"];
    writeFileSync(join(dir, "nvd.json"), JSON.stringify(ids.map((id) => nvdRecord(id, `${product}:*:*:*:*:*:*:*:*`))));
    const dbDir = join(dir, "db");
    const built = await runPeer(peer("grypedb"), [join(dir, "nvd.json"), dbDir]);
    assert.equal(built.status, 0, built.stderr);

    const plain = await grype(dbDir, `oci-dir:${layout}`, "-o", "json", "-q");
    assert.equal(plain.status, 0, plain.stderr);
    const plainReport = JSON.parse(plain.stdout) as GrypeReport & { distro: { name: string } };
    // grype's distro types are a fixed list without undistro: it reads the os-release but names no
    // distro, so no distro feed applies and NVD (by CPE) is all it matches with.
    assert.equal(plainReport.distro.name, "", "grype knows no undistro distribution");
    const found = plainReport.matches.map((m) => `${m.artifact.name} ${m.vulnerability.id}`).sort();
    assert.deepEqual(
      found,
      ids.map((id) => `ca-certificates-bundle ${id}`),
      "NVD alone: every record matches",
    );

    mkdirSync(join(dir, "advisories"));
    writeFileSync(join(dir, "advisories/ca-certificates-bundle.advisories.yaml"), ADVISORIES);
    const vex = join(dir, "vex.json");
    const v = await undistro("vex", `oci:${layout}`, "--advisories", join(dir, "advisories"), "--out", vex);
    assert.equal(v.status, 0, v.stderr);
    const filtered = await grype(dbDir, `oci-dir:${layout}`, "--vex", vex, "-o", "json", "-q");
    assert.equal(filtered.status, 0, filtered.stderr);
    const report = JSON.parse(filtered.stdout) as GrypeReport;
    assert.deepEqual(report.matches.map((m) => m.vulnerability.id).sort(), ["CVE-2099-1003", "CVE-2099-1004"], "under investigation and affected stay");
    const ignored = (report.ignoredMatches ?? []).map((m) => `${m.vulnerability.id} ${m.appliedIgnoreRules.map((r) => r["vex-status"]).join(",")}`).sort();
    assert.deepEqual(ignored, ["CVE-2099-1001 fixed", "CVE-2099-1002 not_affected"], "fixed and not affected are ignored, by VEX");
    console.log(`grype (by ${product}): ${found.length} NVD findings without VEX, ${report.matches.length} with undistro's OpenVEX (${ignored.join("; ")})`);
  });
});
