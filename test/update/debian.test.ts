import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { bumpRecipe, checkRecipe, upstreamOf } from "../../src/update/index.js";
import { runCli, tempDir } from "../helpers.js";

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/**
 * A Sources paragraph as Debian's archive writes it (the fields the provider reads, and others it
 * must pass over).
 */
function paragraph(pkg: string, version: string, tarball: string, bytes: Buffer): string {
  return `Package: ${pkg}
Binary: ${pkg}, ${pkg}-dev
Version: ${version}
Maintainer: Someone <someone@example.org>
Architecture: any
Format: 3.0 (quilt)
Files:
 00000000000000000000000000000000 ${bytes.length} ${tarball}
Checksums-Sha256:
 ${"1".repeat(64)} 1234 ${pkg}_${version.replace(/^\d+:/, "")}.dsc
 ${sha256(bytes)} ${bytes.length} ${tarball}
 ${"2".repeat(64)} 999 ${pkg}_${version.replace(/^\d+:/, "")}.debian.tar.xz
Directory: pool/main/${pkg[0]}/${pkg}
Priority: optional
Section: libs
`;
}

describe("the debian update provider (a loopback archive signed with a test key)", () => {
  let dir: string;
  let server: Server;
  let url: string;
  const files = new Map<string, Buffer>();
  const orig131 = Buffer.from("zlib 1.3.1 tarball");
  const orig132 = Buffer.from("zlib 1.3.2 tarball");
  const env: Record<string, string | undefined> = {};

  /** InRelease for `suite`, clear-signed with the test key, listing Sources.gz's digest (or a wrong one). */
  function publish(suite: string, paragraphs: string[], opts: { wrongDigest?: boolean } = {}): void {
    const gz = gzipSync(Buffer.from(paragraphs.join("\n")));
    files.set(`/dists/${suite}/main/source/Sources.gz`, gz);
    const digest = opts.wrongDigest ? "f".repeat(64) : sha256(gz);
    const release = `Origin: Debian\nSuite: ${suite}\nCodename: ${suite}\nSHA256:\n ${"3".repeat(64)} 100 main/source/Sources\n ${digest} ${gz.length} main/source/Sources.gz\n`;
    writeFileSync(join(dir, "Release"), release);
    execFileSync("gpg", ["--homedir", join(dir, "gnupg"), "--batch", "--yes", "--clearsign", "--output", join(dir, "InRelease"), join(dir, "Release")]);
    files.set(`/dists/${suite}/InRelease`, readFileSync(join(dir, "InRelease")));
  }

  before(async () => {
    dir = tempDir();
    mkdirSync(join(dir, "gnupg"), { mode: 0o700 });
    const gpg = (...args: string[]) => execFileSync("gpg", ["--homedir", join(dir, "gnupg"), "--batch", ...args], { stdio: "pipe" });
    gpg("--passphrase", "", "--quick-gen-key", "Test Archive <archive@example.org>", "ed25519", "sign", "never");
    writeFileSync(join(dir, "archive.gpg"), gpg("--export"));
    publish("stable", [paragraph("zlib", "1:1.3.dfsg+really1.3.1-1", "zlib_1.3.dfsg+really1.3.1.orig.tar.gz", orig131)]);
    publish("unstable", [
      paragraph("zlib", "1:1.3.dfsg+really1.3.1-3", "zlib_1.3.dfsg+really1.3.1.orig.tar.gz", orig131),
      paragraph("zlib", "1:1.3.dfsg+really1.3.2-4", "zlib_1.3.dfsg+really1.3.2.orig.tar.gz", orig132),
      paragraph("zlib-ng", "2.2.4-1", "zlib-ng_2.2.4.orig.tar.gz", Buffer.from("other")),
    ]);
    publish("broken", [paragraph("zlib", "1:1.3.dfsg+really1.3.9-1", "zlib_1.3.dfsg+really1.3.9.orig.tar.gz", orig132)], { wrongDigest: true });
    files.set("/pool/main/z/zlib/zlib_1.3.dfsg+really1.3.2.orig.tar.gz", orig132);
    server = createServer((req, res) => {
      const body = files.get(req.url ?? "");
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const k of ["UNDISTRO_DEBIAN_URL", "UNDISTRO_DEBIAN_KEYRING"]) env[k] = process.env[k];
    process.env.UNDISTRO_DEBIAN_URL = url;
    process.env.UNDISTRO_DEBIAN_KEYRING = join(dir, "archive.gpg");
  });
  after(() => {
    server.close();
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const recipe = (suites: string) => `package:
  name: zlib
  version: 1.3.1
  epoch: 0
  copyright:
    - license: Zlib
pipeline:
  - uses: fetch
    with:
      uri: ${url}/pool/main/z/zlib/zlib_1.3.dfsg+really\${{package.version}}.orig.tar.gz
      expected-sha256: ${sha256(orig131)}
update:
  enabled: true
  debian:
    source: zlib
    suites: ${suites}
`;

  it("reads upstream versions from Debian versions: epoch, revision and repack markers off", () => {
    assert.equal(upstreamOf("1:1.3.dfsg+really1.3.1-1+deb13u1"), "1.3.1");
    assert.equal(upstreamOf("1.2.5-3.1~deb13u1"), "1.2.5");
    assert.equal(upstreamOf("2:3.8.2+dfsg-1"), "3.8.2");
    assert.equal(upstreamOf("20250419"), "20250419");
    assert.equal(upstreamOf("20250419+deb13u1"), "20250419", "a native package's stable update");
    assert.equal(upstreamOf("20260816+nmu1"), "20260816");
    assert.equal(upstreamOf("6.12.8-1"), "6.12.8");
    assert.equal(upstreamOf("1.0~rc1-2"), undefined, "not an apk version");
  });

  it("finds the newest upstream release across the suites a recipe names, with the tarball's sha256 from the signed index", async () => {
    writeFileSync(join(dir, "zlib.yaml"), recipe("[stable]"));
    const stable = await checkRecipe(join(dir, "zlib.yaml"));
    assert.deepEqual([stable.provider, stable.latest, stable.newer, stable.error], ["debian", "1.3.1", false, undefined]);

    writeFileSync(join(dir, "zlib.yaml"), recipe("[stable, unstable]"));
    const r = await checkRecipe(join(dir, "zlib.yaml"));
    assert.deepEqual([r.latest, r.newer], ["1.3.2", true]);
    assert.deepEqual(r.tarball, {
      suite: "unstable",
      debianVersion: "1:1.3.dfsg+really1.3.2-4",
      name: "zlib_1.3.dfsg+really1.3.2.orig.tar.gz",
      sha256: sha256(orig132),
      uri: `${url}/pool/main/z/zlib/zlib_1.3.dfsg+really1.3.2.orig.tar.gz`,
    });
    // update bump re-pins from the same archive: the digest is the one the signed index gave.
    const bump = await bumpRecipe(join(dir, "zlib.yaml"), "1.3.2");
    assert.deepEqual(
      bump.pins.map((p) => p.value),
      [sha256(orig132)],
    );
    const cli = await runCli(["update", "check", join(dir, "zlib.yaml"), "--json"]);
    assert.equal(JSON.parse(cli.stdout)[0].newer, false, "bumped: nothing newer any more");
  });

  it("skips a version the Sources index lists but whose tarball the pool does not serve, and names it", async () => {
    publish("sid", [
      paragraph("zlib", "1:1.3.dfsg+really1.3.2-4", "zlib_1.3.dfsg+really1.3.2.orig.tar.gz", orig132),
      paragraph("zlib", "1:1.3.dfsg+really1.3.3-1", "zlib_1.3.dfsg+really1.3.3.orig.tar.gz", Buffer.from("never served")),
    ]);
    writeFileSync(join(dir, "zlib.yaml"), recipe("[sid]"));
    const r = await checkRecipe(join(dir, "zlib.yaml"));
    assert.deepEqual([r.latest, r.newer, r.unserved, r.tarball?.name], ["1.3.2", true, ["1.3.3"], "zlib_1.3.dfsg+really1.3.2.orig.tar.gz"]);
    const cli = await runCli(["update", "check", join(dir, "zlib.yaml")]);
    assert.match(cli.stdout, /zlib 1\.3\.1 → 1\.3\.2/);
    assert.match(cli.stderr, /zlib: listed in Debian's Sources but not served by its pool \(skipped\): 1\.3\.3/);
  });

  it("refuses what it cannot verify: a signature by another key, a Sources.gz the signed InRelease does not list", async () => {
    writeFileSync(join(dir, "zlib.yaml"), recipe("[broken]"));
    const r = await checkRecipe(join(dir, "zlib.yaml"));
    assert.match(r.error ?? "", /Sources\.gz: sha256 [0-9a-f]{64}, but the signed InRelease says f{64}/);
    assert.equal(r.latest, undefined);

    process.env.UNDISTRO_DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
    try {
      writeFileSync(join(dir, "zlib.yaml"), recipe("[stable]").replace("version: 1.3.1", "version: 1.3.0"));
      const wrongKey = await checkRecipe(join(dir, "zlib.yaml"));
      assert.match(wrongKey.error ?? "", /InRelease: its signature does not verify with \/usr\/share\/keyrings\/debian-archive-keyring\.gpg/);
      assert.equal(wrongKey.newer, false);
    } finally {
      process.env.UNDISTRO_DEBIAN_KEYRING = join(dir, "archive.gpg");
    }
  });
});
