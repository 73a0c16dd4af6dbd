import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import {
  ApkKeyring,
  emptyPackageInfo,
  generateApkKey,
  type IndexEntry,
  indexDirectory,
  loadSigningKey,
  overlappingProvides,
  parseIndex,
  readIndexFile,
  readPackage,
  verifyIndex,
  writePackage,
} from "../../src/apk/index.js";
import { UndistroError } from "../../src/util/index.js";
import { REFERENCE, run, tempDir } from "../helpers.js";

describe("APKINDEX.tar.gz", () => {
  let dir: string;
  let key: string;
  before(async () => {
    dir = tempDir();
    key = generateApkKey(join(dir, "repo-key"), { bits: 2048 }).privateKeyPath;
    mkdirSync(join(dir, "stage/usr/lib"), { recursive: true });
    writeFileSync(join(dir, "stage/usr/lib/libfoo.so.1"), "ELF pretend");
    mkdirSync(join(dir, "repo"));
    const versions = ["1.0-r0", "1.10-r0", "1.2-r0"];
    for (const v of versions) {
      const i = emptyPackageInfo("libfoo", v, "x86_64");
      i.description = "foo library";
      i.url = "https://foo.invalid";
      i.license = "MIT";
      i.depends = ["so:libc.so.6"];
      i.provides = [`so:libfoo.so.1=1`];
      i.installIf = ["foo-base", "docs"];
      i.replaces = ["libfoo-old"];
      i.providerPriority = 5;
      i.replacesPriority = 3;
      i.maintainer = "M <m@x.invalid>";
      i.commit = "abc";
      await writePackage(
        { sourceDir: join(dir, "stage"), info: i, signingKey: loadSigningKey(key), sourceDateEpoch: 42 },
        join(dir, "repo", `libfoo-${v}.apk`),
      );
    }
    const meta = emptyPackageInfo("aaa-meta", "2-r1", "noarch");
    mkdirSync(join(dir, "empty"));
    await writePackage(
      { sourceDir: join(dir, "empty"), info: meta, signingKey: loadSigningKey(key), sourceDateEpoch: 42 },
      join(dir, "repo", "aaa-meta-2-r1.apk"),
    );
  });

  it("indexes a directory with every field, in apk-tools' order, and Debian's tar reads it", () => {
    const r = indexDirectory(join(dir, "repo"), { signingKey: loadSigningKey(key), sourceDateEpoch: 42, description: "test repo" });
    assert.equal(r.packages, 4);
    const file = join(dir, "repo/APKINDEX.tar.gz");
    assert.deepEqual(run("tar", ["-tzf", file]).stdout.toString().trim().split("\n"), [".SIGN.RSA256.repo-key.rsa.pub", "DESCRIPTION", "APKINDEX"]);
    assert.equal(run("tar", ["-xzOf", file, "DESCRIPTION"]).stdout.toString(), "test repo");
    const text = run("tar", ["-xzOf", file, "APKINDEX"]).stdout.toString();
    const records = text.split("\n\n").filter((x) => x.trim() !== "");
    assert.deepEqual(
      records.map((rec) => rec.split("\n").find((l) => l.startsWith("V:"))),
      ["V:2-r1", "V:1.0-r0", "V:1.2-r0", "V:1.10-r0"],
      "sorted by name, then by apk version order (1.2 before 1.10)",
    );
    const first = (records[1] as string).split("\n");
    assert.deepEqual(
      first.map((l) => l.slice(0, 1)),
      ["C", "P", "V", "A", "S", "I", "T", "U", "L", "o", "m", "t", "c", "k", "D", "p", "i"],
      "apk-tools 2.14's index fields: replaces (r:, q:) are read from the package, not written to the index",
    );
    // A package without description, URL or license: apk writes T:, U: and L: anyway, empty.
    const meta = (records[0] as string).split("\n");
    assert.deepEqual(
      meta.slice(2).map((l) => l.replace(/^S:\d+$/, "S:N")),
      ["V:2-r1", "A:noarch", "S:N", "I:0", "T:", "U:", "L:", "o:aaa-meta", "t:42"],
    );
    const pkgFile = join(dir, "repo/libfoo-1.0-r0.apk");
    const pkg = readPackage(pkgFile);
    assert.equal(first[0], `C:${pkg.checksum}`);
    assert.equal(first[4], `S:${readFileSync(pkgFile).length}`);
    assert.ok(first.includes("D:so:libc.so.6") && first.includes("p:so:libfoo.so.1=1") && first.includes("i:foo-base docs") && first.includes("t:42"));
    assert.ok(text.endsWith("\n\n"));
    // The C: checksum is the SHA-1 of the control member, computed here independently of our reader.
    const sha1 = createHash("sha1").update(pkg.controlMember).digest("base64");
    assert.equal(pkg.checksum, `Q1${sha1}`);
  });

  it("verifies with the public key and fails with another", () => {
    const file = join(dir, "repo/APKINDEX.tar.gz");
    const index = readIndexFile(file);
    assert.equal(index.description, "test repo");
    assert.equal(verifyIndex(index, ApkKeyring.fromFiles([`${key}.pub`])).packages, 4);
    const other = generateApkKey(join(dir, "other"), { bits: 2048 });
    assert.throws(
      () => verifyIndex(index, ApkKeyring.fromFiles([other.publicKeyPath])),
      (e: unknown) => e instanceof UndistroError && e.code === "APK_UNKNOWN_KEY",
    );
    const tampered = readFileSync(file);
    tampered[tampered.length - 30] = (tampered[tampered.length - 30] as number) ^ 1;
    writeFileSync(join(dir, "tampered.tar.gz"), tampered);
    assert.throws(
      () => readIndexFile(join(dir, "tampered.tar.gz")),
      (e: unknown) => e instanceof UndistroError && e.message.includes("tampered.tar.gz"),
    );
  });

  it("is byte-identical when rebuilt from the same packages", () => {
    const a = readFileSync(join(dir, "repo/APKINDEX.tar.gz"));
    indexDirectory(join(dir, "repo"), { signingKey: loadSigningKey(key), sourceDateEpoch: 42, description: "test repo" });
    assert.deepEqual(readFileSync(join(dir, "repo/APKINDEX.tar.gz")), a);
  });

  it("round-trips apk-tools' bare APKINDEX text (solver test repositories)", () => {
    const entries = parseIndex(readFileSync(join(REFERENCE, "apko/pkg/apk/apk/testdata/extracted/APKINDEX"), "utf8"), "APKINDEX");
    assert.ok(entries.length > 0);
    for (const e of entries) assert.match(e.checksum, /^Q1/);
  });

  it("names the line of a malformed record", () => {
    assert.throws(
      () => parseIndex("C:Q1abc=\nP:x\nV:1\nthis is not a field\n", "broken/APKINDEX"),
      (e: unknown) => e instanceof UndistroError && e.code === "APK_BAD_INDEX" && e.message.includes("broken/APKINDEX: line 4"),
    );
    assert.throws(
      () => parseIndex("C:Q1abc=\nV:1\n", "noname"),
      (e: unknown) => e instanceof UndistroError && e.message.includes("missing P:"),
    );
  });
});

describe("provides two packages of one index share", () => {
  const entry = (name: string, provides: string[]): IndexEntry => ({
    checksum: `Q1${createHash("sha1").update(name).digest("base64")}`,
    name,
    version: "1-r0",
    arch: "x86_64",
    fileSize: 1,
    installedSize: 1,
    depends: [],
    provides,
    installIf: [],
    replaces: [],
    extra: [],
  });

  it("names each versioned provide (a cmd: of busybox's and binutils') with the packages, and leaves unversioned ones alone", () => {
    const overlaps = overlappingProvides([
      entry("busybox", ["cmd:strings=1.35.0-r0", "cmd:sh=1.35.0-r0", "/bin/sh"]),
      entry("binutils", ["cmd:strings=2.44-r0", "cmd:ld=2.44-r0"]),
      entry("dash", ["/bin/sh"]),
      entry("busybox", ["cmd:strings=1.36.0-r0"]),
    ]);
    assert.deepEqual(overlaps, [{ provide: "cmd:strings", packages: ["binutils", "busybox"] }]);
  });
});
