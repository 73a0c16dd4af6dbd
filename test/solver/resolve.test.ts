import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { ApkKeyring, emptyPackageInfo, generateApkKey, type IndexEntry, indexDirectory, loadSigningKey, writePackage } from "../../src/apk/index.js";
import {
  assertLockHolds,
  checkLock,
  formatLock,
  type LoadedRepository,
  loadRepository,
  lockFromResolution,
  parseLock,
  resolveWorld,
  UnsatisfiableError,
} from "../../src/solver/index.js";
import { UndistroError } from "../../src/util/index.js";
import { runCli, tempDir } from "../helpers.js";

function entry(name: string, version: string, fields: Partial<IndexEntry> = {}): IndexEntry {
  const n = `${name}-${version}`;
  // A stable fake Q1 checksum derived from the name, for in-memory repositories.
  const hash = Buffer.from(n.padEnd(20, "#").slice(0, 20)).toString("base64");
  return {
    checksum: `Q1${hash}`,
    name,
    version,
    arch: "x86_64",
    fileSize: 100,
    installedSize: 1000,
    depends: [],
    provides: [],
    installIf: [],
    replaces: [],
    extra: [],
    ...fields,
  };
}

function repo(entries: IndexEntry[], url = "mem://main"): LoadedRepository {
  return { url, indexPath: `/nonexistent/${url.replace(/\W/g, "_")}/APKINDEX.tar.gz`, indexDigest: "sha256:0", signedBy: null, entries };
}

describe("resolveWorld", () => {
  it("orders dependencies before dependents", () => {
    const r = resolveWorld(
      [
        repo([
          entry("app", "1", { depends: ["libfoo", "so:libc.so.6"] }),
          entry("libfoo", "2", { depends: ["so:libc.so.6"] }),
          entry("musl", "1.2.4-r0", { provides: ["so:libc.so.6=1"] }),
        ]),
      ],
      ["app"],
      "x86_64",
    );
    assert.deepEqual(
      r.packages.map((p) => p.name),
      ["musl", "libfoo", "app"],
    );
  });

  it("picks the highest so: provider version among several providers", () => {
    const r = resolveWorld(
      [
        repo([
          entry("app", "1", { depends: ["so:libssl.so.3"] }),
          entry("openssl", "3.1.0-r0", { provides: ["so:libssl.so.3=3.1.0"] }),
          entry("openssl", "3.2.1-r0", { provides: ["so:libssl.so.3=3.2.1"] }),
          entry("libressl", "3.8-r0", { provides: ["so:libssl.so.3=3.0.0"] }),
        ]),
      ],
      ["app"],
      "x86_64",
    );
    assert.deepEqual(
      r.packages.map((p) => `${p.name}-${p.version}`),
      ["openssl-3.2.1-r0", "app-1"],
    );
  });

  it("uses provider_priority for an unversioned provide and explains when none is chosen", () => {
    const shells = [entry("busybox", "1.36", { provides: ["sh"], providerPriority: 100 }), entry("bash", "5.2", { provides: ["sh"], providerPriority: 10 })];
    const r = resolveWorld([repo([...shells, entry("script", "1", { depends: ["sh"] })])], ["script"], "x86_64");
    assert.deepEqual(
      r.packages.map((p) => p.name),
      ["busybox", "script"],
    );
    const noPriority = [entry("busybox", "1.36", { provides: ["sh"] }), entry("bash", "5.2", { provides: ["sh"] }), entry("script", "1", { depends: ["sh"] })];
    assert.throws(
      () => resolveWorld([repo(noPriority)], ["script"], "x86_64"),
      (e: unknown) =>
        e instanceof UnsatisfiableError &&
        e.code === "SOLVER_UNSATISFIABLE" &&
        e.message.includes("sh (virtual):") &&
        e.problems.some(
          (p) => p.subject === "sh (virtual)" && p.reasons.some((r) => r.label === "provided by:" && r.items.includes("bash") && r.items.includes("busybox")),
        ),
    );
  });

  it("installs a dependency cycle once, in a stable order", () => {
    const entries = [entry("a", "1", { depends: ["b"] }), entry("b", "1", { depends: ["c"] }), entry("c", "1", { depends: ["a"] })];
    const one = resolveWorld([repo(entries)], ["a"], "x86_64").packages.map((p) => p.name);
    const two = resolveWorld([repo([...entries].reverse())], ["a"], "x86_64").packages.map((p) => p.name);
    assert.deepEqual([...one].sort(), ["a", "b", "c"]);
    assert.equal(new Set(one).size, 3);
    assert.deepEqual(one, ["c", "b", "a"]);
    assert.deepEqual([...two].sort(), ["a", "b", "c"]);
  });

  it("reports conflicts in apk's words and as data", () => {
    const entries = [entry("a", "1", { depends: ["d<2"] }), entry("b", "1", { depends: ["d>=2"] }), entry("d", "1"), entry("d", "2")];
    assert.throws(
      () => resolveWorld([repo(entries)], ["a", "b"], "x86_64"),
      (e: unknown) => {
        assert.ok(e instanceof UnsatisfiableError);
        assert.match(e.message, /^ERROR: unable to select packages:\n {2}d-\d:\n {4}breaks: [ab]-1\[d[<>]=?2\]/);
        assert.ok(e.problems.length >= 1);
        return true;
      },
    );
    assert.throws(
      () => resolveWorld([repo(entries)], ["a=notaversion"], "x86_64"),
      (e: unknown) => e instanceof UndistroError && e.code === "SOLVER_BAD_WORLD",
    );
  });

  it("honours @tag pinning", () => {
    const main = repo([entry("curl", "8.0")], "mem://main");
    const edge = repo([entry("curl", "8.9")], "mem://edge");
    edge.tag = "edge";
    assert.equal(resolveWorld([main, edge], ["curl"], "x86_64").packages[0]?.version, "8.0");
    assert.equal(resolveWorld([main, edge], ["curl@edge"], "x86_64").packages[0]?.version, "8.9");
  });
});

