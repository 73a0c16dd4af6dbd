import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import {
  type AdvisoryDocument,
  AdvisoryInvalidError,
  buildSecdb,
  createAdvisory,
  latestEvent,
  listAdvisories,
  loadAdvisoryDirectory,
  parseAdvisoryDocument,
  parseSecdb,
  updateAdvisory,
} from "../../src/advisory/index.js";
import { sortedJson, UndistroError } from "../../src/util/index.js";
import { REFERENCE, runCli, tempDir } from "../helpers.js";

const WOLFI = join(REFERENCE, "wolfi-advisories");

describe("Wolfi's real advisories", () => {
  let loaded: ReturnType<typeof loadAdvisoryDirectory>;
  before(() => {
    loaded = loadAdvisoryDirectory(WOLFI);
  });

  it("load and validate, except the one document with a malformed fixed version", () => {
    assert.equal(loaded.documents.length + loaded.invalid.length, 1299);
    assert.equal(loaded.documents.length, 1298);
    // The one rejection is a real data error in Wolfi's repository: a version with two -r suffixes.
    assert.equal(loaded.invalid.length, 1);
    const bad = loaded.invalid[0];
    assert.ok(bad);
    assert.match(bad.file, /opa-envoy\.advisories\.yaml$/);
    assert.deepEqual(
      bad.problems.map((p) => [p.line, p.path, p.message]),
      [[178, "advisories[7].events[0].data.fixed-version", '"1.1.0-r1-r0" is not a package version with its epoch (like 1.2.3-r0)']],
    );
    const advisories = loaded.documents.reduce((n, d) => n + d.advisories.length, 0);
    assert.ok(advisories > 15000, `${advisories} advisories`);
    const types = new Set(loaded.documents.flatMap((d) => d.advisories.flatMap((a) => a.events.map((e) => e.type))));
    assert.deepEqual([...types].sort(), [
      "detection",
      "false-positive-determination",
      "fix-not-planned",
      "fixed",
      "pending-upstream-fix",
      "true-positive-determination",
    ]);
  });

  it("give a secdb of Alpine's shape that round-trips the advisories", () => {
    const secdb = buildSecdb(loaded.documents);
    const text = sortedJson(secdb);
    const parsed = parseSecdb(text, "security.json");
    assert.equal(parsed.apkurl, "{{urlprefix}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk");
    assert.deepEqual(parsed.archs, ["aarch64", "x86_64"]);
    // Every resolved advisory's ids sit under its fixed version (or "0"), and nothing else is there.
    const expected = new Map<string, Set<string>>();
    for (const doc of loaded.documents) {
      for (const adv of doc.advisories) {
        const latest = latestEvent(adv);
        const version = latest?.type === "fixed" ? String(latest.data?.["fixed-version"]) : latest?.type === "false-positive-determination" ? "0" : undefined;
        if (version === undefined) continue;
        for (const id of adv.aliases.length ? adv.aliases : [adv.id]) {
          const key = `${doc.package} ${version}`;
          const set = expected.get(key) ?? new Set<string>();
          expected.set(key, set);
          set.add(id);
        }
      }
    }
    const actual = new Map<string, Set<string>>();
    for (const { pkg } of parsed.packages) {
      for (const [version, ids] of Object.entries(pkg.secfixes)) actual.set(`${pkg.name} ${version}`, new Set(ids));
    }
    assert.equal(actual.size, expected.size);
    for (const [k, ids] of expected) assert.deepEqual([...(actual.get(k) ?? [])].sort(), [...ids].sort(), k);
    const age = parsed.packages.find((p) => p.pkg.name === "age")?.pkg.secfixes;
    assert.deepEqual(age?.["1.2.1-r4"], ["CVE-2025-22871", "GHSA-g9pc-8g42-g6vq"]);
    assert.deepEqual(age?.["0"], ["CVE-2025-47907", "GHSA-j5pm-7495-qmr3"]);
    // A package with only open advisories has no entry; versions are in apk order with "0" first.
    for (const { pkg } of parsed.packages) assert.equal(Object.keys(pkg.secfixes)[0] === "0" || !("0" in pkg.secfixes), true, pkg.name);
  });

  it("re-serialise byte for byte when edited (comments and layout kept)", (t) => {
    const dir = tempDir(t);
    const original = readFileSync(join(WOLFI, "age.advisories.yaml"), "utf8");
    const withComment = `# maintained by the security team\n${original}`;
    writeFileSync(join(dir, "age.advisories.yaml"), withComment);
    const r = createAdvisory({
      dir,
      package: "age",
      vulnerability: "CVE-2026-12345",
      event: { type: "detection", timestamp: "2026-11-20T10:00:00Z", data: { type: "manual" } },
    });
    assert.match(r.id, /^UDA(-[23456789cfghjmpqrvwx]{4}){3}$/);
    const edited = readFileSync(join(dir, "age.advisories.yaml"), "utf8");
    // The new advisory is one inserted block; removing it gives back the original bytes.
    const lines = edited.split("\n");
    const start = lines.indexOf(`  - id: ${r.id}`);
    assert.ok(start > 0);
    let end = start + 1;
    while (end < lines.length && lines[end] !== "" && !lines[end]?.startsWith("  - id:")) end++;
    const removed = [...lines.slice(0, start), ...lines.slice(end)];
    // the block brings its own blank separator line
    const restored = removed.filter((_, i) => !(i === start - 1 && removed[i] === "" && removed[i + 1] === "")).join("\n");
    assert.equal(restored, withComment);
    const doc = parseAdvisoryDocument(edited, join(dir, "age.advisories.yaml"));
    assert.equal(doc.advisories.length, parseAdvisoryDocument(original, "age.advisories.yaml").advisories.length + 1);
    assert.deepEqual(
      doc.advisories.map((a) => a.id),
      doc.advisories.map((a) => a.id).sort(),
      "kept in id order",
    );
    // An update appends one event and touches nothing else.
    const before = readFileSync(join(dir, "age.advisories.yaml"), "utf8");
    updateAdvisory({
      dir,
      package: "age",
      vulnerability: "CVE-2025-22871",
      event: { type: "pending-upstream-fix", timestamp: "2026-11-21T00:00:00Z", data: { note: "waiting for go 1.26.1" } },
    });
    const after = readFileSync(join(dir, "age.advisories.yaml"), "utf8");
    assert.ok(after.length > before.length);
    const beforeLines = new Set(before.split("\n"));
    const added = after.split("\n").filter((l) => !beforeLines.has(l));
    assert.deepEqual(added, ["      - timestamp: 2026-11-21T00:00:00Z", "        type: pending-upstream-fix", "          note: waiting for go 1.26.1"]);
  });
});

