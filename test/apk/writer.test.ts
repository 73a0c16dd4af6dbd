import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import {
  ApkKeyring,
  emptyPackageInfo,
  generateApkKey,
  loadSigningKey,
  type PackageInfo,
  readPackage,
  splitGzipMembers,
  verifyPackage,
  writePackage,
} from "../../src/apk/index.js";
import { UndistroError } from "../../src/util/index.js";
import { REFERENCE, run, tempDir } from "../helpers.js";

const LONG = `usr/share/${"deep-directory-name/".repeat(6)}a-file-whose-path-is-longer-than-one-hundred-bytes.txt`;

/** A staged tree with every kind of entry the writer supports. */
function stage(root: string): void {
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "tmp"), { recursive: true });
  writeFileSync(join(root, "usr/bin/hello"), "#!/bin/sh\necho hello\n");
  chmodSync(join(root, "usr/bin/hello"), 0o755);
  writeFileSync(join(root, "usr/bin/su-helper"), "x");
  chmodSync(join(root, "usr/bin/su-helper"), 0o4755);
  writeFileSync(join(root, "etc/hello.conf"), "greeting=hi\n");
  writeFileSync(join(root, "etc/empty"), "");
  writeFileSync(join(root, "etc/grüße.txt"), "unicode name\n");
  symlinkSync("hello", join(root, "usr/bin/hi"));
  symlinkSync("/usr/bin/hello", join(root, "usr/bin/hello-abs"));
  linkSync(join(root, "usr/bin/hello"), join(root, "usr/bin/hello-hardlink"));
  chmodSync(join(root, "tmp"), 0o1777);
  mkdirSync(join(root, LONG, ".."), { recursive: true });
  writeFileSync(join(root, LONG), "long\n");
}

function info(): PackageInfo {
  const i = emptyPackageInfo("hello-test", "1.2.3-r4", "x86_64");
  i.description = "a test package";
  i.url = "https://example.org/hello";
  i.license = "GPL-3.0-or-later";
  i.origin = "hello";
  i.commit = "0123456789abcdef0123456789abcdef01234567";
  i.maintainer = "Undistro Tests <tests@undistro.invalid>";
  i.packager = "undistro tests";
  i.depends = ["so:libc.so.6", "busybox>=1.36"];
  i.provides = ["cmd:hello=1.2.3-r4", "hello-compat"];
  i.replaces = ["hello-old"];
  i.providerPriority = 10;
  i.installIf = ["hello=1.2.3-r4", "docs"];
  i.triggers = ["/usr/share/hello/*"];
  return i;
}

