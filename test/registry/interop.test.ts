import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage } from "../../src/image/index.js";
import { hashPassword, RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import { BIN, REFERENCE, runAsync, tempDir } from "../helpers.js";
import { freePort } from "../image/helpers.js";

let GOLDEN = "";
/**
 * A two-architecture layout built by undistro from apko's test packages (apko's own golden layout
 * names no image in its index.json, which skopeo needs). Built once, on first use.
 */
let building: Promise<void> | undefined;
function multiArchLayout(): Promise<void> {
  building ??= (async () => {
    GOLDEN = join(tempDir(), "multiarch");
    await buildImage(join(REFERENCE, "apko/internal/cli/testdata/apko.yaml"), { outDir: GOLDEN, sourceDateEpoch: 0 });
  })();
  return building;
}
/** skopeo, asynchronously: the registry under test runs in this process's event loop. */
const skopeo = (args: string[]) => runAsync("skopeo", args);

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("real clients against undistro's registry", () => {
  let reg: RunningRegistry;
  let dir: string;
  before(async () => {
    await multiArchLayout();
    dir = tempDir();
    reg = await new RegistryServer({ root: join(dir, "root") }).listen();
  });
  after(() => reg.close());

  it("skopeo copies a multi-arch image in with --all, keeping digests, and back out to a layout", async () => {
    const host = reg.url.replace("http://", "");
    const top = JSON.parse(readFileSync(join(GOLDEN, "index.json"), "utf8"));
    const index = JSON.parse(readFileSync(join(GOLDEN, "blobs/sha256", top.manifests[0].digest.slice(7)), "utf8"));
    assert.equal(index.manifests.length, 2);
    const r = await skopeo(["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", `oci:${GOLDEN}:latest`, `docker://${host}/apko/golden:v1`]);
    assert.equal(r.status, 0, r.stderr);
    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${host}/apko/golden:v1`]);
    assert.equal(raw.status, 0, raw.stderr);
    const served = JSON.parse(raw.stdout);
    assert.deepEqual(
      served.manifests.map((m: { digest: string }) => m.digest),
      index.manifests.map((m: { digest: string }) => m.digest),
    );
    const out = join(dir, "pulled");
    const back = await skopeo(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", `docker://${host}/apko/golden:v1`, `oci:${out}:v1`]);
    assert.equal(back.status, 0, back.stderr);
    for (const m of index.manifests) assert.ok(readdirSync(join(out, "blobs/sha256")).includes(m.digest.slice(7)));
  });
});

describe("registry authentication", () => {
  let reg: RunningRegistry;
  let dir: string;
  before(async () => {
    await multiArchLayout();
    dir = tempDir();
    const cfg = join(dir, "registry.yaml");
    writeFileSync(
      cfg,
      `anonymous: pull\nusers:\n  alice:\n    password: "${hashPassword("wonderland")}"\n    access:\n      - repository: "team/*"\n        actions: [pull, push, delete]\n  bob:\n    password: "${hashPassword("builder")}"\n    access:\n      - repository: "bob/**"\n        actions: [pull, push]\n`,
    );
    reg = await new RegistryServer({ root: join(dir, "root"), config: cfg }).listen();
  });
  after(() => reg.close());

  it("challenges with a bearer realm, issues scoped tokens, and enforces them", async () => {
    const layer = Buffer.from("secret layer");
    const push = await fetch(`${reg.url}/v2/team/app/blobs/uploads/?digest=${sha(layer)}`, { method: "POST", body: layer });
    assert.equal(push.status, 401);
    const challenge = push.headers.get("www-authenticate") ?? "";
    assert.match(challenge, new RegExp(`^Bearer realm="${reg.url}/token",service="undistro",scope="repository:team/app:push"$`));
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
    const bad = await fetch(`${reg.url}/token?service=undistro&scope=repository:team/app:push`, { headers: { Authorization: basic("alice", "wrong") } });
    assert.equal(bad.status, 401);
    const tok = (await (
      await fetch(`${reg.url}/token?service=undistro&scope=repository:team/app:pull,push`, { headers: { Authorization: basic("alice", "wonderland") } })
    ).json()) as { token: string };
    const ok = await fetch(`${reg.url}/v2/team/app/blobs/uploads/?digest=${sha(layer)}`, {
      method: "POST",
      body: layer,
      headers: { Authorization: `Bearer ${tok.token}` },
    });
    assert.equal(ok.status, 201);
    const otherRepo = await fetch(`${reg.url}/v2/bob/x/blobs/uploads/?digest=${sha(layer)}`, {
      method: "POST",
      body: layer,
      headers: { Authorization: `Bearer ${tok.token}` },
    });
    assert.equal(otherRepo.status, 401, "a token only carries the scopes it was issued for");
    const bobOnTeam = await fetch(`${reg.url}/v2/team/app/blobs/uploads/?digest=${sha(layer)}`, {
      method: "POST",
      body: layer,
      headers: { Authorization: basic("bob", "builder") },
    });
    assert.equal(bobOnTeam.status, 403);
    const anonPull = await fetch(`${reg.url}/v2/team/app/blobs/${sha(layer)}`);
    assert.equal(anonPull.status, 200, "anonymous pull is allowed by the config");
    const anonDelete = await fetch(`${reg.url}/v2/team/app/blobs/${sha(layer)}`, { method: "DELETE" });
    assert.equal(anonDelete.status, 401);
    const forged = await fetch(`${reg.url}/v2/team/app/blobs/${sha(layer)}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${tok.token.slice(0, -2)}xx` },
    });
    assert.equal(forged.status, 401);
  });

  it("a requested scope is a repository name, never a pattern: team/* cannot be widened to team/** or *", async () => {
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
    const layer = Buffer.from("widened scope");
    const tokenFor = async (scope: string, auth = basic("alice", "wonderland")) => {
      const r = await fetch(`${reg.url}/token?service=undistro&scope=${encodeURIComponent(scope)}`, { headers: { Authorization: auth } });
      return r.status === 200 ? ((await r.json()) as { token: string }).token : `status ${r.status}`;
    };
    const claims = (token: string) => JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString("utf8")) as { access: unknown[] };
    for (const widened of ["repository:team/**:pull,push,delete", "repository:*:pull,push,delete", "repository:**:*", "repository:team/*:push"]) {
      const token = await tokenFor(widened);
      assert.deepEqual(claims(token).access, [], `${widened} grants nothing`);
      for (const target of ["team/deep/nested", "bob/secret", "team/app"]) {
        const push = await fetch(`${reg.url}/v2/${target}/blobs/uploads/?digest=${sha(layer)}`, {
          method: "POST",
          body: layer,
          headers: { Authorization: `Bearer ${token}` },
        });
        assert.equal(push.status, 401, `${widened} token cannot push to ${target}`);
      }
    }
    // The exact name inside the grant still works; one level deeper is outside `team/*`.
    assert.deepEqual(claims(await tokenFor("repository:team/app:push")).access, [{ name: "team/app", actions: ["push"] }]);
    assert.deepEqual(claims(await tokenFor("repository:team/a/b:push")).access, []);
    // A token does not buy another token.
    const token = await tokenFor("repository:team/app:push");
    assert.equal(await tokenFor("repository:team/app:push", `Bearer ${token}`), "status 401");
  });

  it("basic auth costs the same scrypt for an unknown user as for a wrong password", async () => {
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
    const time = async (auth: string) => {
      const t0 = process.hrtime.bigint();
      const r = await fetch(`${reg.url}/v2/team/app/tags/list`, { headers: { Authorization: auth } });
      assert.equal(r.status, 401);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 7; i++) {
      known.push(await time(basic("alice", "wrong")));
      unknown.push(await time(basic(`nobody${i}`, "wrong")));
    }
    // scrypt N=16384 takes tens of milliseconds; skipping it answers in about one.
    assert.ok(median(unknown) > median(known) / 3, `unknown user ${median(unknown).toFixed(1)} ms vs wrong password ${median(known).toFixed(1)} ms`);
  });

  it("skopeo follows the token flow with --dest-creds", async () => {
    const host = reg.url.replace("http://", "");
    const r = await skopeo([
      "copy",
      "--all",
      "--dest-tls-verify=false",
      "--dest-creds",
      "bob:builder",
      `oci:${GOLDEN}:latest`,
      `docker://${host}/bob/golden:v1`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const denied = await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", "bob:builder", `oci:${GOLDEN}:latest`, `docker://${host}/team/golden:v1`]);
    assert.notEqual(denied.status, 0);
  });
});