describe("advisory validation errors", () => {
  const valid = `schema-version: 2.0.2

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
          fixed-version: 1.2.12-r2
`;
  const problems = (text: string, file = "zlib.advisories.yaml") => {
    try {
      parseAdvisoryDocument(text, file, { now: new Date("2026-11-23T00:00:00Z") });
      return [];
    } catch (e) {
      assert.ok(e instanceof AdvisoryInvalidError, String(e));
      assert.equal(e.code, "ADVISORY_INVALID");
      return e.problems.map((p) => `${p.line}:${p.path}: ${p.message}`);
    }
  };

  it("accepts a good document", () => {
    assert.deepEqual(problems(valid), []);
  });

  it("names the line and field of each problem", () => {
    assert.deepEqual(problems(valid.replace("fixed-version: 1.2.12-r2", "fixed-version: 1.2.12")), [
      '14:advisories[0].events[0].data.fixed-version: "1.2.12" is not a package version with its epoch (like 1.2.3-r0)',
    ]);
    assert.deepEqual(problems(valid.replace("CVE-2022-37434", "CVE-22-1")), [
      '9:advisories[0].aliases[0]: "CVE-22-1" is not a CVE, GHSA or Go vulnerability id',
    ]);
    assert.deepEqual(problems(valid.replace("2022-08-08T00:00:00Z", "2027-01-01T00:00:00Z")), [
      "11:advisories[0].events[0].timestamp: 2027-01-01T00:00:00Z is in the future",
    ]);
    assert.deepEqual(problems(valid.replace("          fixed-version", "          fixed-verison")), [
      "14:advisories[0].events[0].data.fixed-verison: unknown field (allowed: fixed-version)",
      "14:advisories[0].events[0].data.fixed-version: required: the package version (with -rN) that carries the fix",
    ]);
    assert.deepEqual(problems(valid.replace("type: fixed\n        data:\n          fixed-version: 1.2.12-r2", "type: fix-not-planned")), [
      "11:advisories[0].events[0].data: required: note (why)",
    ]);
    assert.deepEqual(
      problems(
        valid.replace(
          "type: fixed\n        data:\n          fixed-version: 1.2.12-r2",
          "type: false-positive-determination\n        data:\n          type: because",
        ),
      ),
      [
        '14:advisories[0].events[0].data.type: "because" is not a false-positive type (vulnerability-record-analysis-contested, component-vulnerability-mismatch, vulnerable-code-version-not-used, vulnerable-code-not-included-in-package, vulnerable-code-not-in-execution-path, vulnerable-code-cannot-be-controlled-by-adversary, inline-mitigations-exist)',
      ],
    );
    assert.deepEqual(problems(valid, "busybox.advisories.yaml"), ['4:package.name: "zlib" does not match the file name busybox.advisories.yaml']);
    assert.deepEqual(problems(valid.replace("schema-version: 2.0.2", "schema-version: 1")), [
      '1:schema-version: "1" is not supported: documents must use schema 2 up to 2.0.2',
    ]);
    const twice = `${valid}  - id: UDA-2222-3333-5555\n    aliases:\n      - CVE-2022-37434\n    events:\n      - timestamp: 2022-08-08T00:00:00Z\n        type: detection\n        data:\n          type: manual\n`;
    assert.deepEqual(problems(twice), ["17:advisories[1].aliases: CVE-2022-37434 also appears in advisories[0]: ids and aliases must be unique in a document"]);
  });

  it("the CLI validates a directory and exits 1 naming the file", async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "zlib.advisories.yaml"), valid);
    copyFileSync(join(WOLFI, "age.advisories.yaml"), join(dir, "age.advisories.yaml"));
    let r = await runCli(["advisory", "validate", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 valid \(\d+ advisories\), 0 invalid/);
    writeFileSync(join(dir, "zlib.advisories.yaml"), valid.replace("1.2.12-r2", "x"));
    r = await runCli(["advisory", "validate", dir, "--json"]);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout);
    assert.equal(report.invalid, 1);
    assert.match(report.problems[0].file, /zlib\.advisories\.yaml$/);
    assert.equal(report.problems[0].path, "advisories[0].events[0].data.fixed-version");
  });
});