describe("lock files with real packages", () => {
  let dir: string;
  let key: string;
  const keys = () => ApkKeyring.fromFiles([`${key}.pub`]);
  before(async () => {
    dir = tempDir();
    key = generateApkKey(join(dir, "repo"), { bits: 2048 }).privateKeyPath;
    mkdirSync(join(dir, "stage/usr/lib"), { recursive: true });
    writeFileSync(join(dir, "stage/usr/lib/x"), "x");
    mkdirSync(join(dir, "repo/x86_64"), { recursive: true });
    const mk = async (name: string, version: string, depends: string[] = [], provides: string[] = []) => {
      const i = emptyPackageInfo(name, version, "x86_64");
      i.depends = depends;
      i.provides = provides;
      await writePackage(
        { sourceDir: join(dir, "stage"), info: i, signingKey: loadSigningKey(key), sourceDateEpoch: 1 },
        join(dir, "repo/x86_64", `${name}-${version}.apk`),
      );
    };
    await mk("musl", "1.2.5-r0", [], ["so:libc.musl-x86_64.so.1=1"]);
    await mk("busybox", "1.36.1-r0", ["so:libc.musl-x86_64.so.1"], ["cmd:sh=1.36.1-r0"]);
    await mk("hello", "2.12.1-r0", ["so:libc.musl-x86_64.so.1"]);
    indexDirectory(join(dir, "repo/x86_64"), { signingKey: loadSigningKey(key), sourceDateEpoch: 1 });
  });

  it("round-trips: resolve, write, parse, check; fails clearly after a rebuild", async () => {
    const repos = [loadRepository({ url: join(dir, "repo") }, "x86_64", keys())];
    assert.equal(repos[0]?.signedBy, "repo.rsa.pub");
    const res = resolveWorld(repos, ["busybox", "hello"], "x86_64");
    assert.deepEqual(
      res.packages.map((p) => p.name),
      ["musl", "busybox", "hello"],
    );
    for (const p of res.packages) assert.ok(readFileSync(p.url).length === p.size, `${p.url} exists with the indexed size`);
    const lock = lockFromResolution(res, repos);
    const text = formatLock(lock);
    assert.equal(formatLock(parseLock(text, "lock")), text, "format is stable");
    assert.deepEqual(checkLock(parseLock(text, "lock"), repos), []);
    // Rebuild hello with other content: same version, new checksum.
    writeFileSync(join(dir, "stage/usr/lib/x"), "changed");
    const i = emptyPackageInfo("hello", "2.12.1-r0", "x86_64");
    i.depends = ["so:libc.musl-x86_64.so.1"];
    await writePackage(
      { sourceDir: join(dir, "stage"), info: i, signingKey: loadSigningKey(key), sourceDateEpoch: 1 },
      join(dir, "repo/x86_64/hello-2.12.1-r0.apk"),
    );
    indexDirectory(join(dir, "repo/x86_64"), { signingKey: loadSigningKey(key), sourceDateEpoch: 1 });
    const after = [loadRepository({ url: join(dir, "repo") }, "x86_64", keys())];
    assert.throws(
      () => assertLockHolds(parseLock(text, "my.lock"), after, "my.lock"),
      (e: unknown) => e instanceof UndistroError && e.code === "LOCK_STALE" && e.message.includes("hello-2.12.1-r0: checksum") && e.message.includes("rebuilt"),
    );
    assert.throws(
      () => parseLock('{"lockVersion": 9}', "x.lock"),
      (e: unknown) => e instanceof UndistroError && e.code === "LOCK_INVALID",
    );
  });

  it("CLI: resolve --write-lock and lock check", async () => {
    const lockFile = join(dir, "cli.lock.json");
    const r = await runCli(["resolve", "hello", "-X", join(dir, "repo"), "--keys-dir", dir, "--write-lock", lockFile, "--arch", "x86_64"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(1\/2\) musl-1\.2\.5-r0 x86_64 Q1/);
    const c = await runCli(["lock", "check", lockFile, "--keys-dir", dir]);
    assert.equal(c.code, 0, c.stderr);
    const bad = await runCli(["resolve", "nonexistent-pkg", "-X", join(dir, "repo"), "--keys-dir", dir, "--arch", "x86_64"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /nonexistent-pkg \(no such package\):\n {4}required by: world\[nonexistent-pkg\]/);
    const untrusted = await runCli(["resolve", "hello", "-X", join(dir, "repo"), "--arch", "x86_64"]);
    assert.equal(untrusted.code, 2);
  });
});
