import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { emptyPackageInfo, generateApkKey, indexDirectory, loadSigningKey, writePackage } from "../../src/apk/index.js";
import { buildImage, formatImageLock, lockImage, prefetchImageRepositories } from "../../src/image/index.js";
import { remoteRepositoryDir } from "../../src/solver/index.js";
import { runCli, tempDir } from "../helpers.js";

/** Serves a directory over HTTP on loopback; `tamper` swaps one file's bytes. */
class StaticServer {
  server!: Server;
  url = "";
  requests: string[] = [];
  tamper = new Map<string, Buffer>();
  constructor(readonly root: string) {}
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? "/").split("?")[0] as string);
      this.requests.push(path);
      const swapped = this.tamper.get(path);
      const file = join(this.root, path);
      if (swapped) res.writeHead(200).end(swapped);
      else if (!path.includes("..") && existsSync(file) && !file.endsWith("/")) res.writeHead(200).end(readFileSync(file));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe("http(s) repositories: fetched into the cache by checksum, then as local", () => {
  let dir: string;
  let key: string;
  let http: StaticServer;
  const cacheEnv = (cache: string) => {
    process.env.UNDISTRO_CACHE_DIR = cache;
  };
  before(async () => {
    dir = tempDir();
    key = generateApkKey(join(dir, "repo-key"), { bits: 2048 }).privateKeyPath;
    const arch = join(dir, "www/undistro/x86_64");
    mkdirSync(arch, { recursive: true });
    for (const [name, deps] of [
      ["libfoo", []],
      ["foo", ["libfoo"]],
    ] as const) {
      const stage = join(dir, `stage-${name}`);
      mkdirSync(join(stage, "usr/share", name), { recursive: true });
      writeFileSync(join(stage, "usr/share", name, "README"), `${name}\n`);
      const info = emptyPackageInfo(name, "1.0-r0", "x86_64");
      info.depends = [...deps];
      await writePackage({ sourceDir: stage, info, signingKey: loadSigningKey(key), sourceDateEpoch: 0 }, join(arch, `${name}-1.0-r0.apk`));
    }
    indexDirectory(arch, { signingKey: loadSigningKey(key), sourceDateEpoch: 0 });
    http = new StaticServer(join(dir, "www"));
    await http.start();
  });
  after(async () => {
    delete process.env.UNDISTRO_CACHE_DIR;
    await http.stop();
  });

  it("install, resolve and image build read an http repository; a warm cache builds the same image offline", async () => {
    const cache = join(dir, "cache-1");
    cacheEnv(cache);
    const repo = `${http.url}/undistro`;
    let r = await runCli(["install", "foo", "--root", join(dir, "root"), "-X", repo, "--keyring", `${key}.pub`, "--arch", "x86_64"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(dir, "root/usr/share/libfoo/README"), "utf8"), "libfoo\n");
    assert.ok(existsSync(join(remoteRepositoryDir(repo), "x86_64/foo-1.0-r0.apk")), "cached by repository");
    mkdirSync(join(dir, "keys"), { recursive: true });
    writeFileSync(join(dir, "keys/repo-key.rsa.pub"), readFileSync(`${key}.pub`));
    r = await runCli(["resolve", "foo", "-X", repo, "--keys-dir", join(dir, "keys"), "--arch", "x86_64", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).packages.map((p: { name: string; url: string }) => [p.name, p.url]),
      [
        ["libfoo", `${repo}/x86_64/libfoo-1.0-r0.apk`],
        ["foo", `${repo}/x86_64/foo-1.0-r0.apk`],
      ],
    );

    const config = join(dir, "image.yaml");
    writeFileSync(config, `contents:\n  keyring: [${key}.pub]\n  repositories: [${repo}]\n  packages: [foo]\narchs: [x86_64]\n`);
    const first = await buildImage(config, { outDir: join(dir, "img-1"), sourceDateEpoch: 0 });
    await prefetchImageRepositories(config, []);
    writeFileSync(join(dir, "image.lock.json"), formatImageLock(lockImage(config)));
    // The lock names packages by URL: portable to a machine with another cache.
    assert.match(readFileSync(join(dir, "image.lock.json"), "utf8"), new RegExp(`"url": "${repo}/x86_64/foo-1\\.0-r0\\.apk"`));
    await http.stop();
    const offline = await buildImage(config, { outDir: join(dir, "img-2"), sourceDateEpoch: 0 });
    assert.equal(offline.index.digest, first.index.digest, "same image from the cached index and packages");
    await http.start();
  });

  it("a lock built with an empty cache fetches its packages; a package whose bytes differ from the index is refused", async () => {
    const repo = `${http.url}/undistro`;
    const config = join(dir, "image2.yaml");
    writeFileSync(config, `contents:\n  keyring: [${key}.pub]\n  repositories: [${repo}]\n  packages: [foo]\narchs: [x86_64]\n`);
    cacheEnv(join(dir, "cache-2"));
    await prefetchImageRepositories(config, []);
    const lockFile = join(dir, "image2.lock.json");
    writeFileSync(lockFile, formatImageLock(lockImage(config)));
    cacheEnv(join(dir, "cache-3"));
    const fromLock = await buildImage(config, { outDir: join(dir, "img-3"), lockFile, sourceDateEpoch: 0 });
    assert.ok(existsSync(join(remoteRepositoryDir(repo), "x86_64/libfoo-1.0-r0.apk")));
    assert.equal(fromLock.archs[0]?.packages.length, 2);

    cacheEnv(join(dir, "cache-4"));
    http.tamper.set("/undistro/x86_64/libfoo-1.0-r0.apk", readFileSync(join(dir, "www/undistro/x86_64/foo-1.0-r0.apk")));
    try {
      const r = await runCli(["image", "build", config, "--out", join(dir, "img-4")]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /error\[REPOSITORY_PACKAGE_MISMATCH\]: .*libfoo-1\.0-r0\.apk: control checksum Q1\S+ is not the Q1\S+ its index names/);
      assert.ok(!existsSync(join(remoteRepositoryDir(repo), "x86_64/libfoo-1.0-r0.apk")), "a refused download is not kept");
    } finally {
      http.tamper.clear();
    }
    // No network and nothing cached: a clear error, not a stack trace.
    cacheEnv(join(dir, "cache-5"));
    const r = await runCli(["install", "foo", "--root", join(dir, "root2"), "-X", "http://127.0.0.1:9/none", "--keyring", `${key}.pub`, "--arch", "x86_64"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /error\[REPOSITORY_(UNREACHABLE|FETCH_FAILED)\]: http:\/\/127\.0\.0\.1:9\/none\/x86_64\/APKINDEX\.tar\.gz: .*\n {2}hint: the repository is unreachable and no copy of its index is cached/,
    );
  });
});