describe("APK writer", () => {
  let dir: string;
  let keyPath: string;
  before(() => {
    dir = tempDir();
    keyPath = generateApkKey(join(dir, "test-key"), { bits: 2048 }).privateKeyPath;
    stage(join(dir, "stage"));
  });

  async function build(from: string, out: string, epoch = 1700000000) {
    return writePackage(
      {
        sourceDir: from,
        info: info(),
        signingKey: loadSigningKey(keyPath),
        sourceDateEpoch: epoch,
        scripts: { ".post-install": "#!/bin/sh\necho installed\n" },
      },
      out,
    );
  }

  it("writes a package that Debian's gzip, tar and openssl read back as expected", async () => {
    const out = join(dir, "hello.apk");
    const created = await build(join(dir, "stage"), out);
    const bytes = readFileSync(out);
    assert.equal(bytes.length, created.size);
    assert.equal(run("gzip", ["-t", out]).code, 0, "every gzip member is intact");
    // All members concatenated are one tar stream: signature, control, data (what apk reads).
    const listing = run("tar", ["-tzf", out]).stdout.toString("utf8").trim().split("\n");
    assert.deepEqual(listing.slice(0, 3), [".SIGN.RSA256.test-key.rsa.pub", ".PKGINFO", ".post-install"]);
    assert.ok(listing.includes("usr/bin/hello") && listing.includes(LONG) && listing.includes("etc/grüße.txt"));
    const x = join(dir, "x-tar");
    mkdirSync(x);
    assert.equal(run("tar", ["-xzpf", out, "-C", x]).code, 0);
    const pkginfo = readFileSync(join(x, ".PKGINFO"), "utf8");
    for (const line of [
      "pkgname = hello-test",
      "pkgver = 1.2.3-r4",
      "arch = x86_64",
      "origin = hello",
      "pkgdesc = a test package",
      "url = https://example.org/hello",
      "commit = 0123456789abcdef0123456789abcdef01234567",
      "builddate = 1700000000",
      "packager = undistro tests",
      "maintainer = Undistro Tests <tests@undistro.invalid>",
      "license = GPL-3.0-or-later",
      "depend = so:libc.so.6",
      "depend = busybox>=1.36",
      "provides = cmd:hello=1.2.3-r4",
      "provides = hello-compat",
      "replaces = hello-old",
      "provider_priority = 10",
      "install_if = hello=1.2.3-r4 docs",
      "triggers = /usr/share/hello/*",
    ]) {
      assert.ok(pkginfo.split("\n").includes(line), `.PKGINFO has "${line}":\n${pkginfo}`);
    }
    const sizeLine = pkginfo.split("\n").find((l) => l.startsWith("size = "));
    assert.equal(sizeLine, `size = ${21 + 1 + 12 + 0 + 13 + 5}`, "installed size counts regular file bytes once (hardlinks not twice)");
    assert.equal(readFileSync(join(x, "usr/bin/hello"), "utf8"), "#!/bin/sh\necho hello\n");
    assert.equal(lstatSync(join(x, "usr/bin/hello")).mode & 0o7777, 0o755);
    assert.equal(lstatSync(join(x, "usr/bin/su-helper")).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(join(x, "etc/hello.conf")).mode & 0o7777, 0o644);
    assert.equal(lstatSync(join(x, "tmp")).mode & 0o7777, 0o1777);
    assert.equal(readlinkSync(join(x, "usr/bin/hi")), "hello");
    assert.equal(readlinkSync(join(x, "usr/bin/hello-abs")), "/usr/bin/hello");
    assert.equal(lstatSync(join(x, "usr/bin/hello-hardlink")).ino, lstatSync(join(x, "usr/bin/hello")).ino);
    assert.equal(lstatSync(join(x, "usr/bin/hello")).mtimeMs, 1700000000 * 1000);
    assert.equal(readFileSync(join(x, LONG), "utf8"), "long\n");
    // Owners as GNU tar reports them.
    const verbose = run("tar", ["-tvzf", out]).stdout.toString("utf8");
    assert.ok(
      verbose
        .split("\n")
        .filter((l) => l.includes("usr/bin/hello"))
        .every((l) => l.includes("root/root")),
      verbose,
    );

    // The member boundaries: the control member alone is a gzip stream holding exactly the control files,
    // and the RSA-SHA256 signature in the first member verifies over it with openssl.
    const members = splitGzipMembers(bytes, (i) => `member ${i}`);
    assert.equal(members.length, 3);
    const control = members[1]?.raw as Buffer;
    const controlList = run("tar", ["-tzf", "-"], { input: control }).stdout.toString("utf8").trim().split("\n");
    assert.deepEqual(controlList, [".PKGINFO", ".post-install"]);
    writeFileSync(join(dir, "control.gz"), control);
    writeFileSync(join(dir, "sig.bin"), readFileSync(join(x, ".SIGN.RSA256.test-key.rsa.pub")));
    const v = run("openssl", ["dgst", "-sha256", "-verify", `${keyPath}.pub`, "-signature", join(dir, "sig.bin"), join(dir, "control.gz")]);
    assert.equal(v.stdout.toString("utf8").trim(), "Verified OK", v.stderr);
    // datahash = sha256 of the data member to end of file.
    const dataStart = (members[2] as { offset: number }).offset;
    const tail = run("tail", ["-c", String(bytes.length - dataStart), out]).stdout;
    assert.ok(pkginfo.includes(`datahash = ${createHash("sha256").update(tail).digest("hex")}`));
    // Each regular file and symlink carries its SHA-1 in a PAX record.
    const pkg = readPackage(out);
    const hello = pkg.files.find((f) => f.path === "usr/bin/hello");
    assert.equal(hello?.checksum, `SHA1:${createHash("sha1").update("#!/bin/sh\necho hello\n").digest("hex")}`);
    assert.equal(pkg.files.find((f) => f.path === "usr/bin/hi")?.checksum, `SHA1:${createHash("sha1").update("hello").digest("hex")}`);
    assert.equal(verifyPackage(pkg, ApkKeyring.fromFiles([`${keyPath}.pub`])).filesChecked, 8);
  });

  it("gives identical bytes for identical input, from another path, other mtimes and another umask", async () => {
    const a = await build(join(dir, "stage"), join(dir, "a.apk"));
    const b = await build(join(dir, "stage"), join(dir, "b.apk"));
    const other = join(dir, "elsewhere/deeper/stage-copy");
    const old = process.umask(0o077);
    try {
      cpSync(join(dir, "stage"), other, { recursive: true, verbatimSymlinks: true });
      // cpSync does not keep the hardlink: recreate it, and fix the modes the umask narrowed as a user would not.
    } finally {
      process.umask(old);
    }
    const { rmSync } = await import("node:fs");
    rmSync(join(other, "usr/bin/hello-hardlink"));
    linkSync(join(other, "usr/bin/hello"), join(other, "usr/bin/hello-hardlink"));
    chmodSync(join(other, "usr/bin/hello"), 0o700);
    chmodSync(join(other, "etc/hello.conf"), 0o600);
    chmodSync(join(other, "usr"), 0o700);
    chmodSync(join(other, "tmp"), 0o1700);
    utimesSync(join(other, "etc/hello.conf"), 12345, 12345);
    const c = await build(other, join(dir, "c.apk"));
    const sha = (f: string) =>
      createHash("sha256")
        .update(readFileSync(join(dir, f)))
        .digest("hex");
    assert.equal(sha("a.apk"), sha("b.apk"));
    assert.equal(sha("a.apk"), sha("c.apk"));
    assert.equal(a.checksum, c.checksum);
    assert.equal(b.size, c.size);
    const d = await build(join(dir, "stage"), join(dir, "d.apk"), 1700000001);
    assert.notEqual(d.checksum, a.checksum, "SOURCE_DATE_EPOCH is part of the input");
  });

  it("refuses FIFOs and control files in the staged tree, writing nothing", async () => {
    const s = join(dir, "bad-stage");
    mkdirSync(s);
    run("mkfifo", [join(s, "pipe")]);
    await assert.rejects(
      build(s, join(dir, "fifo.apk")),
      (e: unknown) => e instanceof UndistroError && e.code === "APK_BAD_INPUT" && e.message.includes("pipe"),
    );
    assert.throws(() => lstatSync(join(dir, "fifo.apk")));
    const s2 = join(dir, "bad-stage2");
    mkdirSync(s2);
    writeFileSync(join(s2, ".PKGINFO"), "pkgname = evil\n");
    await assert.rejects(build(s2, join(dir, "ctl.apk")), (e: unknown) => e instanceof UndistroError && e.code === "APK_BAD_INPUT");
    assert.throws(() => lstatSync(join(dir, "ctl.apk")));
  });

  it("refuses a multi-line field instead of writing a broken .PKGINFO", async () => {
    const i = info();
    i.description = "two\nlines";
    await assert.rejects(
      writePackage({ sourceDir: join(dir, "stage"), info: i, sourceDateEpoch: 0 }, join(dir, "ml.apk")),
      (e: unknown) => e instanceof UndistroError && e.code === "APK_BAD_FIELD" && e.message.includes("pkgdesc"),
    );
  });
});

