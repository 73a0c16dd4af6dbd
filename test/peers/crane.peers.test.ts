// crane (go-containerregistry, pinned in scripts/peers.txt) against undistro's images and registry:
// push, pull, copy, manifest, digest, validate (layer digests and diff_ids), export, and an image crane
// mutated, pulled, signed and verified by undistro.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import { BIN, tempDir } from "../helpers.js";
import { layerEntries } from "../image/helpers.js";
import { layoutTop, peer, runPeer, scratchDir, undistroLayout } from "./helpers.js";

describe("crane against undistro", () => {
  let reg: RunningRegistry;
  let host: string;
  let layout: string;
  let top: { digest: string; bytes: Buffer };
  const crane = (...args: string[]) => runPeer(peer("crane"), ["--insecure", ...args]);
  const undistro = (...args: string[]) => runPeer(BIN, args, { env: { UNDISTRO_PASSWORD: "peer test" } });
  before(async () => {
    layout = await undistroLayout();
    top = layoutTop(layout);
    reg = await new RegistryServer({ root: join(scratchDir(), "root") }).listen();
    host = `127.0.0.1:${reg.port}`;
    const pushed = await undistro("push", `oci:${layout}`, `${host}/peers/img:v1`);
    assert.equal(pushed.status, 0, pushed.stderr);
  });
  after(() => reg.close());

  it("digest and manifest: crane reads undistro's pushed index byte for byte", async () => {
    const digest = await crane("digest", `${host}/peers/img:v1`);
    assert.equal(digest.status, 0, digest.stderr);
    assert.equal(digest.stdout.trim(), top.digest);
    const manifest = await crane("manifest", `${host}/peers/img:v1`);
    assert.equal(manifest.stdout, top.bytes.toString("utf8"));
    const platforms = JSON.parse(manifest.stdout).manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture);
    assert.deepEqual(platforms.sort(), ["amd64", "arm64"]);
  });

  it("validate: every platform's layer digests and diff_ids check out, from the registry and from a crane pull", async (t) => {
    for (const platform of ["linux/amd64", "linux/arm64"]) {
      const r = await crane("validate", "--platform", platform, "--remote", `${host}/peers/img:v1`);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^PASS: /m);
    }
    const pulled = join(tempDir(t), "pulled");
    const r = await crane("pull", "--format", "oci", `${host}/peers/img:v1`, pulled);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(layoutTop(pulled).digest, top.digest, "crane's layout names the same index");
    assert.deepEqual(readdirSync(join(pulled, "blobs/sha256")).sort(), readdirSync(join(layout, "blobs/sha256")).sort(), "the same blobs");
  });

  it("push and copy: crane's pushes of undistro's layout keep the digest", async () => {
    const pushed = await crane("push", layout, `${host}/peers/by-crane:v1`);
    assert.equal(pushed.status, 0, pushed.stderr);
    assert.equal((await crane("digest", `${host}/peers/by-crane:v1`)).stdout.trim(), top.digest);
    const copied = await crane("copy", `${host}/peers/img:v1`, `${host}/peers/copied:v1`);
    assert.equal(copied.status, 0, copied.stderr);
    assert.equal((await crane("digest", `${host}/peers/copied:v1`)).stdout.trim(), top.digest);
    const tags = await crane("ls", `${host}/peers/copied`);
    assert.deepEqual(tags.stdout.trim().split("\n"), ["v1"]);
    const catalog = await crane("catalog", host);
    for (const repo of ["peers/img", "peers/by-crane", "peers/copied"]) assert.ok(catalog.stdout.split("\n").includes(repo), catalog.stdout);
  });

  it("export: the flattened filesystem crane reads is undistro's layer, path for path", async () => {
    // crane writes the tar to stdout; Debian's tar lists it.
    const listed = await runPeer("bash", ["-c", `"${peer("crane")}" --insecure export --platform linux/amd64 ${host}/peers/img:v1 - | tar -t`]);
    assert.equal(listed.status, 0, listed.stderr);
    const exported = listed.stdout
      .trim()
      .split("\n")
      .map((n) => n.replace(/^\.\//, "").replace(/\/$/, ""));
    const blob = (digest: string) => readFileSync(join(layout, "blobs", ...digest.split(":")));
    const index = JSON.parse(top.bytes.toString("utf8")) as { manifests: Array<{ digest: string; platform: { architecture: string } }> };
    const amd64 = index.manifests.find((m) => m.platform.architecture === "amd64");
    assert.ok(amd64);
    const manifest = JSON.parse(blob(amd64.digest).toString("utf8")) as { layers: Array<{ digest: string }> };
    const ours = manifest.layers.flatMap((l) => [...layerEntries(blob(l.digest)).keys()]).filter((n) => n !== "" && n !== ".");
    assert.deepEqual([...new Set(exported)].sort(), [...new Set(ours)].sort());
    for (const path of ["etc/apk/world", "usr/lib/apk/db/installed", "etc/os-release"]) assert.ok(exported.includes(path), path);
  });

  it("an image crane mutated is pulled, signed and verified by undistro", async (t) => {
    const dir = tempDir(t);
    const mutated = await crane(
      "mutate",
      "--platform",
      "linux/amd64",
      "--label",
      "org.example.mutated=by-crane",
      "-t",
      `${host}/peers/mutated:v1`,
      `${host}/peers/img:v1`,
    );
    assert.equal(mutated.status, 0, mutated.stderr);
    const digest = (await crane("digest", `${host}/peers/mutated:v1`)).stdout.trim();
    const pulled = await undistro("pull", `${host}/peers/mutated:v1`, `oci:${join(dir, "mutated")}`);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.equal(layoutTop(join(dir, "mutated")).digest, digest);
    const manifest = JSON.parse(layoutTop(join(dir, "mutated")).bytes.toString("utf8"));
    const config = JSON.parse(readFileSync(join(dir, "mutated/blobs", ...manifest.config.digest.split(":")), "utf8"));
    assert.equal(config.config.Labels["org.example.mutated"], "by-crane");
    assert.equal((await undistro("keygen", "--cosign", join(dir, "cosign"))).status, 0);
    const signed = await undistro("sign", `${host}/peers/mutated@${digest}`, "--key", join(dir, "cosign.key"));
    assert.equal(signed.status, 0, signed.stderr);
    const verified = await undistro("verify", `${host}/peers/mutated@${digest}`, "--key", join(dir, "cosign.pub"), "--require", "signature", "--json");
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    const validate = await crane("validate", "--remote", `${host}/peers/mutated:v1`);
    assert.equal(validate.status, 0, validate.stdout + validate.stderr);
  });
});
