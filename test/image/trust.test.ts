import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import zlib from "node:zlib";
import { END_OF_ARCHIVE, encodeEntry, generateApkKey } from "../../src/apk/index.js";
import { th } from "../apk/craft.js";
import { REFERENCE, runBin, tempDir } from "../helpers.js";
import { layerEntries } from "./helpers.js";

const TESTDATA = join(REFERENCE, "apko/internal/cli/testdata");
const REPO = join(TESTDATA, "packages");
const PUB = join(REPO, "melange.rsa.pub");

function config(dir: string, keyring: string[]): string {
  const file = join(dir, `image-${keyring.length}.yaml`);
  writeFileSync(file, `contents:\n  keyring: [${keyring.join(", ")}]\n  repositories: [${REPO}]\n  packages: [replayout]\narchs: [x86_64]\n`);
  return file;
}

function noStack(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  assert.doesNotMatch(stderr, /error\[INTERNAL\]/);
}

describe("trust: images and installs verify, or refuse loudly", () => {
  it("image build and image lock refuse a config with no keyring unless --allow-untrusted, which warns and records it", (t) => {
    const dir = tempDir(t);
    const cfg = config(dir, []);
    const refused = runBin(["image", "build", cfg, "--out", join(dir, "out")]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^error\[IMAGE_UNTRUSTED\]: .*image-0\.yaml: contents\.keyring is empty/m);
    assert.match(refused.stderr, /hint: .*--allow-untrusted/);
    noStack(refused.stderr);
    assert.equal(existsSync(join(dir, "out", "index.json")), false, "nothing written");
    const lock = runBin(["image", "lock", cfg, "--out", join(dir, "l.json")]);
    assert.equal(lock.code, 1);
    assert.match(lock.stderr, /error\[IMAGE_UNTRUSTED\]/);

    const allowed = runBin(["image", "build", cfg, "--out", join(dir, "out"), "--allow-untrusted"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /WARNING: --allow-untrusted: .*NO index or package signature was verified/);
    const provenance = JSON.parse(readFileSync(join(dir, "out", "provenance.json"), "utf8"));
    assert.equal(provenance.buildDefinition.internalParameters.signaturesVerified, false);
    // With the key, nothing is said and the provenance has no such flag.
    const trusted = runBin(["image", "build", config(dir, [PUB]), "--out", join(dir, "trusted")]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.doesNotMatch(trusted.stderr, /WARNING/);
    assert.equal(JSON.parse(readFileSync(join(dir, "trusted", "provenance.json"), "utf8")).buildDefinition.internalParameters.signaturesVerified, undefined);
  });

  it("a private key given as a trusted key is refused by install, image build and verify; its PEM never lands in an image", (t) => {
    const dir = tempDir(t);
    const key = generateApkKey(join(dir, "leaky"), { bits: 2048 });
    const built = runBin(["image", "build", config(dir, [key.privateKeyPath]), "--out", join(dir, "out")]);
    assert.equal(built.code, 1, built.stderr);
    assert.match(built.stderr, /^error\[KEY_PRIVATE\]: .*leaky\.rsa: is a private key; a keyring holds public keys only/m);
    noStack(built.stderr);
    assert.equal(existsSync(join(dir, "out", "index.json")), false);
    const installed = runBin(["install", "replayout", "--root", join(dir, "root"), "-X", REPO, "--keyring", key.privateKeyPath, "--arch", "x86_64"]);
    assert.equal(installed.code, 1);
    assert.match(installed.stderr, /error\[KEY_PRIVATE\]/);
    assert.equal(existsSync(join(dir, "root", "etc/apk/keys/leaky.rsa")), false);
    const verified = runBin(["apk", "verify", join(REPO, "x86_64", "pretend-baselayout-1.0.0-r0.apk"), "--keys-dir", dir]);
    assert.notEqual(verified.code, 0, "a directory with only a private key trusts nothing");
    // A private key appended to a public one is still a private key.
    const mixed = join(dir, "mixed.rsa.pub");
    writeFileSync(mixed, Buffer.concat([readFileSync(PUB), readFileSync(key.privateKeyPath)]));
    const m = runBin(["image", "build", config(dir, [mixed]), "--out", join(dir, "out2")]);
    assert.match(m.stderr, /error\[KEY_PRIVATE\]/);
    // The good build copies exactly the public key bytes.
    const good = runBin(["image", "build", config(dir, [PUB]), "--out", join(dir, "good"), "--json"]);
    assert.equal(good.code, 0, good.stderr);
    const layer = JSON.parse(good.stdout).archs[0].layer.digest.slice(7);
    const entries = layerEntries(readFileSync(join(dir, "good/blobs/sha256", layer)));
    assert.deepEqual(entries.get("etc/apk/keys/melange.rsa.pub")?.content, readFileSync(PUB));
    for (const e of entries.values()) assert.ok(!e.content.includes("PRIVATE KEY"), e.header.name);
  });

  it("a file that is not a PEM key gets KEY_INVALID naming it, not an internal error", (t) => {
    const dir = tempDir(t);
    const junk = join(dir, "junk.pub");
    writeFileSync(junk, "this is not a key\n");
    const damaged = join(dir, "damaged.pub");
    writeFileSync(damaged, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    for (const file of [junk, damaged]) {
      for (const args of [
        ["image", "build", config(dir, [file]), "--out", join(dir, "o")],
        ["install", "replayout", "--root", join(dir, "r"), "-X", REPO, "--keyring", file, "--arch", "x86_64"],
      ]) {
        const r = runBin(args);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^error\\[KEY_INVALID\\]: ${file.replace(/[.]/g, "\\.")}: `, "m"));
        noStack(r.stderr);
      }
    }
  });

  it("an index record whose name, version or arch would be a path is refused before anything is fetched or written", (t) => {
    const dir = tempDir(t);
    for (const [field, record] of [
      ["P", "P:../../../../tmp/evil\nV:1-r0\nA:x86_64\nC:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"],
      ["V", "P:evil\nV:1-r0/../../x\nA:x86_64\nC:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"],
      ["A", "P:evil\nV:1-r0\nA:../x\nC:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"],
    ] as const) {
      const text = Buffer.from(`${record}\n`);
      const index = zlib.gzipSync(Buffer.concat([...encodeEntry(th("APKINDEX", "file", { size: text.length }), text), END_OF_ARCHIVE]));
      const repo = join(dir, `repo-${field}`);
      const arch = join(repo, "x86_64");
      mkdirSync(arch, { recursive: true });
      writeFileSync(join(arch, "APKINDEX.tar.gz"), index);
      const r = runBin(["resolve", "evil", "-X", repo, "--allow-untrusted", "--arch", "x86_64"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`error\\[APK_BAD_INDEX\\]: .*${field}: .* is not a valid`), r.stderr);
      noStack(r.stderr);
    }
  });
});
