import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import zlib from "node:zlib";
import {
  ApkKeyring,
  emptyPackageInfo,
  encodeEntry,
  extractPackage,
  generateApkKey,
  loadSigningKey,
  parsePackage,
  readPackage,
  splitGzipMembers,
  verifyPackage,
  writePackage,
} from "../../src/apk/index.js";
import { UndistroError } from "../../src/util/index.js";
import { isError, runCli, tempDir } from "../helpers.js";
import { craftApk, th } from "./craft.js";

describe("bad APK input", () => {
  let dir: string;
  let good: Buffer;
  let members: ReturnType<typeof splitGzipMembers>;
  let keys: string;
  before(async () => {
    dir = tempDir();
    const key = generateApkKey(join(dir, "k"), { bits: 2048 });
    keys = join(dir, "keys");
    mkdirSync(keys);
    writeFileSync(join(keys, "k.rsa.pub"), readFileSync(key.publicKeyPath));
    mkdirSync(join(dir, "stage/usr/bin"), { recursive: true });
    writeFileSync(join(dir, "stage/usr/bin/tool"), Buffer.alloc(200_000, 7));
    const info = emptyPackageInfo("tool", "1.0-r0", "x86_64");
    await writePackage({ sourceDir: join(dir, "stage"), info, signingKey: loadSigningKey(key.privateKeyPath), sourceDateEpoch: 0 }, join(dir, "good.apk"));
    good = readFileSync(join(dir, "good.apk"));
    members = splitGzipMembers(good, (i) => `m${i}`);
  });

  it("names the member and offset of a truncated file, in every member", () => {
    const cuts = [5, (members[0]?.length ?? 0) - 3, (members[1]?.offset ?? 0) + 20, good.length - 100, good.length - 4];
    for (const cut of cuts) {
      const role = cut < (members[1]?.offset ?? 0) ? "signature" : cut < (members[2]?.offset ?? 0) ? "control" : "data";
      assert.throws(() => parsePackage(good.subarray(0, cut), "cut.apk"), isError("GZIP_TRUNCATED", "cut.apk", `(${role})`, "truncated"), `cut at ${cut}`);
    }
  });

  it("detects a corrupt byte in the compressed data", () => {
    const bad = Buffer.from(good);
    const at = (members[2]?.offset ?? 0) + 200;
    bad[at] = (bad[at] as number) ^ 0xff;
    assert.throws(
      () => parsePackage(bad, "corrupt.apk"),
      (e: unknown) =>
        e instanceof UndistroError && ["GZIP_CORRUPT", "GZIP_TRUNCATED"].includes(e.code) && e.message.includes("corrupt.apk") && e.message.includes("(data)"),
    );
  });

  it("refuses something that is not gzip", () => {
    assert.throws(() => parsePackage(Buffer.from("PK\u0003\u0004 this is a zip file, honestly........"), "a.zip"), isError("GZIP_CORRUPT", "a.zip", "magic"));
  });

  it("refuses a package without .PKGINFO", () => {
    const apk = craftApk(
      [{ header: th("etc/x", "file"), content: Buffer.from("x") }],
      null,
      encodeEntry(th(".post-install", "file", { size: 3 }), Buffer.from("#!x")),
    );
    assert.throws(() => parsePackage(apk, "nopkginfo.apk"), isError("APK_NO_PKGINFO", "nopkginfo.apk", ".PKGINFO"));
  });

  it("refuses an oversize .PKGINFO field", () => {
    const text = Buffer.from(`pkgname = big\npkgver = 1-r0\npkgdesc = ${"x".repeat(70_000)}\n`);
    const control = zlib.gzipSync(Buffer.concat(encodeEntry(th(".PKGINFO", "file", { size: text.length }), text)));
    const data = zlib.gzipSync(Buffer.alloc(1024));
    assert.throws(() => parsePackage(Buffer.concat([control, data]), "big.apk"), isError("APK_FIELD_TOO_LONG", "big.apk", "pkgdesc"));
  });

  it("fails a bad signature and an unknown key, naming the key", () => {
    const other = generateApkKey(join(dir, "other"), { bits: 2048 });
    // Same key name, another key: the signature cannot match.
    const wrongRing = ApkKeyring.fromFiles([other.publicKeyPath]);
    const ring = new ApkKeyring();
    ring.add("k.rsa.pub", createPublicKey(readFileSync(other.publicKeyPath)));
    assert.throws(() => verifyPackage(readPackage(join(dir, "good.apk")), ring), isError("APK_BAD_SIGNATURE", "good.apk", "k.rsa.pub"));
    assert.throws(() => verifyPackage(readPackage(join(dir, "good.apk")), wrongRing), isError("APK_UNKNOWN_KEY", "good.apk", "k.rsa.pub"));
    assert.equal(verifyPackage(readPackage(join(dir, "good.apk")), ApkKeyring.fromDirectory(keys)).keyName, "k.rsa.pub");
  });

  it("fails a package whose data was swapped after signing", async () => {
    // Keep signature and control, replace the data member with another valid one.
    const swapped = Buffer.concat([good.subarray(0, members[2]?.offset), zlib.gzipSync(Buffer.alloc(1024))]);
    assert.throws(
      () => verifyPackage(parsePackage(swapped, "swapped.apk"), ApkKeyring.fromDirectory(keys)),
      isError("APK_DATAHASH_MISMATCH", "swapped.apk", "datahash"),
    );
  });

  it("fails a file whose content no longer matches its PAX checksum", () => {
    const apk = craftApk([{ header: th("etc/x", "file", { pax: { "APK-TOOLS.checksum.SHA1": "0".repeat(40) } }), content: Buffer.from("x") }]);
    const pkg = parsePackage(apk, "tampered.apk");
    assert.throws(
      () => verifyPackage(pkg, ApkKeyring.fromDirectory(keys)),
      (e: unknown) => e instanceof UndistroError && e.message.includes("etc/x"),
    );
  });

  it("CLI: exits non-zero with error[CODE] naming the file, and --json gives the error object", async () => {
    writeFileSync(join(dir, "trunc.apk"), good.subarray(0, good.length - 50));
    const r = await runCli(["apk", "verify", join(dir, "trunc.apk"), "--keys-dir", keys]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error\[GZIP_TRUNCATED\]: .*trunc\.apk: gzip member 3 \(data\)/);
    assert.match(r.stderr, /hint: /);
    const j = await runCli(["apk", "verify", join(dir, "trunc.apk"), "--keys-dir", keys, "--json"]);
    assert.equal(j.code, 1);
    assert.equal(JSON.parse(j.stdout).error.code, "GZIP_TRUNCATED");
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace");
  });

  it("CLI: leaves no partial output when create or index fails", async () => {
    const out = join(dir, "out");
    mkdirSync(out);
    const r = await runCli([
      "apk",
      "create",
      join(dir, "stage"),
      "--name",
      "tool",
      "--version",
      "1.0-r0",
      "--signing-key",
      join(dir, "missing.rsa"),
      "--out",
      join(out, "tool.apk"),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.rsa/);
    const repo = join(dir, "repo");
    mkdirSync(repo);
    writeFileSync(join(repo, "a.apk"), good);
    writeFileSync(join(repo, "b.apk"), good.subarray(0, 300));
    const i = await runCli(["index", repo, "--signing-key", join(dir, "k.rsa")]);
    assert.equal(i.code, 1);
    assert.match(i.stderr, /b\.apk/);
    assert.deepEqual(readdirSync(out), []);
    assert.deepEqual(readdirSync(repo).sort(), ["a.apk", "b.apk"], "no APKINDEX and no temp file left");
  });
});

describe("paths that would escape the install root", () => {
  const hostile: Array<[string, Array<{ header: ReturnType<typeof th>; content?: Buffer }>]> = [
    ["absolute path", [{ header: th("/etc/passwd", "file"), content: Buffer.from("root::0:0::/:/bin/sh\n") }]],
    ["dot-dot", [{ header: th("usr/../../escape", "file"), content: Buffer.from("x") }]],
    ["write through own symlink", [{ header: th("link", "symlink", { linkname: "/tmp" }) }, { header: th("link/planted", "file"), content: Buffer.from("x") }]],
    ["hardlink outside", [{ header: th("h", "hardlink", { linkname: "../../etc/shadow" }) }]],
    ["absolute hardlink", [{ header: th("h", "hardlink", { linkname: "/etc/shadow" }) }]],
  ];
  for (const [what, entries] of hostile) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parsePackage(craftApk(entries), `${what}.apk`), isError("APK_UNSAFE_PATH", `${what}.apk`));
    });
  }

  it("does not write through a symlink already in the target root", (t) => {
    const root = tempDir(t);
    const outside = tempDir(t);
    symlinkSync(outside, join(root, "etc"));
    const pkg = parsePackage(craftApk([{ header: th("etc/passwd", "file"), content: Buffer.from("x") }]), "p.apk");
    assert.throws(() => extractPackage(pkg, root), isError("APK_UNSAFE_PATH", "etc"));
    assert.equal(existsSync(join(outside, "passwd")), false);
  });
});
