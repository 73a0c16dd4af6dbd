import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { installedPackages } from "../../src/advisory/index.js";
import { generateApkKey, loadSigningKey } from "../../src/apk/index.js";
import { endpoint } from "../../src/oci/index.js";
import { formatRebuildPlan, planRebuild, runRebuild } from "../../src/rebuild/index.js";
import { RegistryServer } from "../../src/registry/index.js";
import { verifyImage } from "../../src/sign/index.js";
import { checkRecipe } from "../../src/update/index.js";
import { runCli, tempDir } from "../helpers.js";

/** An upstream's release directory on loopback: a listing and the tarballs in it. */
class Upstream {
  readonly files = new Map<string, Buffer>();
  server!: Server;
  url = "";
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url === "/zlib/") {
        const links = [...this.files.keys()].map((n) => `<a href="${n}">${n}</a>`).join("\n");
        res.writeHead(200, { "content-type": "text/html" }).end(`<html><body>\n${links}\n</body></html>`);
        return;
      }
      const body = this.files.get((req.url ?? "").replace(/^\/zlib\//, ""));
      if (body) res.writeHead(200).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  /** A release tarball (zlib-VERSION/ with a VERSION file and a tiny C library). */
  release(dir: string, version: string): string {
    const src = join(dir, `zlib-${version}`);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "VERSION"), `${version}\n`);
    writeFileSync(join(src, "z.c"), `const char *zlibVersion(void) { return "${version}"; }\n`);
    const tarball = join(dir, `zlib-${version}.tar.gz`);
    execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-czf", tarball, "-C", dir, `zlib-${version}`]);
    const data = readFileSync(tarball);
    this.files.set(`zlib-${version}.tar.gz`, data);
    return createHash("sha256").update(data).digest("hex");
  }
}

const recipe = (name: string, version: string, extra: string, pipeline: string) =>
  `package:\n  name: ${name}\n  version: "${version}"\n  epoch: 0\n  description: ${name} for the rebuild test\n  copyright:\n    - license: MIT\n${extra}\npipeline:\n${pipeline}`;

const install = (name: string, content: string) =>
  `  - runs: |\n      mkdir -p \${{targets.destdir}}/usr/share/${name}\n      ${content} > \${{targets.destdir}}/usr/share/${name}/built-from\n`;

