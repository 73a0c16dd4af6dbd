import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { extname, join, normalize } from "node:path";
import { before, describe, it } from "node:test";
import { loadOsvDatabase } from "../../src/advisory/index.js";
import { loadSigningKey } from "../../src/apk/index.js";
import { buildRecipe } from "../../src/build/index.js";
import { buildCatalog, diffVersions, type ImageVersion, readUpdates, serveCatalog } from "../../src/catalog/index.js";
import { buildImage } from "../../src/image/index.js";
import { copyImage, endpoint } from "../../src/oci/index.js";
import { writePackageVerdict } from "../../src/reproduce/index.js";
import { attestImage, PREDICATE_TYPES, signImage } from "../../src/sign/index.js";
import { REFERENCE, REPO_ROOT, tempDir } from "../helpers.js";

const recipe = (name: string, body: string) => `package:
  name: ${name}
  version: "1.2"
  epoch: 0
  description: ${JSON.stringify(`${name} for the catalogue test <script>alert(1)</script>`)}
  copyright:
    - license: MIT
${body}`;

// libfoo provides a shared library and a command; foo-tools depends on it.
const LIBFOO = recipe(
  "libfoo",
  `  dependencies:
    provides:
      - so:libfoo.so.1=1
      - cmd:foo=1.2-r0
pipeline:
  - runs: |
      mkdir -p \${{targets.destdir}}/usr/lib \${{targets.destdir}}/usr/bin
      echo lib > \${{targets.destdir}}/usr/lib/libfoo.so.1
      echo tool > \${{targets.destdir}}/usr/bin/foo
`,
);
// foo-tools is built with libfoo in its build environment: an edge of the build graph.
const TOOLS = recipe(
  "foo-tools",
  `  dependencies:
    runtime:
      - so:libfoo.so.1
environment:
  contents:
    packages:
      - libfoo
pipeline:
  - runs: mkdir -p \${{targets.destdir}}/usr/share/foo-tools && echo x > \${{targets.destdir}}/usr/share/foo-tools/README
`,
);
const ADVISORY = `schema-version: 2.0.2

package:
  name: libfoo

advisories:
  - id: UDA-2345-6789-cfgh
    aliases:
      - CVE-2026-12345
    events:
      - timestamp: 2026-11-01T00:00:00Z
        type: detection
        data:
          type: manual
      - timestamp: 2026-11-02T00:00:00Z
        type: fixed
        data:
          fixed-version: 1.2-r0
`;

// An OSV record for foo-tools (open: no advisory) and one for libfoo (resolved by its advisory).
const osvRecord = (id: string, pkg: string, fixed: string) =>
  JSON.stringify({
    schema_version: "1.6.0",
    id: `UNDISTRO-${id}`,
    modified: "2026-11-01T00:00:00Z",
    upstream: [id],
    summary: `${pkg} test vulnerability`,
    severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" }],
    affected: [{ package: { ecosystem: "undistro", name: pkg }, ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed }] }] }],
  });

const CHROMIUM = "/usr/bin/chromium";
const MIME: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".png": "image/png" };

