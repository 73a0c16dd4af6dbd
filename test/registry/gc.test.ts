import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { copyImage, endpoint, OciLayout, RegistryClient } from "../../src/oci/index.js";
import { collectGarbage, RegistryServer, RegistryStorage, type RunningRegistry } from "../../src/registry/index.js";
import { BIN, runCli, tempDir } from "../helpers.js";
import { multiArchWithSbom } from "../oci/helpers.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Manifest {
  manifests?: { digest: string; platform?: { architecture: string } }[];
  config?: { digest: string };
  layers?: { digest: string }[];
}

describe("registry gc", () => {
  let dir: string;
  let layout: string;
  let reg: RunningRegistry;
  let host: string;
  let storage: RegistryStorage;
  const docs = new Map<string, Manifest>();
  let amd64 = "";
  let arm64 = "";
  let sbom = "";

  before(async () => {
    dir = tempDir();
    const fixture = await multiArchWithSbom(dir);
    layout = fixture.layout;
    amd64 = fixture.amd64;
    arm64 = fixture.arm64;
    sbom = fixture.sbom;
    const oci = new OciLayout(layout);
    for (const m of fixture.platforms) docs.set(m.digest, JSON.parse(oci.readBlob(m.digest).toString("utf8")) as Manifest);
    reg = await new RegistryServer({ root: join(dir, "root") }).listen();
    host = reg.url.replace("http://", "");
    storage = new RegistryStorage(join(dir, "root"));
  });
  after(() => reg.close());

  const blobsOf = (digest: string) => {
    const m = docs.get(digest) as Manifest;
    return [m.config?.digest as string, ...(m.layers ?? []).map((l) => l.digest)];
  };
  /** Pulls REPO:TAG into a fresh layout: every blob arrives and matches its digest. */
  const pullable = async (ref: string) => {
    const out = join(tempDir(), "pull");
    const r = await copyImage(endpoint(`${host}/${ref}`), endpoint(`oci:${out}:x`), { referrers: true });
    return r;
  };

  it("removes untagged images, referrers of missing subjects, orphan blobs and stale uploads; keeps what tags reach", async () => {
    await copyImage(endpoint(`oci:${layout}:latest`), endpoint(`${host}/app/multi:v1`), { referrers: true });
    await copyImage(endpoint(`oci:${layout}:latest`), endpoint(`${host}/app/multi:arm`), { platform: "linux/arm64", referrers: false });
    const client = new RegistryClient(host);
    const orphan = Buffer.from("a blob no manifest uses");
    await client.putBlob("app/multi", orphan);
    const upload = await fetch(`${reg.url}/v2/app/multi/blobs/uploads/`, { method: "POST" });
    assert.equal(upload.status, 202);
    // v1 now names only the arm64 image: the index, the amd64 image and its SBOM lose every tag.
    const del = await fetch(`${reg.url}/v2/app/multi/manifests/v1`, { method: "DELETE" });
    assert.equal(del.status, 202);
    const later = Date.now() + 5000;

    const beforeCount = storage.allBlobs().length;
    const dry = collectGarbage(storage, { delayMs: 1000, uploadMaxAgeMs: 1000, dryRun: true, now: later });
    assert.equal(storage.allBlobs().length, beforeCount);
    assert.ok(dry.blobsRemoved > 0);
    assert.ok(storage.hasManifest("app/multi", amd64), "a dry run removes nothing");

    const r = await runCli(["registry", "gc", "--root", join(dir, "root"), "--delay", "0", "--upload-age", "0", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { manifestsRemoved: string[]; blobsRemoved: number; scratchRemoved: number };
    const top = new OciLayout(layout).readIndex().manifests[0]?.digest as string;
    assert.deepEqual(report.manifestsRemoved, [`app/multi@${amd64}`, `app/multi@${sbom}`, `app/multi@${top}`].sort());
    assert.deepEqual(dry.manifestsRemoved, report.manifestsRemoved, "the dry run predicted it");
    assert.ok(report.scratchRemoved >= 1, "the idle upload is gone");
    assert.equal(readdirSync(join(dir, "root/uploads")).length, 0);
    const armBlobs = new Set(blobsOf(arm64));
    const onlyAmd = blobsOf(amd64).filter((b) => !armBlobs.has(b));
    assert.ok(onlyAmd.length > 0);
    for (const b of onlyAmd) assert.equal(storage.hasBlob(b), false, `${b} (amd64 only) was collected`);
    assert.equal(storage.hasBlob(sha(orphan)), false, "the orphan blob was collected");
    for (const b of armBlobs) assert.ok(storage.hasBlob(b), `${b} (still tagged) was kept`);
    const referrers = (await (await fetch(`${reg.url}/v2/app/multi/referrers/${amd64}`)).json()) as { manifests: unknown[] };
    assert.deepEqual(referrers.manifests, [], "the server forgets collected referrers");
    const pulled = await pullable("app/multi:arm");
    assert.equal(pulled.digest, arm64);
  });

  it("keeps fresh uploads and untagged pushes within the delay", () => {
    const fresh = collectGarbage(storage, { dryRun: true });
    assert.deepEqual(fresh.manifestsRemoved, []);
    assert.equal(fresh.blobsRemoved, 0);
  });

  it("a manifest pushed long after its blobs renews them: gc cannot sweep what the manifest is being stored with", async () => {
    const config = Buffer.from('{"slow":"client"}');
    const layer = Buffer.from("uploaded an hour before its manifest");
    for (const b of [config, layer]) {
      const r = await fetch(`${reg.url}/v2/slow/client/blobs/uploads/?digest=${sha(b)}`, { method: "POST", body: b });
      assert.equal(r.status, 201);
    }
    // The uploads are an hour old: links and blobs both, as a slow client would leave them.
    const old = new Date(Date.now() - 3_600_000);
    for (const b of [config, layer]) {
      utimesSync(storage.blobPath(sha(b)), old, old);
      utimesSync(join(dir, "root/repositories/slow/client/_layers/sha256", sha(b).slice(7)), old, old);
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(layer), size: layer.length }],
    });
    const put = await fetch(`${reg.url}/v2/slow/client/manifests/v1`, {
      method: "PUT",
      body: manifest,
      headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    });
    assert.equal(put.status, 201, await put.text());
    for (const b of [config, layer]) {
      assert.ok(storage.linkTime("slow/client", "_layers", sha(b)) > Date.now() - 60_000, "the link was renewed by the manifest push");
      assert.ok(storage.blobTime(sha(b)) > Date.now() - 60_000, "the blob was renewed by the manifest push");
    }
    // A sweep whose mark phase predates the manifest would see only fresh links and blobs: kept.
    const untagged = collectGarbage(storage, { delayMs: 10_000, dryRun: true });
    assert.equal(untagged.blobsRemoved, 0);
    assert.equal((await fetch(`${reg.url}/v2/slow/client/blobs/${sha(layer)}`)).status, 200);
  });

  it("runs while clients push: images that reuse old orphaned blobs stay complete", async () => {
    // Make every stored blob old and orphan them by deleting the arm tag.
    const del = await fetch(`${reg.url}/v2/app/multi/manifests/arm`, { method: "DELETE" });
    assert.equal(del.status, 202);
    const old = new Date(Date.now() - 3_600_000);
    for (const b of storage.allBlobs()) utimesSync(storage.blobPath(b), old, old);
    let stop = false;
    let runs = 0;
    const loop = (async () => {
      while (!stop) {
        await new Promise<void>((resolve, reject) => {
          const child = spawn(BIN, ["registry", "gc", "--root", join(dir, "root"), "--delay", "20s"], { stdio: "ignore" });
          child.on("error", reject);
          child.on("close", () => resolve());
        });
        runs++;
      }
    })();
    try {
      const pushes = [];
      for (let i = 0; i < 6; i++) pushes.push(copyImage(endpoint(`oci:${layout}:latest`), endpoint(`${host}/push/r${i}:v1`), { referrers: true }));
      await Promise.all(pushes);
      while (runs < 2) await new Promise((r) => setTimeout(r, 50));
    } finally {
      stop = true;
      await loop;
    }
    for (let i = 0; i < 6; i++) {
      const r = await pullable(`push/r${i}:v1`);
      assert.equal(r.referrers, 1);
    }
  });
});