describe("daily rebuild: an upstream zlib release rebuilds zlib, its dependents and their images, nothing else", () => {
  const upstream = new Upstream();
  let dir: string;
  let packages: string;
  let images: string;
  let repository: string;
  let imagesOut: string;
  let apkKey: string;
  const cosign = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const common = () => ({
    packagesDir: packages,
    imagesDir: images,
    repository,
    keyring: [`${apkKey}.pub`],
    imagesOut,
    signingKey: loadSigningKey(apkKey),
    cosignKey: cosign.privateKey,
    sourceDateEpoch: 0,
    cacheDir: join(dir, "cache"),
    logDir: join(dir, "logs"),
  });

  before(async () => {
    await upstream.start();
    dir = tempDir();
    packages = join(dir, "distro/packages");
    images = join(dir, "distro/images");
    repository = join(dir, "out/repo");
    imagesOut = join(dir, "out/images");
    mkdirSync(packages, { recursive: true });
    mkdirSync(images, { recursive: true });
    apkKey = generateApkKey(join(dir, "undistro"), { bits: 2048 }).privateKeyPath;
    const sha = upstream.release(join(dir, "upstream"), "1.3.1");
    writeFileSync(
      join(packages, "zlib.yaml"),
      recipe(
        "zlib",
        "1.3.1",
        "",
        `  - uses: fetch\n    with:\n      uri: ${upstream.url}/zlib/zlib-\${{package.version}}.tar.gz\n      expected-sha256: ${sha}\n${install("zlib", "cat VERSION")}\nupdate:\n  enabled: true\n`,
      ),
    );
    writeFileSync(join(packages, "libpng.yaml"), recipe("libpng", "1.6.44", "  dependencies:\n    runtime:\n      - zlib\n", install("libpng", "echo libpng")));
    writeFileSync(
      join(packages, "pngtool.yaml"),
      recipe("pngtool", "2.0", "  dependencies:\n    runtime:\n      - libpng\n", install("pngtool", "echo pngtool")),
    );
    writeFileSync(join(packages, "other.yaml"), recipe("other", "0.9", "", install("other", "echo other")));
    writeFileSync(join(images, "png.yaml"), "contents:\n  packages:\n    - pngtool\narchs: [x86_64]\n");
    writeFileSync(join(images, "plain.yaml"), "contents:\n  packages:\n    - other\narchs: [x86_64]\n");
    // The recipes live in git, as a distro's do (for --since).
    execFileSync("git", ["init", "-q", "-b", "main", dir]);
    const g = (...args: string[]) =>
      execFileSync("git", args, {
        cwd: dir,
        env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@e.org", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@e.org" },
      });
    writeFileSync(join(dir, ".gitignore"), "out/\ncache/\nlogs/\nupstream/\n*.rsa\n*.rsa.pub\n");
    g("add", ".");
    g("commit", "-q", "-m", "distro");
    const first = await runRebuild(common());
    assert.deepEqual(first.built.map((b) => b.package).sort(), ["libpng", "other", "pngtool", "zlib"]);
    assert.deepEqual(
      first.images.map((i) => i.name),
      ["plain", "png"],
    );
  });
  after(() => upstream.server.close());

  it("notices the release, bumps the recipe, plans, rebuilds and re-signs exactly what is affected", async () => {
    const sha132 = upstream.release(join(dir, "upstream"), "1.3.2");
    const check = await checkRecipe(join(packages, "zlib.yaml"));
    assert.deepEqual([check.current, check.latest, check.newer, check.provider], ["1.3.1", "1.3.2", true, "http"]);

    let cli = await runCli(["update", "bump", join(packages, "zlib.yaml"), "1.3.2", "--json"]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).pins[0].value, sha132);

    const plan = planRebuild({ packagesDir: packages, imagesDir: images, repository, keyring: [`${apkKey}.pub`] });
    assert.deepEqual(
      plan.changed.map((c) => [c.package, c.from, c.to]),
      [["zlib", "1.3.1-r0", "1.3.2-r0"]],
    );
    assert.deepEqual(
      plan.dependents.map((d) => [d.package, d.from, d.to, d.because.join(",")]),
      [
        ["libpng", "1.6.44-r0", "1.6.44-r1", "zlib"],
        ["pngtool", "2.0-r0", "2.0-r1", "zlib"],
      ],
    );
    assert.deepEqual(
      plan.images.map((i) => [i.name, i.because.join(",")]),
      [["png", "libpng,pngtool,zlib"]],
    );
    assert.deepEqual(plan.unchanged, ["other"]);
    assert.deepEqual(plan.unchangedImages, ["plain"]);
    cli = await runCli(["rebuild", "--plan", "--packages", packages, "--images", images, "--repository", repository, "--keyring", `${apkKey}.pub`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, formatRebuildPlan(plan));
    assert.match(
      cli.stdout,
      /^zlib 1\.3\.1-r0 → 1\.3\.2-r0 {2}\(recipe is at 1\.3\.2-r0, the repository at 1\.3\.1-r0\)\n {2}└ libpng 1\.6\.44-r0 → 1\.6\.44-r1/,
    );

    const plainBefore = statSync(join(imagesOut, "plain/index.json")).mtimeMs;
    const plainIndex = readFileSync(join(imagesOut, "plain/index.json"), "utf8");
    const pngDigestBefore = JSON.parse(readFileSync(join(imagesOut, "png/index.json"), "utf8")).manifests[0].digest;
    const registry = await new RegistryServer({ root: join(dir, "registry") }).listen();
    const host = registry.url.replace("http://", "");
    let result: Awaited<ReturnType<typeof runRebuild>>;
    try {
      result = await runRebuild({ ...common(), push: `${host}/undistro` });
      // What the registry serves verifies with the public key alone, attestations included.
      const remote = await verifyImage(endpoint(`${host}/undistro/png:latest`), cosign.publicKey, { require: ["signature", "provenance", "sbom"] });
      assert.equal(remote.ok, true, JSON.stringify(remote.checks.filter((c) => !c.ok)));
      assert.equal(remote.digest, result.images[0]?.digest);
      const tags = (await (await fetch(`${registry.url}/v2/undistro/plain/tags/list`)).json()) as { errors?: unknown[] };
      assert.ok(tags.errors, "the unchanged image was not pushed");
    } finally {
      registry.close();
    }
    assert.deepEqual(
      result.built.map((b) => b.package),
      ["zlib", "libpng", "pngtool"],
      "in graph order, and nothing else",
    );
    assert.deepEqual(result.skipped, ["other"]);
    assert.deepEqual(
      result.epochBumps.map((b) => [b.package, b.to]),
      [
        ["libpng", "1.6.44-r1"],
        ["pngtool", "2.0-r1"],
      ],
    );
    assert.match(readFileSync(join(packages, "libpng.yaml"), "utf8"), /\n {2}epoch: 1\n/);
    const apks = readdirSync(join(repository, "x86_64"))
      .filter((f) => f.endsWith(".apk"))
      .sort();
    assert.deepEqual(apks, [
      "libpng-1.6.44-r0.apk",
      "libpng-1.6.44-r1.apk",
      "other-0.9-r0.apk",
      "pngtool-2.0-r0.apk",
      "pngtool-2.0-r1.apk",
      "zlib-1.3.1-r0.apk",
      "zlib-1.3.2-r0.apk",
    ]);
    // Only the image containing zlib changed; the other layout was not touched.
    assert.deepEqual(
      result.images.map((i) => i.name),
      ["png"],
    );
    assert.equal(readFileSync(join(imagesOut, "plain/index.json"), "utf8"), plainIndex);
    assert.equal(statSync(join(imagesOut, "plain/index.json")).mtimeMs, plainBefore);
    const png = result.images[0];
    assert.ok(png);
    assert.notEqual(png.digest, pngDigestBefore);
    assert.deepEqual(png.attestations, ["slsaprovenance1", "spdxjson (x86_64)"]);
    const inImage = await installedPackages(`oci:${png.layout}`);
    assert.deepEqual(inImage.map((p) => `${p.name}-${p.version}`).sort(), ["libpng-1.6.44-r1", "pngtool-2.0-r1", "zlib-1.3.2-r0"]);
    // The new image verifies offline: signature, provenance, SBOM, and every package it names.
    const trusted = join(dir, "trusted");
    mkdirSync(trusted);
    writeFileSync(join(trusted, "undistro.rsa.pub"), readFileSync(`${apkKey}.pub`));
    const verified = await verifyImage(endpoint(`oci:${png.layout}`), cosign.publicKey, {
      require: ["signature", "provenance", "sbom"],
      repositories: [repository],
      apkKeysDir: trusted,
    });
    assert.equal(verified.ok, true, JSON.stringify(verified.checks.filter((c) => !c.ok)));
    assert.ok(verified.checks.some((c) => c.kind === "package" && /zlib-1\.3\.2-r0/.test(`${c.layer} ${c.reason}`)));

    assert.equal(png.from, pngDigestBefore, "the digest the layout held before");

    // Run again: nothing changed, nothing is rebuilt.
    const idle = await runRebuild(common());
    assert.deepEqual([idle.built, idle.images, idle.epochBumps], [[], [], []]);
    // Both runs are in the history beside the repository, the catalogue's rebuild page reads.
    // (The first line is the set-up's initial build.)
    const history = readFileSync(join(repository, "rebuild-history.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .slice(-2);
    assert.equal(history.length, 2);
    assert.deepEqual(
      history[0].built.map((b: { package: string }) => b.package),
      ["zlib", "libpng", "pngtool"],
    );
    assert.deepEqual(history[0].images, [{ name: "png", from: pngDigestBefore, digest: png.digest, signed: true, pushed: `${host}/undistro/png:latest` }]);
    assert.deepEqual([history[1].built, history[1].images], [[], []]);
  });

  it("--since: a recipe edited without a new version gets a new epoch; an unchanged tree plans nothing", () => {
    let plan = planRebuild({ packagesDir: packages, imagesDir: images, repository, keyring: [`${apkKey}.pub`], since: "HEAD" });
    // zlib, libpng and pngtool changed in the work tree since HEAD, each with a new version that is built.
    assert.deepEqual([plan.changed, plan.dependents, plan.images], [[], [], []]);
    execFileSync("git", ["add", "."], { cwd: dir });
    execFileSync("git", ["commit", "-q", "-m", "bump"], {
      cwd: dir,
      env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@e.org", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@e.org" },
    });
    plan = planRebuild({ packagesDir: packages, imagesDir: images, repository, keyring: [`${apkKey}.pub`], since: "HEAD" });
    assert.deepEqual([plan.changed, plan.dependents, plan.images], [[], [], []]);
    writeFileSync(join(packages, "other.yaml"), readFileSync(join(packages, "other.yaml"), "utf8").replace("echo other", "echo other, patched"));
    plan = planRebuild({ packagesDir: packages, imagesDir: images, repository, keyring: [`${apkKey}.pub`], since: "HEAD" });
    assert.deepEqual(
      plan.changed.map((c) => [c.package, c.from, c.to, c.epochBump]),
      [["other", "0.9-r0", "0.9-r1", true]],
    );
    assert.deepEqual(
      plan.images.map((i) => i.name),
      ["plain"],
    );
  });
});
