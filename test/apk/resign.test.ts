import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isSignatureAlgorithm, loadSigningKey, readIndexFile, readPackage, signBytes } from "../../src/apk/index.js";
import { findFiles, REFERENCE } from "../helpers.js";

const TESTDATA = join(REFERENCE, "apko/internal/cli/testdata");
const CASES = [
  { dir: join(TESTDATA, "packages"), key: join(TESTDATA, "melange.rsa") },
  { dir: join(TESTDATA, "private_packages/packages"), key: join(TESTDATA, "private_packages/private_pkg_key.rsa") },
];

describe("re-signing apko's test artefacts with apko's test private keys", () => {
  for (const { dir, key } of CASES) {
    const signingKey = loadSigningKey(key);
    const files = findFiles(dir, (n) => n.endsWith(".apk") || n === "APKINDEX.tar.gz");
    it(`reproduces every embedded signature under ${dir.slice(REFERENCE.length + 1)} (${files.length} files)`, () => {
      assert.ok(files.length >= 4);
      for (const file of files) {
        const parsed = file.endsWith(".apk") ? readPackage(file) : readIndexFile(file);
        const signed = "controlMember" in parsed ? parsed.controlMember : parsed.signedBytes;
        assert.equal(parsed.signatures.length, 1, file);
        const sig = parsed.signatures[0];
        assert.ok(sig !== undefined && isSignatureAlgorithm(sig.algorithm));
        assert.equal(sig.keyName, signingKey.keyName);
        const ours = signBytes(signed, signingKey, sig.algorithm);
        assert.equal(ours.toString("hex"), sig.signature.toString("hex"), `${file}: ${sig.algorithm} signature bytes`);
      }
    });
  }
});
