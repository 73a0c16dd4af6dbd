import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { copyImage, endpoint, fallbackTag, RegistryClient } from "../../src/oci/index.js";
import { hashPassword, RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import { runCli, tempDir } from "../helpers.js";
import { startDockerRegistry } from "../image/helpers.js";
import { multiArchWithSbom } from "./helpers.js";

interface Doc {
  manifests: { digest: string; platform?: { architecture: string }; artifactType?: string }[];
}

describe("registry client: push, pull and copy with referrers", () => {
  let dir: string;
  let layout: string;
  let platformManifests: Doc["manifests"];
  let sbomDigest: string;
  let reg: RunningRegistry;
  let docker: { url: string; stop: () => void };

  before(async () => {
    dir = tempDir();
    const fixture = await multiArchWithSbom(dir);
    layout = fixture.layout;
    platformManifests = fixture.platforms;
    sbomDigest = fixture.sbom;
    const cfg = join(dir, "registry.yaml");
    writeFileSync(cfg, `users:\n  ci:\n    password: "${hashPassword("s3cret")}"\n    access:\n      - repository: "**"\n        actions: [pull, push]\n`);
    reg = await new RegistryServer({ root: join(dir, "root"), config: cfg }).listen();
    docker = await startDockerRegistry(join(dir, "docker"));
  });
  after(async () => {
    await reg.close();
    docker.stop();
  });

  it("pushes a layout with every platform and its referrers through the token flow", async () => {
    const host = reg.url.replace("http://", "");
    const r = await runCli(["push", "--creds", "ci:s3cret", "--json", `${layout}:latest`, `${host}/team/multi:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { digest: string; manifests: number; referrers: number };
    assert.equal(out.manifests, 4, "index + 2 platforms + 1 SBOM");
    assert.equal(out.referrers, 1);
    const client = new RegistryClient(host, { username: "ci", password: "s3cret" });
    const tagged = await client.getManifest("team/multi", "v1");
    assert.equal(tagged?.digest, out.digest, "digests are kept");
    const amd64 = platformManifests.find((m) => m.platform?.architecture === "amd64")?.digest as string;
    const refs = await client.referrers("team/multi", amd64);
    assert.deepEqual(
      refs.map((d) => [d.digest, d.artifactType]),
      [[sbomDigest, "application/spdx+json"]],
    );
    const denied = await runCli(["push", "--creds", "ci:wrong", `${layout}:latest`, `${host}/team/multi:v2`]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /OCI_AUTH_FAILED/);
  });

  it("copies to a registry without the referrers API using the sha256-<hex> tag schema, and back", async () => {
    const src = `${reg.url.replace("http://", "")}/team/multi:v1`;
    const dst = `${docker.url}/mirror/multi:v1`;
    const opts = { username: "ci", password: "s3cret" };
    const res = await copyImage(endpoint(src, opts), endpoint(dst), { referrers: true });
    assert.equal(res.referrers, 1);
    const amd64 = platformManifests.find((m) => m.platform?.architecture === "amd64")?.digest as string;
    const raw = spawnSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${docker.url}/mirror/multi:${fallbackTag(amd64)}`], {
      encoding: "utf8",
    });
    assert.equal(raw.status, 0, raw.stderr);
    assert.deepEqual(
      (JSON.parse(raw.stdout) as Doc).manifests.map((m) => m.digest),
      [sbomDigest],
    );
    // Pulling back out of distribution 2.8 finds the SBOM through the fallback tag.
    const pulled = join(dir, "pulled");
    const back = await runCli(["pull", "--json", dst, `${pulled}:v1`]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as { referrers: number }).referrers, 1);
    assert.ok(readdirSync(join(pulled, "blobs/sha256")).includes(sbomDigest.slice(7)));
    const inspect = spawnSync("skopeo", ["inspect", `oci:${pulled}:v1`], { encoding: "utf8" });
    assert.equal(inspect.status, 0, inspect.stderr);
  });

  it("--platform picks one manifest out of the (nested) index and names what exists when it is absent", async () => {
    const one = join(dir, "arm64");
    const r = await runCli(["copy", "--platform", "linux/arm64", "--no-referrers", "--json", `oci:${layout}:latest`, `oci:${one}:arm`]);
    assert.equal(r.code, 0, r.stderr);
    const arm = platformManifests.find((m) => m.platform?.architecture === "arm64")?.digest;
    assert.equal((JSON.parse(r.stdout) as { digest: string }).digest, arm);
    const index = JSON.parse(readFileSync(join(one, "index.json"), "utf8")) as Doc;
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      [arm],
    );
    const missing = await runCli(["copy", "--platform", "linux/s390x", `oci:${layout}:latest`, `oci:${one}:s390x`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /OCI_NO_PLATFORM/);
    assert.match(missing.stderr, /linux\/amd64, linux\/arm64/);
  });
});
