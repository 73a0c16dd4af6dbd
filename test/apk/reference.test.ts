/**
 * Golden tests against artefacts other tools produced (apk-tools, melange, apko, wolfictl), as
 * shipped in ../shared/reference. Nothing here was written by undistro.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  ApkKeyring,
  compareVersions,
  isValidVersion,
  parseDependencies,
  parseIndexArchive,
  readIndexFile,
  readPackage,
  verifyIndex,
  verifyPackage,
} from "../../src/apk/index.js";
import { UndistroError } from "../../src/util/index.js";
import { findFiles, REFERENCE, run } from "../helpers.js";
import { keysBeside } from "./reference-keys.js";

/**
 * What each real artefact must give with the keys shipped beside it. "verified:KEY" = signature,
 * datahash and file checksums all hold; otherwise the error code. Unknown keys are Alpine's and one
 * melange local key that the reference set does not ship; the unsigned ones were published unsigned.
 */
const EXPECTED: Array<[string, string]> = [
  ["wolfictl/pkg/apk/testdata/APKINDEX.tar.gz", "APK_UNSIGNED"],
  ["wolfictl/pkg/checks/testdata/diff/APKINDEX.tgz", "APK_UNSIGNED"],
  ["wolfictl/pkg/checks/testdata/diff/aarch64/test-1.2.3-r0.apk", "unreadable:APK_NO_PKGINFO"],
  ["wolfictl/pkg/checks/testdata/diff/aarch64/test_sub-1.2.3-r0.apk", "unreadable:APK_NO_PKGINFO"],
  ["wolfictl/pkg/checks/testdata/diff/test_orig.apk", "unreadable:APK_NO_PKGINFO"],
  ["wolfictl/pkg/checks/testdata/hello-wolfi-2.12-r1.apk", "verified:wolfi-signing.rsa.pub"],
  ["wolfictl/pkg/dag/testdata/cycle/packages/x86_64/APKINDEX.tar.gz", "verified:key.rsa.pub"],
  ["wolfictl/pkg/dag/testdata/packages/x86_64/APKINDEX.tar.gz", "verified:wolfi-signing.rsa.pub"],
  ["wolfictl/pkg/tar/testdata/hello-wolfi-2.12-r1.apk", "verified:wolfi-signing.rsa.pub"],
  ["apko/internal/cli/testdata/packages/aarch64/APKINDEX.tar.gz", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/aarch64/custom-ca-certs-1-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/aarch64/custom-ca-certs-2-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/aarch64/pretend-baselayout-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/aarch64/replayout-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/x86_64/APKINDEX.tar.gz", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/x86_64/custom-ca-certs-1-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/x86_64/custom-ca-certs-2-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/x86_64/pretend-baselayout-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/packages/x86_64/replayout-1.0.0-r0.apk", "verified:melange.rsa.pub"],
  ["apko/internal/cli/testdata/private_packages/packages/aarch64/APKINDEX.tar.gz", "verified:private_pkg_key.rsa.pub"],
  ["apko/internal/cli/testdata/private_packages/packages/aarch64/package-x-1.0.0-r0.apk", "verified:private_pkg_key.rsa.pub"],
  ["apko/internal/cli/testdata/private_packages/packages/aarch64/package-y-1.0.0-r0.apk", "verified:private_pkg_key.rsa.pub"],
  ["apko/internal/cli/testdata/private_packages/packages/x86_64/APKINDEX.tar.gz", "verified:private_pkg_key.rsa.pub"],
  ["apko/internal/cli/testdata/private_packages/packages/x86_64/package-x-1.0.0-r0.apk", "verified:private_pkg_key.rsa.pub"],
  ["apko/internal/cli/testdata/private_packages/packages/x86_64/package-y-1.0.0-r0.apk", "verified:private_pkg_key.rsa.pub"],
  ["apko/pkg/apk/apk/testdata/APKINDEX.tar.gz", "APK_UNSIGNED"],
  ["apko/pkg/apk/apk/testdata/alpine-316/APKINDEX.tar.gz", "APK_UNKNOWN_KEY"],
  ["apko/pkg/apk/apk/testdata/alpine-316/alpine-baselayout-3.2.0-r23.apk", "APK_UNKNOWN_KEY"],
  ["apko/pkg/apk/apk/testdata/alpine-317/APKINDEX.tar.gz", "APK_UNKNOWN_KEY"],
  ["apko/pkg/apk/apk/testdata/alpine-317/alpine-baselayout-3.2.0-r23.apk", "APK_UNKNOWN_KEY"],
  ["apko/pkg/apk/apk/testdata/alpine-317/alpine-baselayout-3.4.0-r0.apk", "APK_UNKNOWN_KEY"],
  ["apko/pkg/apk/apk/testdata/hello-0.1.0-r0.apk", "APK_UNSIGNED"],
  ["apko/pkg/apk/apk/testdata/hello-wolfi-2.12.1-r0.apk", "APK_UNKNOWN_KEY"],
  ["apko/pkg/apk/apk/testdata/replaces/replaces-0.0.1-r0.apk", "APK_UNSIGNED"],
  ["apko/pkg/apk/apk/testdata/rsa256-signed/APKINDEX.tar.gz", "verified:test-rsa256.rsa.pub"],
  ["apko/pkg/apk/apk/testdata/signing/APKINDEX.tar.gz", "verified:chainguard-0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0.rsa.pub"],
  ["apko/pkg/apk/fs/testdata/hello-2.12-r0.apk", "APK_UNKNOWN_KEY"],
  ["melange/pkg/linter/testdata/hello-wolfi-2.12.1-r1.apk", "APK_UNKNOWN_KEY"],
  ["melange/pkg/linter/testdata/kubeflow-pipelines-2.1.3-r7.apk", "verified:wolfi-signing.rsa.pub"],
  ["melange/pkg/sca/testdata/aws-c-s3-0.4.9-r0.apk", "APK_BAD_SIGNATURE"],
  ["melange/pkg/sca/testdata/bash-doc-5.2.37-r2.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/generated/x86_64/ld-so-conf-d-test-1-r1.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/generated/x86_64/linux-modules-6.17.7-r0.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/generated/x86_64/linux-modules-gzip-6.17.7-r0.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/generated/x86_64/linux-modules-xz-6.17.7-r0.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/generated/x86_64/linux-modules-zstd-6.17.7-r0.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/generated/x86_64/linux-rpi-modules-1.20250915-r0.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/generated/x86_64/shbang-test-1-r1.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/libcap-2.69-r0.apk", "verified:wolfi-signing.rsa.pub"],
  ["melange/pkg/sca/testdata/neon-4604-r0.apk", "APK_BAD_SIGNATURE"],
  ["melange/pkg/sca/testdata/perl-json-4.11-r0.apk", "APK_UNSIGNED"],
  ["melange/pkg/sca/testdata/ruby3.2-base64-0.2.0-r2.apk", "verified:wolfi-signing.rsa.pub"],
  ["melange/pkg/sign/testdata/test.apk", "verified:wolfi-signing.rsa.pub"],
];

