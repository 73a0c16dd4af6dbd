import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { extname, join, normalize } from "node:path";
import { before, describe, it } from "node:test";
import { loadSigningKey } from "../../src/apk/index.js";
import { buildRecipe } from "../../src/build/index.js";
import { buildCatalog, serveCatalog } from "../../src/catalog/index.js";
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
const TOOLS = recipe(
  "foo-tools",
  `  dependencies:
    runtime:
      - so:libfoo.so.1
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
    site = join(dir, "site");
  });

  it("builds static pages from the repository: packages, dependencies both ways, SBOM, build record, advisories, all escaped", () => {
    const r = buildCatalog({ repository: join(dir, "repo"), advisories: join(dir, "advisories"), out: site });
    assert.deepEqual([r.packages, r.pages, r.searchEntries], [2, 4, 2]);
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
    const sbom = JSON.parse(readFileSync(join(site, "sboms/libfoo-1.2-r0.x86_64.spdx.json"), "utf8"));
    assert.equal(sbom.spdxVersion, "SPDX-2.3");
    const search = JSON.parse(readFileSync(join(site, "search.json"), "utf8")) as { n: string; p: string[]; c: string[] }[];
    assert.deepEqual(search.find((e) => e.n === "libfoo")?.c, ["CVE-2026-12345", "UDA-2345-6789-cfgh"]);
    // Deterministic: a second build writes the same bytes.
    const before = readFileSync(join(site, "index.html"));
    buildCatalog({ repository: join(dir, "repo"), advisories: join(dir, "advisories"), out: site });
    assert.deepEqual(readFileSync(join(site, "index.html")), before);
  });

  it("in a real browser: search by name, cmd:, so:, path and CVE; package → dependency; SBOM download; no serious accessibility violations", async (t) => {
    if (!existsSync(CHROMIUM)) {
      console.log(`NOTE: ${CHROMIUM} is missing (apt-get install chromium; scripts/setup.sh does): the browser test is NOT run`);
      t.skip("no chromium");
      return;
    }
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
      assert.deepEqual(await results("foo"), ["foo-tools", "libfoo"]);
      assert.deepEqual(await results("cmd:foo"), ["libfoo"]);
      assert.deepEqual(await results("so:libfoo"), ["libfoo"]);
      assert.deepEqual(await results("/usr/share/foo-tools"), ["foo-tools"]);
      assert.deepEqual(await results("CVE-2026-12345"), ["libfoo"]);
      await results("foo-tools");
      mkdirSync(join(REPO_ROOT, "docs/catalogue"), { recursive: true });
      await page.screenshot({ path: join(REPO_ROOT, "docs/catalogue/search.png") });

      await page.click("#results li a >> text=foo-tools");
      await page.waitForURL(/packages\/foo-tools\.html$/);
      await page.getByRole("link", { name: "libfoo", exact: true }).click();
      await page.waitForURL(/packages\/libfoo\.html$/);
      assert.equal(await page.textContent("h1"), "libfoo");
      await page.screenshot({ path: join(REPO_ROOT, "docs/catalogue/package.png"), fullPage: true });
      const sbom = (await page.evaluate(`fetch(document.querySelector("a[download]").href).then((r) => r.json())`)) as { spdxVersion: string };
      assert.equal(sbom.spdxVersion, "SPDX-2.3");

      for (const path of ["index.html", "packages/libfoo.html", "advisories.html"]) {
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
      await page.screenshot({ path: join(REPO_ROOT, "docs/catalogue/advisories.png") });
    } finally {
      await browser.close();
      server.close();
    }
  });

  it("serves the same pages live, rebuilt when the repository's index changes; nothing outside the site", async () => {
    const running = await serveCatalog({ repository: join(dir, "repo"), advisories: join(dir, "advisories"), host: "127.0.0.1", port: 0 });
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
    } finally {
      await running.close();
    }
  });
});
