import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildVex, checkVex, type InstalledPackage, parseAdvisoryDocument } from "../../src/advisory/index.js";
import { runCli, tempDir } from "../helpers.js";

const DOC = `schema-version: 2.0.2

package:
  name: zlib

advisories:
  - id: UDA-2222-3333-4444
    aliases: [CVE-2099-0001, GHSA-2222-3333-4444]
    events:
      - timestamp: 2026-11-20T00:00:00Z
        type: fixed
        data:
          fixed-version: 1.3-r0
  - id: UDA-2222-3333-4445
    events:
      - timestamp: 2026-11-21T00:00:00Z
        type: false-positive-determination
        data:
          type: component-vulnerability-mismatch
          note: the record is about another zlib
  - id: UDA-2222-3333-4446
    aliases: [CVE-2099-0003]
    events:
      - timestamp: 2026-11-22T00:00:00Z
        type: pending-upstream-fix
        data:
          note: upstream has a patch under review
`;

const release = { id: "undistro", versionId: "0.1" };
const pkgs: InstalledPackage[] = [
  { name: "zlib", version: "1.3-r0", origin: "zlib", arch: "x86_64", location: "amd64", release },
  { name: "zlib-dev", version: "1.3-r0", origin: "zlib", arch: "x86_64", location: "amd64", release },
  { name: "zlib", version: "1.2-r0", origin: "zlib", arch: "aarch64", location: "arm64", release },
  { name: "musl", version: "1.2.5-r0", origin: "musl", arch: "x86_64", location: "amd64", release },
];

describe("OpenVEX from advisories", () => {
  const docs = [parseAdvisoryDocument(DOC, "zlib.advisories.yaml")];
  const vex = buildVex(pkgs, docs, { author: "undistro", tooling: "undistro test" });

  it("one statement per vulnerability and verdict; subpackages get their origin's advisories; versions decide fixed", () => {
    const rows = vex.statements.map((s) => `${s.vulnerability.name} ${s.status} ${s.products.map((p) => p["@id"].replace(/\?.*/, "")).join(",")}`);
    assert.deepEqual(rows, [
      "CVE-2099-0001 affected pkg:apk/undistro/zlib@1.2-r0",
      "CVE-2099-0001 fixed pkg:apk/undistro/zlib-dev@1.3-r0,pkg:apk/undistro/zlib@1.3-r0",
      "CVE-2099-0003 affected pkg:apk/undistro/zlib-dev@1.3-r0,pkg:apk/undistro/zlib@1.2-r0,pkg:apk/undistro/zlib@1.3-r0",
      "UDA-2222-3333-4445 not_affected pkg:apk/undistro/zlib-dev@1.3-r0,pkg:apk/undistro/zlib@1.2-r0,pkg:apk/undistro/zlib@1.3-r0",
    ]);
    const older = vex.statements[0];
    assert.equal(older?.action_statement, "Update to 1.3-r0 or later.");
    assert.deepEqual(older?.vulnerability, { name: "CVE-2099-0001", aliases: ["GHSA-2222-3333-4444", "UDA-2222-3333-4444"] });
    const notAffected = vex.statements[3];
    assert.equal(notAffected?.justification, "component_not_present");
    assert.equal(notAffected?.impact_statement, "the record is about another zlib");
    assert.match(vex.statements[2]?.action_statement ?? "", /upstream/);
    assert.ok(
      vex.statements.every((s) => s.products.every((p) => !p["@id"].includes("musl"))),
      "no statement for a package without advisories",
    );
    assert.equal(vex.statements[1]?.products[0]?.["@id"], "pkg:apk/undistro/zlib-dev@1.3-r0?arch=x86_64&distro=undistro-0.1&upstream=zlib");
  });

  it("is deterministic: the newest event's time, an @id from the statements, valid OpenVEX", () => {
    assert.equal(vex.timestamp, "2026-11-22T00:00:00Z");
    assert.deepEqual(buildVex([...pkgs].reverse(), docs, { author: "undistro", tooling: "undistro test" }), vex);
    assert.match(vex["@id"], /^https:\/\/openvex\.dev\/docs\/public\/vex-[0-9a-f]{64}$/);
    assert.equal(checkVex(vex), undefined);
  });

  it("checkVex names what is missing", () => {
    assert.match(checkVex({ ...vex, "@context": "x" }) ?? "", /@context/);
    const bad = { ...vex, statements: [{ vulnerability: { name: "CVE-1" }, products: [{ "@id": "p" }], status: "affected" }] };
    assert.match(checkVex(bad) ?? "", /statements\[0\]: affected needs an action_statement/);
    assert.match(checkVex({ ...vex, statements: [{ vulnerability: { name: "CVE-1" }, products: [], status: "maybe" }] }) ?? "", /not an OpenVEX status/);
  });

  it("undistro vex reads an SBOM and keeps the purls it lists", async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "zlib.advisories.yaml"), DOC);
    const purl = "pkg:apk/wolfi/zlib@1.3-r0?arch=x86_64&distro=wolfi-20230201";
    writeFileSync(
      join(dir, "sbom.json"),
      JSON.stringify({ spdxVersion: "SPDX-2.3", packages: [{ externalRefs: [{ referenceType: "purl", referenceLocator: purl }] }] }),
    );
    const r = await runCli(["vex", join(dir, "sbom.json"), "--advisories", dir, "--author", "tester"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.author, "tester");
    assert.ok(doc.statements.every((s: { products: Array<{ "@id": string }> }) => s.products.every((p) => p["@id"] === purl)));
    const missing = await runCli(["vex", join(dir, "sbom.json"), "--attest"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--attest needs --key/);
  });
});