function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(root, path.endsWith("/") ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  return new Promise((done) => server.listen(0, "127.0.0.1", () => done({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` })));
}

describe("the catalogue", () => {
  let dir: string;
  let site: string;
  let imageKeys: KeyObject[] = [];
  let cosignKey: KeyObject;
  before(async () => {
    dir = tempDir();
    // apko's test key: a fixed key gives fixed packages, so the screenshots stay the same run to run.
    const key = join(REFERENCE, "apko/internal/cli/testdata/melange.rsa");
    for (const [name, text] of [
      ["libfoo", LIBFOO],
      ["foo-tools", TOOLS],
    ] as const) {
      writeFileSync(join(dir, `${name}.yaml`), text);
      // A fixed recipe path in the records, so the screenshots the test writes do not change from run to run.
      await buildRecipe(join(dir, `${name}.yaml`), {
        outDir: join(dir, "repo"),
        signingKey: loadSigningKey(key),
        sourceDateEpoch: 1700000000,
        recipeRecordPath: `test/catalog/${name}.yaml`,
      });
    }
    mkdirSync(join(dir, "advisories"));
    writeFileSync(join(dir, "advisories/libfoo.advisories.yaml"), ADVISORY);
    mkdirSync(join(dir, "osv"));
    writeFileSync(join(dir, "osv/UNDISTRO-CVE-2026-22222.json"), osvRecord("CVE-2026-22222", "foo-tools", "1.3-r0"));
    writeFileSync(join(dir, "osv/UNDISTRO-CVE-2026-12345.json"), osvRecord("CVE-2026-12345", "libfoo", "1.3-r0"));
    // Two versions of one image in one layout, as a daily rebuild leaves them: libfoo alone, then
    // with foo-tools; only the newer is signed.
    for (const [version, packages] of [
      ["v1", "[libfoo]"],
      ["v2", "[libfoo, foo-tools]"],
    ] as const) {
      writeFileSync(
        join(dir, `${version}.yaml`),
        // build_repositories: the temporary repository is not written into the image, so its
        // digests (and the screenshots) are the same run to run.
        `contents:\n  keyring: [${key}.pub]\n  build_repositories: [${join(dir, "repo")}]\n  packages: ${packages}\narchs: [x86_64]\n`,
      );
      await buildImage(join(dir, `${version}.yaml`), { outDir: join(dir, "images", version), sourceDateEpoch: 1700000000 });
      await copyImage(endpoint(`oci:${join(dir, "images", version)}:latest`), endpoint(`oci:${join(dir, "foo")}:2026-11-0${version === "v1" ? 1 : 2}`));
    }
    // The SBOMs image build wrote for the newer version, kept beside the layout.
    cpSync(join(dir, "images/v2/sboms"), join(dir, "foo/sboms"), { recursive: true });
    const cosign = generateKeyPairSync("ec", { namedCurve: "P-256" });
    await signImage(endpoint(`oci:${join(dir, "foo")}:2026-11-02`), cosign.privateKey);
    // Its SBOM attested for its platform, as the main job attests pulled images' SBOMs.
    const spdx = JSON.parse(readFileSync(join(dir, "images/v2/sboms/sbom-x86_64.spdx.json"), "utf8"));
    await attestImage(endpoint(`oci:${join(dir, "foo")}:2026-11-02`), cosign.privateKey, PREDICATE_TYPES.spdxjson as string, spdx, { platform: "linux/amd64" });
    writeFileSync(join(dir, "cosign.pub"), cosign.publicKey.export({ format: "pem", type: "spki" }));
    imageKeys = [cosign.publicKey];
    cosignKey = cosign.privateKey;
    // What `undistro update check --json` would print: libfoo has a newer upstream release; a
    // damaged record is left out.
    writeFileSync(
      join(dir, "updates.json"),
      JSON.stringify([
        { package: "libfoo", current: "1.2", latest: "1.3", newer: true, provider: "debian", source: "debian:libfoo (trixie)", unserved: ["1.4<b>"] },
        { package: 7, current: ["x"] },
      ]),
    );
    // Two runs of the daily job and a damaged line, as the history beside the repository keeps them.
    const run = (at: string, images: unknown[]) =>
      JSON.stringify({
        at,
        arch: "x86_64",
        changed: [{ package: "libfoo", from: "1.1-r0", to: "1.2-r0", reason: "upstream released 1.2" }],
        dependents: [{ package: "foo-tools", from: "1.2-r0", to: "1.2-r1", because: ["libfoo"] }],
        built: [{ package: "libfoo", files: ["libfoo-1.2-r0.apk"] }],
        images,
      });
    writeFileSync(
      join(dir, "repo/rebuild-history.jsonl"),
      `${run("2026-11-01T04:00:00.000Z", [])}\nnot json\n${run("2026-11-02T04:00:00.000Z", [{ name: "foo", from: `sha256:${"a".repeat(64)}`, digest: `sha256:${"b".repeat(64)}`, signed: true }])}\n`,
    );
    site = join(dir, "site");
  });

  const options = () => ({
    repository: join(dir, "repo"),
    advisories: join(dir, "advisories"),
    out: site,
    images: [`oci:${join(dir, "foo")}`],
    imageKeys,
    osv: loadOsvDatabase(join(dir, "osv")),
    updates: readUpdates(join(dir, "updates.json")),
  });

  it("builds static pages from the repository: packages, dependencies both ways, SBOM, build record, advisories, all escaped", async () => {
    const r = await buildCatalog(options());
    assert.deepEqual([r.packages, r.images, r.pages, r.searchEntries], [2, 1, 9, 3]);
    const lib = readFileSync(join(site, "packages/libfoo.html"), "utf8");
    assert.ok(!lib.includes("<script>alert(1)"), "descriptions are escaped");
    assert.ok(lib.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.match(lib, /Needed by<\/h2><ul><li><a href="\.\.\/packages\/foo-tools\.html">foo-tools<\/a>/);
    assert.match(lib, /UDA-2345-6789-cfgh/);
    assert.match(lib, /Status: <strong>fixed<\/strong>, fixed in 1\.2-r0/);
    assert.match(lib, /<code>\/usr\/lib\/libfoo\.so\.1<\/code>/);
    assert.match(lib, /pkg:apk\/undistro\/libfoo@1\.2-r0\?arch=x86_64/, "the SBOM's purl");
    assert.match(lib, /with the host&#39;s toolchain \(stage 0\/1\)/, "the build record");
    const tools = readFileSync(join(site, "packages/foo-tools.html"), "utf8");
    assert.match(tools, /<code>so:libfoo\.so\.1<\/code> → <a href="\.\.\/packages\/libfoo\.html">libfoo<\/a>/);
    // The build graph: libfoo was in foo-tools' build environment; foo-tools' page draws its path.
    const graph = readFileSync(join(site, "graph.html"), "utf8");
    assert.match(graph, /2 source packages, 1 edges/);
    assert.match(graph, /<a href="packages\/libfoo\.html" id="n-libfoo"><g class="node">/);
    assert.match(tools, /<h2>Build graph<\/h2><p>What built foo-tools, transitively \(1 source packages\)/);
    assert.match(tools, /<path class="edge hot" d="M[^"]+"/);
    assert.match(tools, /<g class="node target"><title>foo-tools<\/title>/);
    assert.match(lib, /No package of this repository was in its build environment/);
    assert.match(
      lib,
      /<dt>Newest upstream<\/dt><dd><span class="bad">1\.3, newer than 1\.2<\/span> <span class="muted">\(debian: debian:libfoo \(trixie\); listed but not served by the archive: 1\.4&lt;b&gt;\)<\/span>/,
    );
    assert.match(tools, /<dt>Newest upstream<\/dt><dd class="muted">not checked/);
    assert.match(readFileSync(join(site, "index.html"), "utf8"), /libfoo<\/a><\/td><td>1\.2-r0<\/td><td><span class="bad">1\.3 released<\/span>/);
    writeFileSync(join(dir, "bad-updates.json"), "{not json");
    assert.throws(() => readUpdates(join(dir, "bad-updates.json")), /--updates .*bad-updates\.json: not JSON/);
    const sbom = JSON.parse(readFileSync(join(site, "sboms/libfoo-1.2-r0.x86_64.spdx.json"), "utf8"));
    assert.equal(sbom.spdxVersion, "SPDX-2.3");
    const search = JSON.parse(readFileSync(join(site, "search.json"), "utf8")) as { n: string; p: string[]; c: string[] }[];
    assert.deepEqual(search.find((e) => e.n === "libfoo")?.c, ["CVE-2026-12345", "UDA-2345-6789-cfgh"]);
    // Deterministic: a second build writes the same bytes.
    const before = [readFileSync(join(site, "index.html")), readFileSync(join(site, "images/foo.html"))];
    await buildCatalog(options());
    assert.deepEqual([readFileSync(join(site, "index.html")), readFileSync(join(site, "images/foo.html"))], before);
  });

  it("--repository-append: a second repository's packages join the catalogue; one in both is shown once", async () => {
    const stage = join(dir, "stage");
    const key = join(REFERENCE, "apko/internal/cli/testdata/melange.rsa");
    writeFileSync(join(dir, "bar.yaml"), recipe("bar", "pipeline:\n  - runs: mkdir -p ${{targets.destdir}}/usr/share/bar\n"));
    for (const name of ["bar", "libfoo"])
      await buildRecipe(join(dir, `${name}.yaml`), { outDir: stage, signingKey: loadSigningKey(key), sourceDateEpoch: 1700000000 });
    const out = join(dir, "site-two");
    const r = await buildCatalog({ ...options(), out, repositoryAppend: [stage] });
    assert.equal(r.packages, 3, "libfoo, foo-tools and the stage's bar");
    assert.match(readFileSync(join(out, "packages/bar.html"), "utf8"), /bar for the catalogue test/);
    const lib = readFileSync(join(out, "packages/libfoo.html"), "utf8");
    assert.equal(lib.match(/x86_64 \(1\.2-r0, /g)?.length, 1, "libfoo 1.2-r0 for x86_64 once");
    // The first repository's libfoo: its record names the recipe path the first build gave it.
    assert.match(lib, /test\/catalog\/libfoo\.yaml/);
    await assert.rejects(buildCatalog({ ...options(), out, repositoryAppend: [join(dir, "nowhere")] }), /nowhere: no such repository directory/);
  });

  it("image pages: versions with sizes, layers and packages, verified signatures, vulnerabilities with advisories applied, changes", async () => {
    // Without keys the pages say, loudly, that nothing was checked.
    const { imageKeys: _keys, ...unverified } = options();
    await buildCatalog(unverified);
    assert.match(readFileSync(join(site, "images/foo.html"), "utf8"), /Signatures and attestations were NOT checked/);

    await buildCatalog(options());
    const foo = readFileSync(join(site, "images/foo.html"), "utf8");
    // Newest first: 2026-11-02 is signed and verified with the key given, 2026-11-01 is not signed.
    assert.match(foo, /<tr><td><a href="#v-[0-9a-f]{12}">2026-11-02<\/a><\/td>.*<span class="good">signed, verified<\/span>/);
    assert.match(foo, /<tr><td><a href="#v-[0-9a-f]{12}">2026-11-01<\/a><\/td>.*<span class="bad">unsigned<\/span>/);
    // foo-tools' CVE is open (no advisory); libfoo's is resolved by its advisory (fixed in 1.2-r0).
    assert.match(foo, /0 critical, 1 high, 0 medium, 0 low, 0 unknown; 1 more resolved by the distro's advisories/);
    assert.match(
      foo,
      /<h2>Newest version<\/h2>.*<h4>SBOMs<\/h4><ul><li><a href="foo\/sboms\/sbom-x86_64\.cdx\.json" download>/s,
      "the SBOMs that name the newest version",
    );
    assert.ok(existsSync(join(site, "images/foo/sboms/sbom-x86_64.spdx.json")));
    const attested =
      /<a href="foo\/sboms\/(attested-[0-9a-f]{12}-linux-amd64\.spdx\.json)" download>[^<]+<\/a> <span class="good">\(attested, signature verified\)<\/span>/.exec(
        foo,
      );
    assert.ok(attested, "the verified SBOM attestation is offered for download");
    assert.equal(JSON.parse(readFileSync(join(site, "images/foo/sboms", attested[1] as string), "utf8")).spdxVersion, "SPDX-2.3");
    assert.match(foo, /UNDISTRO-CVE-2026-22222/);
    assert.ok(!/<td>UNDISTRO-CVE-2026-12345/.test(foo), "a resolved finding is not listed as open");
    assert.match(foo, /<li class="added">added <a href="\.\.\/packages\/foo-tools\.html">foo-tools<\/a> 1\.2-r0<\/li>/);
    assert.match(foo, /Vulnerabilities gained: UNDISTRO-CVE-2026-22222; lost: none\./);
    assert.match(foo, /<td><a href="\.\.\/packages\/libfoo\.html">libfoo<\/a><\/td><td>1\.2-r0<\/td>/, "the package list links to package pages");
    assert.match(foo, /\d+(\.\d)? KiB compressed, \d+(\.\d)? KiB unpacked/);
    assert.match(readFileSync(join(site, "packages/libfoo.html"), "utf8"), /In images<\/h2><ul><li><a href="\.\.\/images\/foo\.html">foo<\/a>/);
    const search = JSON.parse(readFileSync(join(site, "search.json"), "utf8")) as { n: string; k?: string; c: string[] }[];
    assert.deepEqual(
      search.find((e) => e.k === "image"),
      {
        n: "foo",
        v: "2026-11-02",
        d: "image with 2 packages",
        p: [],
        f: [],
        c: ["CVE-2026-22222", "UNDISTRO-CVE-2026-22222"],
        k: "image",
      },
    );
  });

  it("the daily job's history, newest first; a damaged line is reported and left out", async () => {
    await buildCatalog(options());
    const html = readFileSync(join(site, "rebuilds.html"), "utf8");
    assert.ok(html.indexOf("2026-11-02T04:00:00.000Z") < html.indexOf("2026-11-01T04:00:00.000Z"), "newest first");
    assert.match(html, /<a href="packages\/libfoo\.html">libfoo<\/a> 1\.1-r0 → 1\.2-r0/);
    assert.match(html, /rebuilt for libfoo/);
    assert.match(html, /<td><a href="images\/foo\.html">foo<\/a><\/td><td><code>aaaaaaaaaaaa<\/code><\/td><td><code>bbbbbbbbbbbb<\/code><\/td>/);
    assert.match(html, /1 line\(s\) of rebuild-history\.jsonl are not run records/);
  });

  it("compares two versions: added, removed, upgraded, CVEs gained and lost", () => {
    const version = (digest: string, packages: Record<string, string>, cves: string[]): ImageVersion => ({
      digest,
      tags: [digest],
      platforms: [
        {
          platform: "linux/amd64",
          digest,
          size: 0,
          uncompressedSize: 0,
          layers: [],
          packages: Object.entries(packages).map(([name, v]) => ({ name, version: v, origin: name })),
        },
      ],
      verification: { checked: false, signed: false, checks: [] },
      sbomFiles: [],
      attestedSboms: new Map(),
      vulnerabilities: {
        counts: {},
        resolved: 0,
        findings: cves.map((c) => ({ package: "x", version: "1", location: "", vulnerability: c, aliases: [], severity: "high" as const })),
      },
    });
    const d = diffVersions(
      version("a", { busybox: "1.36.1-r0", zlib: "1.3-r0", old: "1-r0" }, ["CVE-1", "CVE-2"]),
      version("b", { busybox: "1.37.0-r0", zlib: "1.3-r0", openssl: "3.5.0-r0" }, ["CVE-2", "CVE-3"]),
    );
    assert.deepEqual(d, {
      platforms: [
        {
          platform: "linux/amd64",
          added: [{ name: "openssl", version: "3.5.0-r0" }],
          removed: [{ name: "old", version: "1-r0" }],
          changed: [{ name: "busybox", from: "1.36.1-r0", to: "1.37.0-r0" }],
        },
      ],
      cvesGained: ["CVE-3"],
      cvesLost: ["CVE-1"],
    });
  });

  it("in a real browser: search by name, cmd:, so:, path and CVE; package → dependency; SBOM download; no serious accessibility violations", async (t) => {
    if (!existsSync(CHROMIUM)) {
      console.log(`NOTE: ${CHROMIUM} is missing (apt-get install chromium; scripts/setup.sh does): the browser test is NOT run`);
      t.skip("no chromium");
      return;
    }
    // The docs' screenshots are rewritten only on request: a test run leaves the checkout as it was.
    const screenshots = process.env.UNDISTRO_UPDATE_SCREENSHOTS === "1" ? join(REPO_ROOT, "docs/catalogue") : tempDir(t);
    const { chromium } = await import("playwright-core");
    const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
    const { server, url } = await serve(site);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      // Page code as strings: the test is compiled without the DOM's types.
      const results = async (q: string) => {
        await page.fill("#q", q);
        await page.waitForFunction(
          `document.getElementById("count").textContent.includes("match") && document.getElementById("q").value === ${JSON.stringify(q)}`,
        );
        return page.evaluate(`[...document.querySelectorAll("#results li a")].map((a) => a.textContent)`);
      };
      await page.goto(`${url}index.html`);
      assert.equal(await page.title(), "Packages · undistro catalogue");
      assert.deepEqual(await results("foo"), ["foo", "foo-tools", "libfoo"], "the image first: its name is the query");
      assert.deepEqual(await results("cmd:foo"), ["libfoo"]);
      assert.deepEqual(await results("so:libfoo"), ["libfoo"]);
      assert.deepEqual(await results("/usr/share/foo-tools"), ["foo-tools"]);
      assert.deepEqual(await results("CVE-2026-12345"), ["libfoo"]);
      assert.deepEqual(await results("CVE-2026-22222"), ["foo"], "an image by a CVE open in it");
      await results("foo-tools");
      await page.screenshot({ path: join(screenshots, "search.png") });

      await page.click("#results li a >> text=foo-tools");
      await page.waitForURL(/packages\/foo-tools\.html$/);
      // The dependency link (the build graph links it too).
      await page.getByRole("link", { name: "libfoo", exact: true }).first().click();
      await page.waitForURL(/packages\/libfoo\.html$/);
      assert.equal(await page.textContent("h1"), "libfoo");
      await page.screenshot({ path: join(screenshots, "package.png"), fullPage: true });
      const sbom = (await page.evaluate(`fetch(document.querySelector("a[download]").href).then((r) => r.json())`)) as { spdxVersion: string };
      assert.equal(sbom.spdxVersion, "SPDX-2.3");

      // package → image → comparison of two digests.
      await page.getByRole("link", { name: "foo", exact: true }).click();
      await page.waitForURL(/images\/foo\.html$/);
      assert.equal(await page.textContent("h1"), "foo");
      await page.screenshot({ path: join(screenshots, "image.png"), fullPage: true });
      const imageSbom = (await page.evaluate(`fetch(document.querySelector("a[download][href$='.spdx.json']").href).then((r) => r.json())`)) as {
        spdxVersion: string;
      };
      assert.equal(imageSbom.spdxVersion, "SPDX-2.3", "the image's SPDX SBOM downloads");
      await page.getByRole("link", { name: "Compare any two versions" }).click();
      await page.waitForURL(/images\/foo\/compare\.html$/);
      const diffText = () => page.evaluate(`document.getElementById("diff").textContent`) as Promise<string>;
      assert.match(await diffText(), /added foo-tools 1\.2-r0.*Vulnerabilities gained: UNDISTRO-CVE-2026-22222; lost: none\./s);
      // The other way round, chosen in the page: the script redoes the comparison.
      const digests = (await page.evaluate(`[...document.querySelectorAll("#from option")].map((o) => o.value)`)) as string[];
      await page.selectOption("#from", digests[0] as string);
      await page.selectOption("#to", digests[1] as string);
      assert.match(await diffText(), /removed foo-tools 1\.2-r0.*Vulnerabilities gained: none; lost: UNDISTRO-CVE-2026-22222\./s);
      await page.screenshot({ path: join(screenshots, "compare.png") });

      for (const path of [
        "index.html",
        "packages/libfoo.html",
        "advisories.html",
        "images.html",
        "images/foo.html",
        "images/foo/compare.html",
        "rebuilds.html",
        "graph.html",
        "packages/foo-tools.html",
      ]) {
        await page.goto(`${url}${path}`);
        await page.addScriptTag({ content: axeSource });
        const violations = (await page.evaluate(`axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact })))`)) as {
          id: string;
          impact: string;
        }[];
        const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
        assert.deepEqual(serious, [], `${path}: ${JSON.stringify(violations)}`);
      }
      await page.goto(`${url}advisories.html`);
      await page.screenshot({ path: join(screenshots, "advisories.png") });
      await page.goto(`${url}graph.html`);
      await page.screenshot({ path: join(screenshots, "graph.png") });
      await page.goto(`${url}images.html`);
      await page.screenshot({ path: join(screenshots, "images.png") });
      await page.goto(`${url}rebuilds.html`);
      await page.screenshot({ path: join(screenshots, "rebuilds.png"), fullPage: true });
    } finally {
      await browser.close();
      server.close();
    }
  });

  it("rebuild verdicts on package pages: verified with the trusted keys, an untrusted signer shown as invalid, unchecked said loudly", async () => {
    const apk = join(dir, "repo/x86_64/libfoo-1.2-r0.apk");
    const sha = createHash("sha256").update(readFileSync(apk)).digest("hex");
    const predicate = (match: boolean) => ({
      rebuilder: { id: "rebuilder.example", builder: "undistro 0.1.0" },
      artifact: { kind: "apk" as const, name: "libfoo", version: "1.2-r0" },
      inputs: {},
      comparison: "control and data members",
      expected: { sha256: sha },
      obtained: { sha256: match ? sha : "0".repeat(64) },
      match,
      variations: [],
    });
    const trusted = writePackageVerdict(apk, sha, predicate(true), cosignKey);
    const stranger = writePackageVerdict(apk, sha, predicate(true), generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    try {
      await buildCatalog(options());
      const lib = readFileSync(join(site, "packages/libfoo.html"), "utf8");
      assert.match(
        lib,
        /<span class="good">reproduced<\/span> by <code>rebuilder\.example<\/code>; <span class="good">signature verified with a trusted key<\/span>/,
      );
      assert.match(lib, /<span class="bad">unverified claim<\/span> by <code>rebuilder\.example<\/code>; <span class="bad">signature invalid: /);
      const { imageKeys: _k, ...unchecked } = options();
      await buildCatalog(unchecked);
      assert.match(readFileSync(join(site, "packages/libfoo.html"), "utf8"), /signature NOT checked \(the catalogue was built without --keyring\)/);
    } finally {
      rmSync(trusted);
      rmSync(stranger);
    }
  });

  it("serves the same pages live, rebuilt when the repository's index changes; nothing outside the site", async () => {
    const { out: _out, ...sources } = options();
    const running = await serveCatalog({ ...sources, host: "127.0.0.1", port: 0 });
    try {
      const index = await fetch(`${running.url}index.html`);
      assert.equal(index.status, 200);
      assert.match(await index.text(), /libfoo/);
      assert.equal((await fetch(`${running.url}%2e%2e/%2e%2e/etc/passwd`)).status, 404);
      assert.equal((await fetch(`${running.url}index.html`, { method: "POST" })).status, 405);
      assert.equal((await fetch(`${running.url}packages/bar.html`)).status, 404);
      writeFileSync(join(dir, "bar.yaml"), recipe("bar", "pipeline:\n  - runs: mkdir -p ${{targets.destdir}}/usr/share/bar\n"));
      await buildRecipe(join(dir, "bar.yaml"), {
        outDir: join(dir, "repo"),
        signingKey: loadSigningKey(join(REFERENCE, "apko/internal/cli/testdata/melange.rsa")),
        sourceDateEpoch: 1700000000,
      });
      const bar = await fetch(`${running.url}packages/bar.html`);
      assert.equal(bar.status, 200, "a new package shows once the index changed");
      assert.equal(bar.headers.get("content-type"), "text/html; charset=utf-8");
      assert.doesNotMatch(await (await fetch(`${running.url}images/foo.html`)).text(), /2026-11-03/);
      await copyImage(endpoint(`oci:${join(dir, "images/v1")}:latest`), endpoint(`oci:${join(dir, "foo")}:2026-11-03`));
      assert.match(await (await fetch(`${running.url}images/foo.html`)).text(), /2026-11-03/, "a new tag in the layout shows");
    } finally {
      await running.close();
    }
  });
});
