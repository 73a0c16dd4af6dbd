import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { ApkKeyring, generateApkKey, loadSigningKey, readPackage, splitGzipMembers } from "../../src/apk/index.js";
import { buildRecipe } from "../../src/build/index.js";
import { buildImage } from "../../src/image/index.js";
import { copyImage, endpoint } from "../../src/oci/index.js";
import { RegistryServer } from "../../src/registry/index.js";
import { diffoscopeAvailable, rebuildCheck, VARIATION_NAMES } from "../../src/reproduce/index.js";
import { generateCosignKey } from "../../src/sign/index.js";
import { runCli, tempDir } from "../helpers.js";

// Two compiler-free recipes built with the host's shell (stage 0): one whose output depends on
// nothing but its inputs, one that writes what each variation changes into its package.
/** A recipe's package block (version 1.0, MIT) before its pipeline. */
const header = (name: string) => `package:\n  name: ${name}\n  version: "1.0"\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n`;

const STEADY = `${header("steady")}  - runs: |
      mkdir -p \${{targets.destdir}}/usr/share/steady
      for i in 1 2 3 4 5 6 7 8; do echo "file $i" > \${{targets.destdir}}/usr/share/steady/f$i; done
      # A listing in a fixed order, whatever order the file system returns.
      ls \${{targets.destdir}}/usr/share/steady | LC_ALL=C sort > \${{targets.destdir}}/usr/share/steady.list
subpackages:
  - name: steady-doc
    pipeline:
      - runs: mkdir -p \${{targets.subpkgdir}}/usr/share/doc/steady && echo docs > \${{targets.subpkgdir}}/usr/share/doc/steady/README
`;

const LEAKY = `${header("leaky")}  - runs: |
      d=\${{targets.destdir}}/usr/share/leaky
      mkdir -p $d/many
      for i in $(seq 1 40); do : > $d/many/f$i; done
      hostname > $d/hostname
      id -u > $d/uid
      nproc > $d/cpus
      echo "$TZ" > $d/tz
      echo "$LANG" > $d/lang
      date -u +%Y > $d/year
      date +%s%N > $d/build-time
      od -An -N8 -tx8 /dev/urandom > $d/random
      ls -f $d/many > $d/order
`;

