import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import {
  affectsVersion,
  cvss3BaseScore,
  cvss4Score,
  failsAt,
  installedPackages,
  loadOsvDatabase,
  recordSeverity,
  scanPackages,
  scanSarif,
} from "../../src/advisory/index.js";
import { emptyPackageInfo, generateApkKey, indexDirectory, loadSigningKey, writePackage } from "../../src/apk/index.js";
import { buildImage } from "../../src/image/index.js";
import { FIXTURES, runCli, tempDir } from "../helpers.js";
import { freePort } from "../image/helpers.js";

const OSV = join(FIXTURES, "osv");

describe("CVSS v3 base scores", () => {
  it("match the specification's results for known vectors", () => {
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"), 5.5);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"), 7.5);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H"), 9.9);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), 6.1);
    assert.equal(cvss3BaseScore("CVSS:3.0/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"), 1.6);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), 0);
    assert.equal(cvss3BaseScore("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"), undefined);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), undefined);
  });
});

describe("CVSS v4.0 scores", () => {
  it("match every example FIRST publishes (base, threat, environmental and supplemental metrics)", () => {
    const examples = JSON.parse(readFileSync(join(FIXTURES, "cvss4/first-examples.json"), "utf8")) as Array<{ score: number; vector: string }>;
    assert.equal(examples.length, 41);
    const wrong = examples.filter((e) => cvss4Score(e.vector) !== e.score).map((e) => `${e.vector}: ${cvss4Score(e.vector)} ≠ ${e.score}`);
    assert.deepEqual(wrong, []);
  });

  it("give no score for other versions, partial or malformed vectors", () => {
    assert.equal(cvss4Score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), undefined);
    assert.equal(cvss4Score("CVSS:4.0/AV:N"), undefined);
    assert.equal(cvss4Score("CVSS:4.0/AV:Q/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"), undefined);
    assert.equal(cvss4Score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N"), 0);
  });

  it("decide a record's severity before its v3 vector and its label", () => {
    const v4 = { type: "CVSS_V4", score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N" };
    const v3 = { type: "CVSS_V3", score: "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H" };
    const label = { database_specific: { severity: "LOW" } };
    assert.deepEqual(recordSeverity({ id: "X-1", severity: [v3, v4], ...label }), { severity: "high", score: 8.7, vector: v4.score });
    assert.deepEqual(recordSeverity({ id: "X-2", severity: [v3], ...label }), { severity: "medium", score: 5.5, vector: v3.score });
    // A v4-only record whose vector cannot be scored falls back to its label.
    assert.deepEqual(recordSeverity({ id: "X-3", severity: [{ type: "CVSS_V4", score: "CVSS:4.0/AV:N" }], ...label }), { severity: "low" });
  });
});

describe("OSV ranges in apk version order", () => {
  const range = (events: object[]) => ({ ranges: [{ type: "ECOSYSTEM", events }] });
  it("evaluates introduced, fixed and last_affected events", () => {
    const r = range([{ introduced: "1.34.0-r0" }, { fixed: "1.37.0-r0" }]);
    assert.equal(affectsVersion(r, "1.33.9-r5").affected, false);
    assert.deepEqual(affectsVersion(r, "1.36.1-r2"), { affected: true, fixedVersion: "1.37.0-r0" });
    assert.equal(affectsVersion(r, "1.37.0-r0").affected, false);
    // apk ordering, not string or semver ordering: 1.10 > 1.9, _rc before the release, -r10 > -r9.
    assert.equal(affectsVersion(range([{ introduced: "0" }, { fixed: "1.10-r0" }]), "1.9-r0").affected, true);
    assert.equal(affectsVersion(range([{ introduced: "0" }, { fixed: "2.0-r0" }]), "2.0_rc1-r0").affected, true);
    assert.equal(affectsVersion(range([{ introduced: "0" }, { fixed: "1.0-r10" }]), "1.0-r9").affected, true);
    const last = range([{ introduced: "0" }, { last_affected: "1.34.1-r9" }]);
    assert.equal(affectsVersion(last, "1.34.1-r9").affected, true);
    assert.equal(affectsVersion(last, "1.34.1-r10").affected, false);
    // two windows in one range
    const two = range([{ introduced: "0" }, { fixed: "1.2-r0" }, { introduced: "2.0-r0" }, { fixed: "2.1-r0" }]);
    assert.deepEqual(
      ["1.1-r0", "1.5-r0", "2.0-r3", "2.2-r0"].map((v) => affectsVersion(two, v).affected),
      [true, false, true, false],
    );
    assert.equal(affectsVersion({ versions: ["3.0-r1"] }, "3.0-r1").affected, true);
  });
});

describe("scan", () => {
  let dir: string;
  let layout: string;
  let sbom: string;
  let advisories: string;
  before(async () => {
    dir = tempDir();
    const key = generateApkKey(join(dir, "k"), { bits: 2048 }).privateKeyPath;
    const repo = join(dir, "repo/x86_64");
    mkdirSync(repo, { recursive: true });
    const mk = async (name: string, version: string, origin: string) => {
      const root = join(dir, `stage-${name}`);
      mkdirSync(join(root, "usr/share", name), { recursive: true });
      writeFileSync(join(root, "usr/share", name, "README"), `${name}\n`);
      const info = emptyPackageInfo(name, version, "x86_64");
      info.origin = origin;
      await writePackage({ sourceDir: root, info, signingKey: loadSigningKey(key), sourceDateEpoch: 0 }, join(repo, `${name}-${version}.apk`));
    };
    await mk("zlib", "1.2.12-r0", "zlib");
    await mk("busybox", "1.36.1-r0", "busybox");
    // a subpackage: OSV and advisories name the origin
    await mk("ssl_client", "1.36.1-r0", "busybox");
    await mk("hello", "2.12.1-r0", "hello");
    indexDirectory(repo, { signingKey: loadSigningKey(key), sourceDateEpoch: 0 });
    writeFileSync(
      join(dir, "image.yaml"),
      `contents:\n  keyring: [${key}.pub]\n  repositories: [${join(dir, "repo")}]\n  packages: [zlib, busybox, ssl_client, hello]\narchs: [x86_64]\n`,
    );
    layout = join(dir, "layout");
    const r = await buildImage(join(dir, "image.yaml"), { outDir: layout, sourceDateEpoch: 0 });
    sbom = r.archs[0]?.sboms.spdx ?? "";
    advisories = join(dir, "advisories");
    mkdirSync(advisories);
    // The distro backported the inflate fix into 1.2.12-r0; minizip is not built; busybox awk waits upstream.
    writeFileSync(
      join(advisories, "zlib.advisories.yaml"),
      `schema-version: 2.0.2

package:
  name: zlib

advisories:
  - id: UDA-2222-3333-4444
    aliases:
      - CVE-2022-37434
    events:
      - timestamp: 2022-08-08T00:00:00Z
        type: fixed
        data:
          fixed-version: 1.2.12-r0

  - id: UDA-2222-3333-5555
    aliases:
      - CVE-2023-45853
    events:
      - timestamp: 2023-10-20T00:00:00Z
        type: false-positive-determination
        data:
          type: vulnerable-code-not-included-in-package
          note: minizip is not built
`,
    );
    writeFileSync(
      join(advisories, "busybox.advisories.yaml"),
      `schema-version: 2.0.2

package:
  name: busybox

advisories:
  - id: UDA-2222-3333-6666
    aliases:
      - CVE-2023-42363
    events:
      - timestamp: 2023-11-28T00:00:00Z
        type: pending-upstream-fix
        data:
          note: fixed in busybox 1.37.0, not released yet
`,
    );
  });

  const summary = (r: { findings: Array<{ package: string; vulnerability: string; severity: string }> }) =>
    r.findings.map((f) => `${f.package} ${f.vulnerability} ${f.severity}`);

  it("reads the installed set of an image, an SBOM and a package alike", async () => {
    const fromImage = await installedPackages(`oci:${layout}`);
    assert.deepEqual(fromImage.map((p) => `${p.name}-${p.version} (${p.origin})`).sort(), [
      "busybox-1.36.1-r0 (busybox)",
      "hello-2.12.1-r0 (hello)",
      "ssl_client-1.36.1-r0 (busybox)",
      "zlib-1.2.12-r0 (zlib)",
    ]);
    assert.match(fromImage[0]?.location ?? "", /@sha256:[0-9a-f]{64} \(linux\/amd64\)$/);
    const fromSbom = await installedPackages(sbom);
    assert.deepEqual(fromSbom.map((p) => `${p.name}-${p.version}`).sort(), fromImage.map((p) => `${p.name}-${p.version}`).sort());
    const fromApk = await installedPackages(join(dir, "repo/x86_64/ssl_client-1.36.1-r0.apk"));
    assert.deepEqual(
      fromApk.map((p) => [p.name, p.version, p.origin]),
      [["ssl_client", "1.36.1-r0", "busybox"]],
    );
  });

  it("reports what the OSV records match, by package or origin, in the distro's ecosystem only", async () => {
    const db = loadOsvDatabase(OSV);
    assert.equal(db.files, 7);
    const report = scanPackages("image", await installedPackages(`oci:${layout}`), db, [], { ecosystem: "undistro" });
    assert.deepEqual(summary(report), [
      "zlib UNDISTRO-CVE-2022-37434 critical",
      "zlib UNDISTRO-CVE-2023-45853 critical",
      "busybox UNDISTRO-CVE-2023-42363 medium",
      "ssl_client UNDISTRO-CVE-2023-42363 medium",
    ]);
    const zlib = report.findings[0];
    assert.equal(zlib?.fixedVersion, "1.2.13-r0");
    assert.equal(zlib?.score, 9.8);
    assert.deepEqual(zlib?.aliases, ["CVE-2022-37434"]);
    assert.deepEqual(report.counts, { critical: 2, high: 0, medium: 2, low: 0, unknown: 0 });
    // CVE-2018-25032 is fixed at 1.2.12-r0 and CVE-2022-48174's last affected version is older:
    // neither matches; nor do the Alpine record and the withdrawn one.
    assert.ok(!report.findings.some((f) => /25032|48174|99999|ALPINE/.test(f.vulnerability)));
    // The same installed set read as Alpine's ecosystem matches Alpine's record (upstream CVE, backport revision).
    const alpine = scanPackages("image", await installedPackages(`oci:${layout}`), db, [], { ecosystem: "Alpine:v3.16" });
    assert.deepEqual(
      alpine.findings.map((f) => [f.package, f.vulnerability, f.aliases.join(","), f.fixedVersion, f.severity]),
      [["zlib", "ALPINE-CVE-2022-37434", "CVE-2022-37434", "1.2.12-r2", "unknown"]],
    );
  });

  it("advisories remove fixed and not-affected matches and annotate the rest; they never add", async () => {
    const db = loadOsvDatabase(OSV);
    const { loadAdvisoriesFor } = await import("../../src/advisory/index.js");
    const pkgs = await installedPackages(`oci:${layout}`);
    const report = scanPackages("image", pkgs, db, loadAdvisoriesFor(advisories, ["zlib", "busybox", "hello"]), { ecosystem: "undistro" });
    assert.deepEqual(summary(report), ["busybox UNDISTRO-CVE-2023-42363 medium", "ssl_client UNDISTRO-CVE-2023-42363 medium"]);
    assert.deepEqual(report.findings[0]?.advisory, {
      id: "UDA-2222-3333-6666",
      status: "pending-upstream-fix",
      note: "fixed in busybox 1.37.0, not released yet",
    });
    assert.deepEqual(
      report.resolved.map((r) => [r.vulnerability, r.advisory.status, r.advisory.fixedVersion ?? r.advisory.vex]),
      [
        ["UNDISTRO-CVE-2022-37434", "fixed", "1.2.12-r0"],
        ["UNDISTRO-CVE-2023-45853", "not-affected", "vulnerable_code_not_present"],
      ],
    );
    // A fixed advisory above the installed version leaves the match in place.
    const older = pkgs.map((p) => (p.name === "zlib" ? { ...p, version: "1.2.11-r3" } : p));
    const again = scanPackages("image", older, db, loadAdvisoriesFor(advisories, ["zlib", "busybox"]), { ecosystem: "undistro" });
    assert.ok(again.findings.some((f) => f.vulnerability === "UNDISTRO-CVE-2022-37434" && f.fixedVersion === "1.2.12-r0"));
    // hello has an advisory-free record set: an advisory naming it adds nothing.
    assert.ok(!again.findings.some((f) => f.package === "hello"));
    assert.equal(failsAt(report, "medium"), true);
    assert.equal(failsAt(report, "high"), false);
  });

  it("CLI: table, --json, --sarif and --fail-on exit codes", async () => {
    const base = ["scan", `oci:${layout}`, "--db", OSV, "--advisories", advisories];
    let r = await runCli([...base]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^PACKAGE\s+VERSION\s+VULNERABILITY\s+SEVERITY\s+FIXED IN\s+ADVISORY\n/);
    assert.match(r.stdout, /busybox\s+1\.36\.1-r0\s+UNDISTRO-CVE-2023-42363\s+medium\s+1\.37\.0-r0\s+pending-upstream-fix \(UDA-2222-3333-6666\)/);
    assert.match(r.stdout, /2 vulnerabilities \(critical 0, high 0, medium 2, low 0, unknown 0\) in 4 packages; 2 resolved by advisories\n$/);
    r = await runCli([...base, "--fail-on", "high"]);
    assert.equal(r.code, 0);
    r = await runCli([...base, "--fail-on", "medium"]);
    assert.equal(r.code, 1);
    r = await runCli(["scan", `oci:${layout}`, "--db", OSV, "--no-advisories", "--fail-on", "critical", "--json"]);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).counts.critical, 2);
    r = await runCli([...base, "--fail-on", "severe"]);
    assert.equal(r.code, 2);
    r = await runCli([...base, "--sarif"]);
    assert.equal(r.code, 0);
    const sarif = JSON.parse(r.stdout);
    assert.equal(sarif.version, "2.1.0");
    const run = sarif.runs[0];
    assert.equal(run.tool.driver.name, "undistro");
    assert.deepEqual(
      run.tool.driver.rules.map((x: { id: string }) => x.id),
      ["UNDISTRO-CVE-2023-42363"],
    );
    assert.equal(run.tool.driver.rules[0].properties["security-severity"], "5.5");
    assert.equal(run.results.length, 2);
    for (const res of run.results) {
      assert.equal(run.tool.driver.rules[res.ruleIndex].id, res.ruleId);
      assert.equal(res.level, "warning");
      assert.match(res.locations[0].physicalLocation.artifactLocation.uri, /^oci:.*@sha256:[0-9a-f]{64}$/);
    }
    assert.deepEqual(
      scanSarif(
        { target: "x", ecosystem: "undistro", packages: 0, findings: [], resolved: [], counts: { unknown: 0, low: 0, medium: 0, high: 0, critical: 0 } },
        { version: "0" },
      ).runs,
      [{ tool: { driver: { name: "undistro", version: "0", informationUri: "https://undistro.dev", rules: [] } }, results: [] }],
    );
    r = await runCli(["scan", join(dir, "nope.apk"), "--db", OSV]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[SCAN_TARGET\]/);
    const closed = await freePort(); // nothing listens there
    r = await runCli(["scan", `127.0.0.1:${closed}/nothing:latest`, "--db", OSV, "--no-advisories"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[REGISTRY_UNREACHABLE\]: cannot reach the registry at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });
});