describe("advisory create, update, list and secdb", () => {
  it("records a detection, then the fix; lists it; secdb names the fixed version", async (t) => {
    const dir = join(tempDir(t), "advisories");
    let r = await runCli([
      "advisory",
      "create",
      "zlib",
      "CVE-2022-37434",
      "--type",
      "detection",
      "--timestamp",
      "2022-08-06T00:00:00Z",
      "--advisories",
      dir,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout);
    assert.equal(created.created, true);
    assert.deepEqual(created.aliases, ["CVE-2022-37434"]);
    // Same package and vulnerability → same id (deterministic), and a second create is refused.
    r = await runCli(["advisory", "create", "zlib", "CVE-2022-37434", "--type", "detection", "--advisories", dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[ADVISORY_EXISTS\]: .*zlib\.advisories\.yaml: UDA-.* already covers CVE-2022-37434/);
    r = await runCli(["advisory", "list", "--advisories", dir, "--unresolved", "--json"]);
    assert.deepEqual(
      JSON.parse(r.stdout).map((x: { id: string; latest: string }) => [x.id, x.latest]),
      [[created.id, "detection"]],
    );
    r = await runCli(["advisory", "update", "zlib", "CVE-2022-37434", "--type", "fixed", "--advisories", dir]);
    assert.equal(r.code, 2, "fixed needs its version (a usage error)");
    assert.match(r.stderr, /--fixed-version/);
    r = await runCli([
      "advisory",
      "update",
      "zlib",
      "CVE-2022-37434",
      "--type",
      "fixed",
      "--fixed-version",
      "1.2.12-r2",
      "--timestamp",
      "2022-08-08T00:00:00Z",
      "--advisories",
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await runCli([
      "advisory",
      "create",
      "zlib",
      "CVE-2023-45853",
      "--type",
      "not-affected",
      "--justification",
      "vulnerable-code-not-included-in-package",
      "--note",
      "minizip is not built",
      "--timestamp",
      "2023-10-20T00:00:00Z",
      "--advisories",
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(["advisory", "update", "busybox", "CVE-2023-42363", "--type", "fixed", "--fixed-version", "1.37.0-r0", "--advisories", dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[ADVISORY_NOT_FOUND\]/);
    r = await runCli(["advisory", "list", "--advisories", dir]);
    assert.match(r.stdout, /zlib\tUDA-[^\t]+\tCVE-2022-37434\tfixed 1\.2\.12-r2\t2022-08-08T00:00:00Z/);
    assert.match(r.stdout, /zlib\tUDA-[^\t]+\tCVE-2023-45853\tfalse-positive-determination vulnerable-code-not-included-in-package/);

    const repo = join(tempDir(t), "repo");
    mkdirSync(repo);
    r = await runCli(["advisory", "secdb", "--advisories", dir, "--repository", repo, "--arch", "x86_64"]);
    assert.equal(r.code, 0, r.stderr);
    const secdb = parseSecdb(readFileSync(join(repo, "security.json"), "utf8"), "security.json");
    assert.deepEqual(secdb.packages, [{ pkg: { name: "zlib", secfixes: { "0": ["CVE-2023-45853"], "1.2.12-r2": ["CVE-2022-37434"] } } }]);
    assert.deepEqual(secdb.archs, ["x86_64"]);
    const docs = loadAdvisoryDirectory(dir).documents as AdvisoryDocument[];
    assert.equal(listAdvisories(docs, { type: "fixed" }).length, 1);
  });

  it("refuses a secdb from an invalid directory rather than dropping a fix", async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "zlib.advisories.yaml"), "schema-version: 2.0.2\npackage:\n  name: zlib\nadvisories: []\n");
    const r = await runCli(["advisory", "secdb", "--advisories", dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[ADVISORY_INVALID\]: .*zlib\.advisories\.yaml:4: advisories: must list at least one advisory/);
    assert.throws(() => parseSecdb('{"packages":[{"pkg":{"name":"x","secfixes":{"1.0":"CVE-1"}}}]}', "s.json"), UndistroError);
  });
});