describe("rebuild-check", () => {
  let dir: string;
  let key: string;
  const repo = () => join(dir, "repo");
  before(async () => {
    dir = tempDir();
    key = generateApkKey(join(dir, "builder"), { bits: 2048 }).privateKeyPath;
    for (const [name, text] of [
      ["steady", STEADY],
      ["leaky", LEAKY],
    ] as const) {
      writeFileSync(join(dir, `${name}.yaml`), text);
      await buildRecipe(join(dir, `${name}.yaml`), { outDir: repo(), signingKey: loadSigningKey(key), sourceDateEpoch: 1700000000 });
    }
  });

  it("rebuilds a package from its own records under every variation and finds it identical", async () => {
    const files = readdirSync(join(repo(), "x86_64"))
      .filter((f) => f.startsWith("steady"))
      .map((f) => join(repo(), "x86_64", f));
    const r = await rebuildCheck(files, { keyring: ApkKeyring.fromFiles([`${key}.pub`]), keyFiles: [`${key}.pub`], variations: [...VARIATION_NAMES] });
    assert.deepEqual(
      r.packages.map((p) => [p.name, p.status]),
      [
        ["steady", "reproduced"],
        ["steady-doc", "reproduced"],
      ],
    );
    assert.equal(r.reproduced, 2);
    for (const p of r.packages) assert.equal(p.obtained, p.expected);
    const fuse = existsSync("/dev/fuse");
    for (const v of r.variations) {
      if (v.name === "file-order" && !fuse) console.log("NOTE: /dev/fuse is missing here: the file-order variation is not tested");
      else assert.ok(v.applied, `${v.name} applied (${v.reason ?? ""})`);
    }
  });

  it("a recipe that reads a patch beside it: the record pins the patch; rebuilt from the recipe directory or a mirror, refused without it", async () => {
    const src = join(dir, "patched-src");
    mkdirSync(join(src, "patched"), { recursive: true });
    // The patch turns "before" into "after" in the workspace's file.
    writeFileSync(join(src, "patched/fix.patch"), "--- a/msg\n+++ b/msg\n@@ -1 +1 @@\n-before\n+after\n");
    writeFileSync(
      join(src, "patched.yaml"),
      `${header("patched")}  - runs: echo before > msg
  - uses: patch
    with:
      patches: patched/fix.patch
  - runs: mkdir -p \${{targets.destdir}}/usr/share && cp msg \${{targets.destdir}}/usr/share/patched.msg
`,
    );
    const out = join(dir, "patched-repo");
    await buildRecipe(join(src, "patched.yaml"), { outDir: out, signingKey: loadSigningKey(key), sourceDateEpoch: 1700000000 });
    const apk = join(out, "x86_64/patched-1.0-r0.apk");
    const record = JSON.parse(readPackage(apk).controlFiles[".undistro-build.json"]?.toString("utf8") ?? "{}");
    const sha = createHash("sha256")
      .update(readFileSync(join(src, "patched/fix.patch")))
      .digest("hex");
    assert.deepEqual(record.files, [{ path: "patched/fix.patch", sha256: sha }]);
    const common = { keyring: ApkKeyring.fromFiles([`${key}.pub`]), keyFiles: [`${key}.pub`], variations: [] };

    const fromDir = await rebuildCheck([apk], { ...common, recipeDir: src });
    assert.deepEqual(
      fromDir.packages.map((p) => p.status),
      ["reproduced"],
    );

    const without = await rebuildCheck([apk], common);
    assert.equal(without.packages[0]?.status, "rebuild-failed");
    assert.match(
      without.packages[0]?.reason ?? "",
      /the build read patched\/fix\.patch \(sha256 [0-9a-f]{64}\) beside its recipe, and no copy with those bytes was found/,
    );

    // A changed patch beside the recipe is not taken for the one the build read.
    const changed = join(dir, "patched-changed");
    cpSync(src, changed, { recursive: true });
    writeFileSync(join(changed, "patched/fix.patch"), "--- a/msg\n+++ b/msg\n@@ -1 +1 @@\n-before\n+other\n");
    assert.equal((await rebuildCheck([apk], { ...common, recipeDir: changed })).packages[0]?.status, "rebuild-failed");

    const mirror = join(dir, "patched-mirror");
    mkdirSync(join(mirror, "sha256"), { recursive: true });
    cpSync(join(src, "patched/fix.patch"), join(mirror, "sha256", sha));
    assert.deepEqual(
      (await rebuildCheck([apk], { ...common, sourceMirrors: [mirror] })).packages.map((p) => p.status),
      ["reproduced"],
    );
  });

  it("catches a package that records its build conditions: every variation shows, diffoscope names the files", async () => {
    const reports = join(dir, "reports");
    const file = join(repo(), "x86_64/leaky-1.0-r0.apk");
    const r = await rebuildCheck([file], {
      keyring: ApkKeyring.fromFiles([`${key}.pub`]),
      keyFiles: [`${key}.pub`],
      variations: [...VARIATION_NAMES],
      reportDir: reports,
    });
    const v = r.packages[0];
    assert.equal(v?.status, "differs");
    assert.notEqual(v.obtained, v.expected);
    const changed = new Map(v.differences?.map((d) => [d.path, d.what]));
    for (const leak of ["hostname", "uid", "cpus", "tz", "lang", "year", "build-time", "random"])
      assert.match(changed.get(`usr/share/leaky/${leak}`) ?? "", /content differs/, leak);
    if (existsSync("/dev/fuse")) assert.ok(changed.has("usr/share/leaky/order"), "directory order shuffled");
    assert.ok(!changed.has("usr/share/leaky/many/f1"), "what does not depend on the build's conditions is the same");
    if (diffoscopeAvailable()) {
      const text = readFileSync(v.report?.text ?? "", "utf8");
      assert.match(text, /usr\/share\/leaky\/hostname/);
      assert.match(text, /rebuilder\.invalid/);
      assert.ok(existsSync(v.report?.html ?? ""), "HTML report");
    } else console.log("NOTE: diffoscope is not installed: only undistro's own list of differences is checked");
  });

  it("says a tampered package does not match its own records, and the command exits non-zero with the table", async () => {
    const orig = join(repo(), "x86_64/steady-doc-1.0-r0.apk");
    const tampered = join(dir, "steady-doc-1.0-r0.apk");
    // One byte of a file's content changed, the data member validly recompressed: only the
    // package's own records (datahash, the file's checksum) can tell.
    const [signature, control, data] = splitGzipMembers(readFileSync(orig), (i) => `member ${i}`);
    const plain = Buffer.from(data?.data ?? []);
    const at = plain.indexOf("docs\n");
    assert.ok(at > 0);
    plain[at] = "D".charCodeAt(0);
    writeFileSync(tampered, Buffer.concat([signature?.raw ?? Buffer.alloc(0), control?.raw ?? Buffer.alloc(0), gzipSync(plain)]));
    const r = await rebuildCheck([tampered], { keyring: ApkKeyring.fromFiles([`${key}.pub`]), keyFiles: [`${key}.pub`], variations: [] });
    assert.equal(r.packages[0]?.status, "not-self-consistent");
    assert.match(r.packages[0]?.reason ?? "", /^does not match its own records: .*datahash/);

    // A byte of the data member's CRC-32 trailer: the gzip check says so.
    const bytes = readFileSync(orig);
    bytes[bytes.length - 6] = (bytes[bytes.length - 6] ?? 0) ^ 0xff;
    writeFileSync(tampered, bytes);
    const again = await rebuildCheck([tampered], { keyring: ApkKeyring.fromFiles([`${key}.pub`]), keyFiles: [`${key}.pub`], variations: [] });
    assert.match(again.packages[0]?.reason ?? "", /^does not match its own records: .*gzip member 3 \(data\).*CRC-32 mismatch/);

    const cli = await runCli(["rebuild-check", tampered, join(repo(), "x86_64/steady-1.0-r0.apk"), "--keyring", `${key}.pub`, "--vary", "none"]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stdout, /steady-doc-1\.0-r0\s+DOES NOT MATCH ITS RECORDS: does not match its own records/);
    assert.doesNotMatch(cli.stdout, /\.apk-/);
    assert.match(cli.stdout, /steady-1\.0-r0\s+reproduced/);
    assert.match(cli.stdout, /reproduced 1 of 2 \(50\.0 %\)/);
    assert.match(cli.stdout, /variations: none \(--vary none\)/);
  });

  it("signs verdicts beside the repository; verify --require rebuilt:2 counts matching verdicts by distinct trusted keys", async () => {
    process.env.UNDISTRO_PASSWORD = "";
    const [a, b] = ["rebuilder-a", "rebuilder-b"].map((n) => generateCosignKey(join(dir, n), ""));
    const steady = join(repo(), "x86_64/steady-1.0-r0.apk");
    for (const k of [a, b]) {
      const r = await runCli(["rebuild-check", steady, "--keyring", `${key}.pub`, "--vary", "hostname,user", "--attest-key", k?.privateKeyPath ?? ""]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /verdict: .*rebuilds\/x86_64\/steady-1\.0-r0\.apk\.[0-9a-f]{16}\.intoto\.jsonl/);
    }
    const verify = (require: string, ...keys: string[]) =>
      runCli(["verify", steady, "--require", require, "--keyring", `${key}.pub`, ...keys.flatMap((k) => ["--keyring", k])]);
    const both = await verify("signature,rebuilt:2", a?.publicKeyPath ?? "", b?.publicKeyPath ?? "");
    assert.equal(both.code, 0, both.stdout + both.stderr);
    assert.match(both.stdout, /ok\s+rebuilt:2: 2 of 2 trusted keys signed a matching rebuild verdict/);
    const one = await verify("rebuilt:2", a?.publicKeyPath ?? "");
    assert.equal(one.code, 1, "one trusted rebuilder is not two");
    assert.match(one.stdout, /FAILED rebuilt:2: 1 of 1 trusted key signed a matching rebuild verdict/);
    // The same key twice is still one rebuilder.
    assert.equal((await verify("rebuilt:2", a?.publicKeyPath ?? "", a?.publicKeyPath ?? "")).code, 1);

    // A verdict that says "differs" never counts.
    const leaky = join(repo(), "x86_64/leaky-1.0-r0.apk");
    const r = await runCli([
      "rebuild-check",
      leaky,
      "--keyring",
      `${key}.pub`,
      "--vary",
      "hostname",
      "--attest-key",
      a?.privateKeyPath ?? "",
      "--report-dir",
      join(dir, "r2"),
    ]);
    assert.equal(r.code, 1);
    const v = await runCli(["verify", leaky, "--require", "rebuilt:1", "--keyring", a?.publicKeyPath ?? ""]);
    assert.equal(v.code, 1);
    assert.match(v.stdout, /not counted: .*the rebuild did not match/);
  });

  it("rebuilds an image from its provenance and lock; verdicts attached to it; verify --require rebuilt:2 wants two keys", async () => {
    process.env.UNDISTRO_PASSWORD = "";
    const config = join(dir, "steady-image.yaml");
    writeFileSync(config, `contents:\n  keyring:\n    - ${key}.pub\n  repositories:\n    - ${repo()}\n  packages:\n    - steady\n`);
    const layout = join(dir, "image");
    await buildImage(config, { outDir: layout, sourceDateEpoch: 1700000000 });
    const [a, b] = ["image-a", "image-b"].map((n) => generateCosignKey(join(dir, n), ""));
    for (const k of [a, b]) {
      const r = await runCli(["rebuild-check", `oci:${layout}`, "--keyring", `${key}.pub`, "--attest-key", k?.privateKeyPath ?? ""]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /\(latest\): reproduced/);
      assert.match(r.stdout, /NOT varied cpus: - \(an image build runs no build steps/);
      assert.match(r.stdout, /verdict attached: sha256-[0-9a-f]{64}\.att/);
    }
    const verify = (...keys: string[]) => runCli(["verify", `oci:${layout}`, "--require", "rebuilt:2", ...keys.flatMap((k) => ["--keyring", k])]);
    const both = await verify(a?.publicKeyPath ?? "", b?.publicKeyPath ?? "");
    assert.equal(both.code, 0, both.stdout + both.stderr);
    assert.match(both.stdout, /2 trusted keys signed a matching rebuild verdict; 2 required/);
    const one = await verify(a?.publicKeyPath ?? "");
    assert.equal(one.code, 1, one.stdout);
    assert.match(one.stdout, /1 trusted key signed a matching rebuild verdict; 2 required/);

    // The same image in a registry: its record is the provenance attestation a trusted key signed.
    const reg = await new RegistryServer({ root: join(dir, "registry") }).listen();
    try {
      const ref = `${reg.url.replace("http://", "")}/undistro/steady:latest`;
      await copyImage(endpoint(`oci:${layout}:latest`), endpoint(ref, { insecure: true }));
      const untrusted = await runCli(["rebuild-check", ref, "--keyring", `${key}.pub`, "--keyring", b?.publicKeyPath ?? ""]);
      assert.notEqual(untrusted.code, 0, "no provenance attached yet");
      assert.match(untrusted.stderr, /REPRO_NO_RECORD/);
      const attested = await runCli([
        "attest",
        "--key",
        a?.privateKeyPath ?? "",
        "--type",
        "slsaprovenance1",
        "--predicate",
        join(layout, "provenance.json"),
        ref,
      ]);
      assert.equal(attested.code, 0, attested.stderr);
      // Provenance signed by a, trusted; the verdict signed by b, attached in the registry.
      const r = await runCli(["rebuild-check", ref, "--keyring", `${key}.pub`, "--keyring", a?.publicKeyPath ?? "", "--attest-key", b?.privateKeyPath ?? ""]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /reproduced/);
      // verify checks everything attached: the builder's provenance (a) and the rebuilder's verdict (b).
      const v = await runCli(["verify", ref, "--require", "provenance,rebuilt:1", "--keyring", a?.publicKeyPath ?? "", "--keyring", b?.publicKeyPath ?? ""]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
    } finally {
      await reg.close();
    }

    // The config must be the bytes the image was built from.
    writeFileSync(config, `${readFileSync(config, "utf8")}# edited\n`);
    const changed = await runCli(["rebuild-check", `oci:${layout}`, "--keyring", `${key}.pub`]);
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /REPRO_CONFIG_CHANGED/);
  });
});
