import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { distroRelease, installedApkPurl, parseOsRelease } from "../../src/sbom/index.js";

describe("purls of installed packages, as scanners derive them", () => {
  it("reads os-release: quotes, escapes, comments and junk lines", () => {
    const text = '# comment\nID=undistro\nNAME="undistro \\"base\\""\nVERSION_ID=\'0.1\'\nnot a line\nPRETTY_NAME="a $b"\n';
    assert.deepEqual(parseOsRelease(text), { ID: "undistro", NAME: 'undistro "base"', VERSION_ID: "0.1", PRETTY_NAME: "a $b" });
    assert.deepEqual(distroRelease(text), { id: "undistro", versionId: "0.1" });
    assert.equal(distroRelease("NAME=x\n"), undefined, "no ID, no release");
    assert.deepEqual(distroRelease("ID=Wolfi\n"), { id: "Wolfi" });
  });

  it("namespace is the lower-cased ID, distro is ID-VERSION_ID, upstream names a subpackage's origin; qualifiers sorted", () => {
    const release = { id: "Undistro", versionId: "0.1" };
    assert.equal(
      installedApkPurl(release, { name: "hello", version: "2.10-r0", arch: "x86_64", origin: "hello" }),
      "pkg:apk/undistro/hello@2.10-r0?arch=x86_64&distro=undistro-0.1",
    );
    assert.equal(
      installedApkPurl(release, { name: "hello-doc", version: "2.10-r0", arch: "x86_64", origin: "hello" }),
      "pkg:apk/undistro/hello-doc@2.10-r0?arch=x86_64&distro=undistro-0.1&upstream=hello",
    );
    assert.equal(
      installedApkPurl({ id: "wolfi" }, { name: "g++", version: "1.0_rc1-r2", arch: "aarch64" }),
      "pkg:apk/wolfi/g%2B%2B@1.0_rc1-r2?arch=aarch64&distro=wolfi",
    );
  });
});
