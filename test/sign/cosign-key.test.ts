import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPublicKey, sign, verify } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { decryptCosignKey, encryptCosignKey, loadCosignPrivateKey, publicKeyPem } from "../../src/sign/index.js";
import { BIN, REFERENCE, runCli, tempDir } from "../helpers.js";

const SIGSTORE = join(REFERENCE, "sigstore");

interface Result {
  file: string;
  password?: string | null;
  decrypts?: boolean;
  inner?: string;
  publicKeyPem?: string;
}
const results = JSON.parse(readFileSync(join(SIGSTORE, "derived-key-decryption-results.json"), "utf8")) as Result[];

const err = (fn: () => unknown): { code: string; message: string } => {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string };
  }
  assert.fail("expected an error");
};

describe("cosign key files (sigstore reference keys)", () => {
  it("every PKCS#8 reference key decrypts to the public key listed for it", () => {
    let checked = 0;
    for (const r of results) {
      if (typeof r.password !== "string" || !r.decrypts || r.inner?.startsWith("SEC1")) continue;
      const pem = readFileSync(join(SIGSTORE, r.file), "utf8");
      const key = decryptCosignKey(pem, r.password, r.file);
      if (r.publicKeyPem) assert.equal(publicKeyPem(key), r.publicKeyPem, r.file);
      checked++;
    }
    assert.equal(checked, 6, "pemcosignkey, pemsigstorekey, ecdsa, empty-password, ed25519 (PKCS#8 v2), rsa");
  });

  it("rejects SEC1 plaintext, wrong passwords, unknown files and disallowed scrypt parameters", () => {
    const sec1 = results.find((r) => r.inner?.startsWith("SEC1")) as Result;
    assert.equal(err(() => decryptCosignKey(readFileSync(join(SIGSTORE, sec1.file), "utf8"), sec1.password as string)).code, "KEY_FORMAT");
    const ecdsa = readFileSync(join(SIGSTORE, "sigstore+sigstore-rs/tests/data/keys/ecdsa_encrypted_private.key"), "utf8");
    assert.equal(err(() => decryptCosignKey(ecdsa, "124")).code, "KEY_PASSWORD");
    const ci = readFileSync(join(SIGSTORE, "sigstore+cosign/.github/workflows/cosign-test.key"), "utf8");
    assert.equal(err(() => decryptCosignKey(ci, "not the CI secret")).code, "KEY_PASSWORD");
    // Raise N to 2^20 in an otherwise valid key document.
    const body = ecdsa.split("\n").slice(1, -2).join("");
    const doc = JSON.parse(Buffer.from(body, "base64").toString("utf8"));
    doc.kdf.params.N = 1048576;
    const greedy = `-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n${Buffer.from(JSON.stringify(doc)).toString("base64")}\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n`;
    const e = err(() => decryptCosignKey(greedy, "123", "greedy.key"));
    assert.equal(e.code, "KEY_FORMAT");
    assert.match(e.message, /greedy\.key: kdf\.params N=1048576/);
    assert.equal(err(() => decryptCosignKey("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "")).code, "KEY_FORMAT");
  });

  it("keygen --cosign writes an encrypted key that round-trips and signs for its public key", async (t) => {
    const dir = tempDir(t);
    process.env.UNDISTRO_PASSWORD = "correct horse";
    try {
      const r = await runCli(["keygen", "--cosign", join(dir, "cosign"), "--json"]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      delete process.env.UNDISTRO_PASSWORD;
    }
    assert.equal(statSync(join(dir, "cosign.key")).mode & 0o777, 0o600);
    const pem = readFileSync(join(dir, "cosign.key"), "utf8");
    assert.match(pem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const doc = JSON.parse(Buffer.from(pem.split("\n").slice(1, -2).join(""), "base64").toString("utf8"));
    assert.deepEqual(doc.kdf.params, { N: 65536, r: 8, p: 1 });
    const key = loadCosignPrivateKey(join(dir, "cosign.key"), "correct horse");
    const pub = createPublicKey(readFileSync(join(dir, "cosign.pub"), "utf8"));
    assert.equal(pub.asymmetricKeyDetails?.namedCurve, "prime256v1");
    const sig = sign("sha256", Buffer.from("payload"), key);
    assert.ok(verify("sha256", Buffer.from("payload"), pub, sig));
    assert.equal(err(() => loadCosignPrivateKey(join(dir, "cosign.key"), "wrong")).code, "KEY_PASSWORD");
    // A re-encrypted reference key opens with the new password and keeps its public key.
    const ref = results.find((x) => x.file.endsWith("ecdsa_encrypted_private.key")) as Result;
    const reenc = encryptCosignKey(decryptCosignKey(readFileSync(join(SIGSTORE, ref.file), "utf8"), "123"), "new");
    writeFileSync(join(dir, "re.key"), reenc);
    assert.equal(publicKeyPem(loadCosignPrivateKey(join(dir, "re.key"), "new")), ref.publicKeyPem);
  });

  it("asks for the password on a terminal (twice for a new key), and refuses without one", (t) => {
    const dir = tempDir(t);
    const env = { ...process.env };
    delete env.UNDISTRO_PASSWORD;
    delete env.COSIGN_PASSWORD;
    // script(1) gives the CLI a pseudo-terminal; the answers are typed ahead on its stdin.
    const tty = (input: string, args: string) =>
      spawnSync("script", ["-qec", `${BIN} ${args}`, "/dev/null"], { input, env, encoding: "utf8", timeout: 30_000 });
    const ok = tty("pw1\rpw1\r", `keygen --cosign ${join(dir, "k")}`);
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, /Enter password for private key: /);
    assert.equal(publicKeyPem(loadCosignPrivateKey(join(dir, "k.key"), "pw1")), readFileSync(join(dir, "k.pub"), "utf8"));
    const differ = tty("a\rb\r", `keygen --cosign ${join(dir, "k2")}`);
    assert.notEqual(differ.status, 0);
    assert.match(differ.stdout, /KEY_PASSWORD.*the two passwords differ/);
    const noTty = spawnSync(BIN, ["keygen", "--cosign", join(dir, "k3")], { env, encoding: "utf8", input: "" });
    assert.equal(noTty.status, 1);
    assert.match(noTty.stderr, /KEY_PASSWORD.*no terminal/);
  });
});
