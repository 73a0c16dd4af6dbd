import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage } from "../../src/image/index.js";
import { endpoint, OciLayout, readManifest } from "../../src/oci/index.js";
import { RegistryServer } from "../../src/registry/index.js";
import { checkRecipe, listingNames } from "../../src/update/index.js";
import { UndistroError } from "../../src/util/index.js";
import { FIXTURES, REFERENCE, runBin, runCli, tempDir } from "../helpers.js";

/** Things a user or a remote server controls end in error[CODE] and a message, never a stack trace. */
function noStack(r: { stderr: string }): void {
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /error\[INTERNAL\]/, r.stderr);
}

const recipe = (name: string, update: string) =>
  `package:\n  name: ${name}\n  version: "1.0"\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - runs: true\nupdate:\n  enabled: true\n${update}`;

describe("outside input: clear errors, never stack traces", () => {
  let http: { url: string; server: Server };
  before(async () => {
    const answers = new Map<string, string>([
      ["/api/v2/versions/?project_id=1", "<html>rate limited</html>"],
      ["/api/v2/versions/?project_id=2", JSON.stringify({ stable_versions: "1.0" })],
      ["/api/v2/versions/?project_id=3", "null"],
    ]);
    const server = createServer((req, res) => {
      const body = answers.get(req.url ?? "");
      res.writeHead(body === undefined ? 404 : 200).end(body ?? "not found");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    http = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
  });
  after(() => http.server.close());

  it("update check: a non-JSON or misshapen release-monitor answer is reported for the package", async (t) => {
    const dir = tempDir(t);
    process.env.UNDISTRO_RELEASE_MONITOR_URL = http.url;
    t.after(() => {
      delete process.env.UNDISTRO_RELEASE_MONITOR_URL;
    });
    for (const [id, says] of [
      [1, /not valid JSON/],
      [2, /not a release-monitoring versions answer/],
      [3, /not a release-monitoring versions answer/],
    ] as const) {
      writeFileSync(join(dir, `r${id}.yaml`), recipe(`r${id}`, `  release-monitor:\n    identifier: ${id}\n`));
      const r = await checkRecipe(join(dir, `r${id}.yaml`));
      assert.match(r.error ?? "", says);
    }
    // In-process: the answering server lives in this process's event loop.
    const cli = await runCli(["update", "check", dir]);
    assert.equal(cli.code, 1);
    noStack(cli);
  });

  it("update check: a listing link with a broken %-escape is passed over", () => {
    assert.deepEqual(listingNames('<a href="foo-1.0.tar.gz">a</a> <a href="bad%zz.tar.gz">b</a> <a href="%E0%A4%A">c</a>'), ["foo-1.0.tar.gz"]);
  });

  it("update check: a repository URL that looks like an option is never passed to git as one", async (t) => {
    const dir = tempDir(t);
    const marker = join(dir, "pwned");
    writeFileSync(
      join(dir, "evil.yaml"),
      `package:\n  name: evil\n  version: "1.0"\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - uses: git-checkout\n    with:\n      repository: "--upload-pack=touch ${marker}"\n      expected-commit: ${"0".repeat(40)}\nupdate:\n  enabled: true\n  git: {}\n`,
    );
    const r = await checkRecipe(join(dir, "evil.yaml"));
    assert.ok(r.error, "the check fails");
    assert.equal(existsSync(marker), false, "git ran no command from the URL");
    writeFileSync(
      join(dir, "ext.yaml"),
      `package:\n  name: ext\n  version: "1.0"\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - uses: git-checkout\n    with:\n      repository: "ext::sh -c touch% ${marker}"\n      expected-commit: ${"0".repeat(40)}\nupdate:\n  enabled: true\n  git: {}\n`,
    );
    assert.ok((await checkRecipe(join(dir, "ext.yaml"))).error);
    assert.equal(existsSync(marker), false, "no ext:: transport");
  });

  it("scan: SBOMs with broken purl escapes or the wrong shape get SCAN_TARGET", (t) => {
    const dir = tempDir(t);
    const osv = join(FIXTURES, "osv");
    for (const [name, body, says] of [
      [
        "escape.spdx.json",
        { spdxVersion: "SPDX-2.3", packages: [{ externalRefs: [{ referenceType: "purl", referenceLocator: "pkg:apk/undistro/z%zz@1-r0" }] }] },
        /invalid percent-escape/,
      ],
      ["null.json", null, /not an SBOM object/],
      ["array.json", [1, 2], /not an SBOM object/],
    ] as const) {
      writeFileSync(join(dir, name), JSON.stringify(body));
      const r = runBin(["scan", join(dir, name), "--db", osv]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /error\[SCAN_TARGET\]/);
      assert.match(r.stderr, says);
      noStack(r);
    }
    // Odd shapes inside a valid SBOM are passed over, not crashed on.
    writeFileSync(join(dir, "odd.cdx.json"), JSON.stringify({ bomFormat: "CycloneDX", components: [null, 5, { purl: 7 }, { components: "x" }] }));
    const odd = runBin(["scan", join(dir, "odd.cdx.json"), "--db", osv, "--json"]);
    assert.equal(odd.code, 0, odd.stderr);
    noStack(odd);
  });

  describe("OCI documents and digests", () => {
    let layout: string;
    let dir: string;
    before(async () => {
      dir = tempDir();
      layout = join(dir, "img");
      await buildImage(join(REFERENCE, "apko/internal/cli/testdata/apko.yaml"), { outDir: layout, sourceDateEpoch: 0 });
    });

    it("a blob path is only ever blobs/sha256|sha512/HEX", () => {
      const oci = new OciLayout(layout);
      for (const bad of ["../../../etc:passwd", "sha256:../../x", "md5:d41d8cd98f00b204e9800998ecf8427e", `sha256:${"A".repeat(64)}`, "sha256:abc"]) {
        assert.throws(
          () => oci.blobPath(bad),
          (e: unknown) => e instanceof UndistroError && e.code === "OCI_BAD_DIGEST",
          bad,
        );
      }
      const data = Buffer.from("sha512 content");
      const d512 = `sha512:${createHash("sha512").update(data).digest("hex")}`;
      const path = oci.blobPath(d512);
      mkdirSync(join(layout, "blobs", "sha512"), { recursive: true });
      writeFileSync(path, data);
      assert.deepEqual(oci.readBlob(d512), data, "sha512 blobs are read and checked");
      writeFileSync(path, "other");
      assert.throws(
        () => oci.readBlob(d512),
        (e: unknown) => e instanceof UndistroError && e.code === "OCI_BLOB_CORRUPT",
      );
    });

    it("an index whose child digest is not a digest, or which is not JSON, is refused naming the document", async (t) => {
      const bad = join(tempDir(t), "bad");
      cpSync(layout, bad, { recursive: true });
      const oci = new OciLayout(bad);
      const top = oci.readIndex().manifests[0];
      assert.ok(top);
      const evilIndex = oci.writeBlob(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: "application/vnd.oci.image.index.v1+json",
            manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:../../../../etc/passwd", size: 1 }],
          }),
        ),
        "application/vnd.oci.image.index.v1+json",
      );
      oci.writeIndex({ schemaVersion: 2, manifests: [{ ...evilIndex, annotations: { "org.opencontainers.image.ref.name": "evil" } }] });
      const copy = runBin(["copy", `oci:${bad}:evil`, `oci:${join(dir, "copied")}:evil`]);
      assert.equal(copy.code, 1, copy.stderr);
      assert.match(copy.stderr, /error\[OCI_BAD_DOCUMENT\]: .*manifests\[0\]\.digest .* is not a sha256 or sha512 digest/);
      noStack(copy);
      writeFileSync(join(bad, "index.json"), "{not json");
      const r = runBin(["scan", `oci:${bad}`, "--db", join(FIXTURES, "osv")]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /error\[OCI_BAD_DOCUMENT\]: .*index\.json: not valid JSON/);
      noStack(r);
      assert.equal(await readManifest(endpoint(`oci:${layout}:latest`), "latest").then((n) => n?.digest), top.digest);
    });

    it("verify: garbage where a signature payload should be fails that check; --require '' is a usage error", async (t) => {
      const d = tempDir(t);
      const key = generateKeyPairSync("ec", { namedCurve: "P-256" });
      writeFileSync(join(d, "k.pub"), key.publicKey.export({ format: "pem", type: "spki" }));
      const empty = runBin(["verify", "--key", join(d, "k.pub"), "--require", "", `oci:${layout}:latest`]);
      assert.equal(empty.code, 2, empty.stderr);
      assert.match(empty.stderr, /error\[USAGE\]: --require names nothing/);
      const unsigned = runBin(["verify", "--key", join(d, "k.pub"), `oci:${layout}:latest`]);
      assert.equal(unsigned.code, 1, "an unsigned image never verifies");
      noStack(unsigned);
    });
  });

  it("registry: a request path with a broken %-escape is a 400, and the server keeps serving", async (t) => {
    const reg = await new RegistryServer({ root: join(tempDir(t), "root") }).listen();
    t.after(() => reg.close());
    const r = await fetch(`${reg.url}/v2/a%zz/tags/list`);
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, "NAME_INVALID");
    assert.equal((await fetch(`${reg.url}/v2/`)).status, 200);
  });
});