function outcome(file: string): string {
  const isIndex = !file.endsWith(".apk");
  let parsed: ReturnType<typeof readPackage> | ReturnType<typeof readIndexFile>;
  try {
    parsed = isIndex ? readIndexFile(file) : readPackage(file);
  } catch (e) {
    return `unreadable:${(e as UndistroError).code}`;
  }
  try {
    const r = isIndex
      ? verifyIndex(parsed as ReturnType<typeof readIndexFile>, keysBeside(file))
      : verifyPackage(parsed as ReturnType<typeof readPackage>, keysBeside(file));
    return `verified:${r.keyName}`;
  } catch (e) {
    assert.ok(e instanceof UndistroError, `${file}: ${String(e)}`);
    return e.code;
  }
}

describe("real APK artefacts from wolfictl, apko and melange", () => {
  it("covers every .apk and APKINDEX in the reference set", () => {
    const found = ["wolfictl", "apko", "melange"].flatMap((p) =>
      findFiles(join(REFERENCE, p), (n) => n.endsWith(".apk") || /^APKINDEX\.(tar\.gz|tgz)$/.test(n)).map((f) => f.slice(REFERENCE.length + 1)),
    );
    assert.deepEqual(found.sort(), EXPECTED.map(([f]) => f).sort());
  });

  for (const [file, expected] of EXPECTED) {
    it(`${file} → ${expected}`, () => {
      assert.equal(outcome(join(REFERENCE, file)), expected);
    });
  }

  it("fails the two trimmed melange fixtures on both signature and datahash, saying so", () => {
    for (const name of ["aws-c-s3-0.4.9-r0.apk", "neon-4604-r0.apk"]) {
      const file = join(REFERENCE, "melange/pkg/sca/testdata", name);
      assert.throws(
        () => verifyPackage(readPackage(file), keysBeside(file)),
        (e: unknown) =>
          e instanceof UndistroError &&
          e.code === "APK_BAD_SIGNATURE" &&
          e.message.includes(name) &&
          e.message.includes("signature does not match") &&
          /data member sha256 is [0-9a-f]{64} but \.PKGINFO datahash says [0-9a-f]{64}/.test(e.message),
      );
    }
  });

  it("reads the .PKGINFO of a real Wolfi package field by field", () => {
    const pkg = readPackage(join(REFERENCE, "wolfictl/pkg/checks/testdata/hello-wolfi-2.12-r1.apk"));
    assert.equal(pkg.info.name, "hello-wolfi");
    assert.equal(pkg.info.version, "2.12-r1");
    assert.equal(pkg.info.arch, "aarch64");
    assert.ok(pkg.info.depends.includes("so:libc.so.6"));
    assert.equal(pkg.info.dataHash, pkg.computedDataHash);
    assert.ok(pkg.files.some((f) => f.path === "usr/bin/hello" && f.type === "file" && f.mode === 0o755 && f.checksum?.startsWith("SHA1:")));
  });

  it("verifies each of the three signatures of apko's multi-signed index with its own key", () => {
    const file = join(REFERENCE, "apko/pkg/apk/apk/testdata/signing/APKINDEX.tar.gz");
    const index = readIndexFile(file);
    assert.equal(index.signatures.length, 3);
    for (const sig of index.signatures) {
      const ring = ApkKeyring.fromFiles([join(REFERENCE, "apko/pkg/apk/apk/testdata/signing/keys", sig.keyName)]);
      assert.equal(verifyIndex(index, ring).keyName, sig.keyName);
    }
  });

  it("reads both index layouts: DESCRIPTION first (apk-tools) and APKINDEX first (melange)", () => {
    assert.deepEqual(readIndexFile(join(REFERENCE, "apko/pkg/apk/apk/testdata/alpine-317/APKINDEX.tar.gz")).layout, ["DESCRIPTION", "APKINDEX"]);
    assert.deepEqual(readIndexFile(join(REFERENCE, "wolfictl/pkg/dag/testdata/packages/x86_64/APKINDEX.tar.gz")).layout, ["APKINDEX", "DESCRIPTION"]);
    const trailing = readIndexFile(join(REFERENCE, "apko/pkg/apk/apk/testdata/APKINDEX.tar.gz"));
    assert.equal(trailing.signatureFirst, false, "a .SIGN entry after the index does not count as a signature");
    assert.equal(trailing.entries.length, 2);
  });

  for (const release of ["alpine-316", "alpine-317"]) {
    it(`parses the ${release} index completely, checked against Debian's tar`, () => {
      const file = join(REFERENCE, "apko/pkg/apk/apk/testdata", release, "APKINDEX.tar.gz");
      const index = parseIndexArchive(readFileSync(file), file);
      const text = run("tar", ["-xzOf", file, "APKINDEX"]).stdout.toString("utf8");
      const records = text.split("\n\n").filter((r) => r.trim() !== "");
      assert.equal(index.entries.length, records.length);
      assert.ok(index.entries.length > 4900);
      const invalid: string[] = [];
      const letters = (r: string, l: string) => r.split("\n").filter((line) => line.startsWith(`${l}:`)).length;
      // Every field of every record landed somewhere.
      for (const [i, e] of index.entries.entries()) {
        const r = records[i] as string;
        assert.equal(`C:${e.checksum}`, r.split("\n")[0]);
        assert.equal(e.depends.length, (r.split("\n").find((l) => l.startsWith("D:")) ?? "D:").slice(2).split(" ").filter(Boolean).length);
        assert.equal(letters(r, "p") === 1, e.provides.length > 0, `${e.name} provides`);
        assert.equal(letters(r, "i") === 1, e.installIf.length > 0, `${e.name} install_if`);
        // Alpine ships a few versions apk 2.14 itself calls invalid (e.g. aspell-ru 0.99f7): kept, still ordered.
        if (!isValidVersion(e.version)) invalid.push(`${e.name}-${e.version}`);
        assert.ok(/^Q1[A-Za-z0-9+/]{27}=$/.test(e.checksum));
        for (const field of ["D", "p", "i"] as const) {
          const line = r.split("\n").find((l) => l.startsWith(`${field}:`));
          if (line) parseDependencies(line.slice(2), `${release} ${e.name} ${field}:`, false);
        }
      }
      assert.ok(invalid.length < 10, `versions apk calls invalid: ${invalid.join(", ")}`);
      const ordered = index.entries.filter((e) => e.name === "alpine-baselayout");
      assert.ok(ordered.length >= 1);
      assert.ok(compareVersions(ordered[0]?.version ?? "", "3.0") > 0);
    });
  }
});
