import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadRecipe } from "../../src/recipe/index.js";
import { bumpEpoch, bumpRecipe, candidateVersions, checkRecipe, listingNames } from "../../src/update/index.js";
import { runCli, tempDir } from "../helpers.js";

/** A loopback HTTP server serving a directory listing, tarballs and a release-monitoring style API. */
async function serve(files: Map<string, Buffer | string>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (body === undefined) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.org", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.org" },
  }).trim();

describe("update providers", () => {
  let dir: string;
  let http: { url: string; server: Server };
  const tarballs = new Map<string, Buffer>([
    ["foo-1.0.0.tar.gz", Buffer.from("foo one")],
    ["foo-1.1.0.tar.gz", Buffer.from("foo one-one")],
    ["foo-1.10.0.tar.gz", Buffer.from("foo one-ten")],
  ]);
  let upstreamRepo: string;
  before(async () => {
    dir = tempDir();
    const listing = `<html><body><h1>Index of /releases/</h1><a href="../">../</a>
<a href="foo-1.0.0.tar.gz">foo-1.0.0.tar.gz</a> <a href="foo-1.0.0.tar.gz.sig">sig</a>
<a href="foo-1.1.0.tar.gz">foo-1.1.0.tar.gz</a> <a href="/releases/foo-1.10.0.tar.gz">foo-1.10.0.tar.gz</a>
<a href="foo-1.11.0_rc1.tar.gz">rc</a> <a href="foo-latest.tar.gz">latest</a> <a href="bar-9.0.tar.gz">bar</a></body></html>`;
    const files = new Map<string, Buffer | string>([["/releases/", listing]]);
    for (const [n, b] of tarballs) files.set(`/releases/${n}`, b);
    files.set(
      "/api/v2/versions/?project_id=5303",
      JSON.stringify({ latest_version: "1.3.1", stable_versions: ["1.3.1", "1.3", "1.2.13"], versions: ["1.3.1", "1.3", "1.2.13", "1.3.2-beta"] }),
    );
    http = await serve(files);
    // An upstream git repository with release tags, one annotated.
    upstreamRepo = join(dir, "upstream");
    mkdirSync(upstreamRepo);
    git(upstreamRepo, "init", "-q", "-b", "main");
    for (const v of ["1.0.0", "1.1.0", "2.0.0-rc1", "2.0.0"]) {
      writeFileSync(join(upstreamRepo, "VERSION"), v);
      git(upstreamRepo, "add", "VERSION");
      git(upstreamRepo, "commit", "-q", "-m", v);
      if (v === "2.0.0") git(upstreamRepo, "tag", "-a", "-m", "release", `v${v}`);
      else git(upstreamRepo, "tag", `v${v}`);
    }
    git(upstreamRepo, "tag", "nightly-20261101");
  });
  after(() => http.server.close());

  const recipe = (name: string, version: string, pipeline: string, update: string) =>
    `package:\n  name: ${name}\n  version: "${version}" # upstream release\n  epoch: 3\n  copyright:\n    - license: MIT\n\n# how the source is fetched\npipeline:\n${pipeline}\nupdate:\n${update}`;

  it("pick the newest release from filters, prefixes and apk ordering", () => {
    const update = { "ignore-regex-patterns": ["^v0\\."], "version-separator": "_" };
    assert.deepEqual(candidateVersions(["v0.9", "v1_2_3", "v1_10_0", "v1_11_0_rc1", "junk", "x1_0"], update, { stripPrefix: "v", prefix: "v" }), [
      "1.2.3",
      "1.10.0",
    ]);
    assert.deepEqual(candidateVersions(["R_2_4_1", "R_2_5_0"], { "version-transform": [{ match: "^R_(\\d+)_(\\d+)_(\\d+)$", replace: "$1.$2.$3" }] }, {}), [
      "2.4.1",
      "2.5.0",
    ]);
    assert.deepEqual(listingNames('<a href="a-1.tar.gz">x</a><a href=\'/d/b-2.tar.gz?x=1\'>y</a><A HREF="sub/">z</A>'), ["a-1.tar.gz", "b-2.tar.gz", "sub"]);
  });

  it("http: the directory listing that holds the fetched tarball", async (t) => {
    const d = tempDir(t);
    const file = join(d, "foo.yaml");
    writeFileSync(
      file,
      recipe(
        "foo",
        "1.0.0",
        `  - uses: fetch\n    with:\n      uri: ${http.url}/releases/foo-\${{package.version}}.tar.gz\n      expected-sha256: ${createHash("sha256").update("foo one").digest("hex")}\n`,
        "  enabled: true\n",
      ),
    );
    const r = await checkRecipe(file);
    assert.deepEqual(
      { latest: r.latest, newer: r.newer, provider: r.provider, source: r.source },
      { latest: "1.10.0", newer: true, provider: "http", source: `${http.url}/releases/` },
    );
  });

  it("git tags, github tags (base URL overridable) and release-monitor", async (t) => {
    const d = tempDir(t);
    const gitFile = join(d, "g.yaml");
    writeFileSync(
      gitFile,
      recipe(
        "g",
        "1.0.0",
        `  - uses: git-checkout\n    with:\n      repository: file://${upstreamRepo}\n      tag: v\${{package.version}}\n      expected-commit: 0000000000000000000000000000000000000000\n`,
        "  enabled: true\n  git:\n    strip-prefix: v\n    tag-filter-prefix: v\n",
      ),
    );
    let r = await checkRecipe(gitFile);
    assert.equal(r.error, undefined);
    assert.deepEqual([r.provider, r.latest, r.newer], ["git", "2.0.0", true]);

    mkdirSync(join(d, "gh/example"), { recursive: true });
    git(d, "clone", "-q", "--bare", upstreamRepo, join(d, "gh/example/upstream"));
    const ghFile = join(d, "h.yaml");
    writeFileSync(
      ghFile,
      recipe("h", "2.0.0", "  - runs: true\n", "  enabled: true\n  github:\n    identifier: example/upstream\n    strip-prefix: v\n    use-tag: true\n"),
    );
    process.env.UNDISTRO_GITHUB_URL = `file://${d}/gh`;
    try {
      r = await checkRecipe(ghFile);
    } finally {
      delete process.env.UNDISTRO_GITHUB_URL;
    }
    assert.deepEqual([r.provider, r.latest, r.newer, r.error], ["github", "2.0.0", false, undefined]);

    const rmFile = join(d, "z.yaml");
    writeFileSync(rmFile, recipe("z", "1.3", "  - runs: true\n", "  enabled: true\n  release-monitor:\n    identifier: 5303\n"));
    process.env.UNDISTRO_RELEASE_MONITOR_URL = http.url;
    try {
      r = await checkRecipe(rmFile);
    } finally {
      delete process.env.UNDISTRO_RELEASE_MONITOR_URL;
    }
    assert.deepEqual([r.provider, r.latest, r.newer], ["release-monitor", "1.3.1", true]);

    writeFileSync(join(d, "off.yaml"), recipe("off", "1", "  - runs: true\n", "  enabled: false\n"));
    assert.equal((await checkRecipe(join(d, "off.yaml"))).skipped, "update.enabled is false");
    // A provider that cannot be reached is reported per package, not thrown.
    writeFileSync(
      join(d, "gone.yaml"),
      recipe(
        "gone",
        "1.0.0",
        `  - uses: fetch\n    with:\n      uri: ${http.url}/missing/gone-\${{package.version}}.tar.gz\n      expected-sha256: ${"0".repeat(64)}\n`,
        "  enabled: true\n",
      ),
    );
    const gone = await checkRecipe(join(d, "gone.yaml"));
    assert.match(gone.error ?? "", /\/missing\/: HTTP 404/);
    const cli = await runCli(["update", "check", d]);
    assert.equal(cli.code, 1, "a failed check fails the command");
    assert.match(cli.stdout, /^g 1\.0\.0 → 2\.0\.0 {2}\(git file:\/\//m);
    assert.match(cli.stderr, /gone: .*HTTP 404/);
  });

  it("bump rewrites version, epoch and pins, keeps every other byte, and caches the download", async (t) => {
    const d = tempDir(t);
    const file = join(d, "foo.yaml");
    const original = recipe(
      "foo",
      "1.0.0",
      `  - uses: fetch\n    with:\n      uri: ${http.url}/releases/foo-\${{package.version}}.tar.gz\n      expected-sha256: ${createHash("sha256").update("foo one").digest("hex")} # pinned\n  - runs: echo build\n`,
      "  enabled: true\n",
    );
    writeFileSync(file, original);
    const cache = join(d, "cache");
    const r = await bumpRecipe(file, "1.10.0", { cacheDir: cache });
    const sha = createHash("sha256").update("foo one-ten").digest("hex");
    assert.deepEqual(r.from, { version: "1.0.0", epoch: 3 });
    assert.deepEqual(r.to, { version: "1.10.0", epoch: 0 });
    assert.deepEqual(
      r.pins.map((p) => [p.field, p.value]),
      [["expected-sha256", sha]],
    );
    const after = readFileSync(file, "utf8");
    assert.equal(
      after,
      original
        .replace('version: "1.0.0"', 'version: "1.10.0"')
        .replace("epoch: 3", "epoch: 0")
        .replace(createHash("sha256").update("foo one").digest("hex"), sha),
    );
    assert.equal(loadRecipe(file).package.version, "1.10.0");
    assert.ok(existsSync(join(cache, "sources/sha256", sha)), "the tarball is in the source cache");
    // An epoch bump touches one number.
    bumpEpoch(file);
    assert.equal(readFileSync(file, "utf8"), after.replace("epoch: 0", "epoch: 1"));
    // A version that is not there fails and leaves the file alone.
    const cli = await runCli(["update", "bump", file, "9.9.9"]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /error\[SOURCE_DOWNLOAD_FAILED\]: .*foo-9\.9\.9\.tar\.gz: HTTP 404/);
    assert.equal(readFileSync(file, "utf8"), after.replace("epoch: 0", "epoch: 1"));
    assert.equal((await runCli(["update", "bump", file, "1.2-r3"])).code, 2);
  });

  it("bump re-pins a git checkout's expected-commit from the tag (peeled when annotated)", async (t) => {
    const d = tempDir(t);
    const file = join(d, "g.yaml");
    writeFileSync(
      file,
      recipe(
        "g",
        "1.0.0",
        `  - uses: git-checkout\n    with:\n      repository: file://${upstreamRepo}\n      tag: v\${{package.version}}\n      expected-commit: ${git(upstreamRepo, "rev-parse", "v1.0.0^{commit}")}\n`,
        "  enabled: true\n  git:\n    strip-prefix: v\n",
      ),
    );
    const r = await bumpRecipe(file, "2.0.0");
    assert.deepEqual(r.pins, [{ step: "pipeline[0]", field: "expected-commit", value: git(upstreamRepo, "rev-parse", "v2.0.0^{commit}") }]);
  });
});