describe("APK writer golden digest", () => {
  it("writes the pinned bytes for a fixed input", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "stage");
    mkdirSync(join(root, "usr/share/golden"), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(root, "usr/share/golden", `file-${i}.txt`), `line ${i}\n`.repeat(i * 50 + 1));
    symlinkSync("file-0.txt", join(root, "usr/share/golden/link"));
    const created = await writePackage(
      {
        sourceDir: root,
        info: emptyPackageInfo("golden", "1.0.0-r0", "x86_64"),
        // apko's published test key (reference/apko/internal/cli/testdata/melange.rsa): RSA PKCS#1 v1.5 is deterministic.
        signingKey: loadSigningKey(join(REFERENCE, "apko/internal/cli/testdata/melange.rsa")),
        sourceDateEpoch: 1700000000,
      },
      join(dir, "golden.apk"),
    );
    const digest = createHash("sha256")
      .update(readFileSync(join(dir, "golden.apk")))
      .digest("hex");
    // Pinned once computed. It legitimately changes only when the compressor changes (Node's bundled
    // zlib, level 6) or when undistro's APK layout changes on purpose (tar headers, .PKGINFO fields);
    // anything else changing it is a reproducibility bug.
    assert.equal(digest, GOLDEN_SHA256, `golden.apk sha256 (control ${created.checksum})`);
  });
});
const GOLDEN_SHA256 = "27f7732581f58b81f7f42ddb83e8c91f4e3ffd01154be037368cf2e9165d1bae";