describe("crash safety and concurrency", () => {
  it("after kill -9 during uploads and manifest puts, the registry restarts clean: every blob matches its digest", async (t) => {
    const dir = tempDir(t);
    const port = await freePort();
    const start = () => spawn(BIN, ["registry", "serve", "--listen", `127.0.0.1:${port}`, "--root", join(dir, "root")], { stdio: "ignore" });
    const waitUp = async () => {
      for (let i = 0; i < 100; i++) {
        try {
          if ((await fetch(`http://127.0.0.1:${port}/v2/`)).status === 200) return;
        } catch {
          // starting
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("registry did not start");
    };
    let child = start();
    await waitUp();
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    // Pushes in flight: large monolithic uploads and chunked ones, some of which we cut off.
    const inflight: Array<Promise<unknown>> = [];
    for (let i = 0; i < 6; i++) {
      const data = Buffer.concat([big, Buffer.from(String(i))]);
      inflight.push(fetch(`http://127.0.0.1:${port}/v2/crash/test/blobs/uploads/?digest=${sha(data)}`, { method: "POST", body: data }).catch(() => undefined));
    }
    const small = Buffer.from("completed before the crash");
    const done = await fetch(`http://127.0.0.1:${port}/v2/crash/test/blobs/uploads/?digest=${sha(small)}`, { method: "POST", body: small });
    assert.equal(done.status, 201);
    await new Promise((r) => setTimeout(r, 30));
    child.kill("SIGKILL");
    await Promise.all(inflight);
    child = start();
    t.after(() => child.kill("SIGKILL"));
    await waitUp();
    for (const hex of readdirSync(join(dir, "root/blobs/sha256"))) {
      if (hex.startsWith(".")) continue;
      assert.equal(
        createHash("sha256")
          .update(readFileSync(join(dir, "root/blobs/sha256", hex)))
          .digest("hex"),
        hex,
        "no partial blob is visible",
      );
    }
    const pull = await fetch(`http://127.0.0.1:${port}/v2/crash/test/blobs/${sha(small)}`);
    assert.equal(await pull.text(), small.toString());
    const again = Buffer.concat([big, Buffer.from("0")]);
    const retry = await fetch(`http://127.0.0.1:${port}/v2/crash/test/blobs/uploads/?digest=${sha(again)}`, { method: "POST", body: again });
    assert.equal(retry.status, 201, "pushes work after the restart");
  });

  it("20 clients pushing overlapping images at once lose nothing", async (t) => {
    const dir = tempDir(t);
    const reg = await new RegistryServer({ root: join(dir, "root") }).listen();
    t.after(() => reg.close());
    const shared = Buffer.alloc(2 * 1024 * 1024, 3);
    const config = Buffer.from('{"shared":true}');
    const client = async (i: number) => {
      const own = Buffer.from(`own layer ${i}`);
      for (const b of [shared, config, own]) {
        const r = await fetch(`${reg.url}/v2/concurrent/app/blobs/uploads/?digest=${sha(b)}`, { method: "POST", body: b });
        assert.equal(r.status, 201);
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
          layers: [shared, own].map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(l), size: l.length })),
        }),
      );
      const m = await fetch(`${reg.url}/v2/concurrent/app/manifests/v${i % 5}`, {
        method: "PUT",
        body: manifest,
        headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
      });
      assert.equal(m.status, 201);
      return sha(manifest);
    };
    const digests = await Promise.all(Array.from({ length: 20 }, (_, i) => client(i)));
    for (const d of digests) {
      const r = await fetch(`${reg.url}/v2/concurrent/app/manifests/${d}`);
      assert.equal(r.status, 200);
      assert.equal(sha(Buffer.from(await r.arrayBuffer())), d);
    }
    const tags = (await (await fetch(`${reg.url}/v2/concurrent/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ["v0", "v1", "v2", "v3", "v4"]);
    const blob = await fetch(`${reg.url}/v2/concurrent/app/blobs/${sha(shared)}`);
    assert.equal(sha(Buffer.from(await blob.arrayBuffer())), sha(shared));
  });
});
