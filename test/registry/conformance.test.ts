/**
 * The OCI distribution-spec conformance flows (pull, push, content discovery, content management),
 * re-expressed in TypeScript against undistro's registry. Test names follow the spec's own.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import { tempDir } from "../helpers.js";

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const INDEX = "application/vnd.oci.image.index.v1+json";

let reg: RunningRegistry;
let root: string;
const u = (p: string) => `${reg.url}${p}`;

async function pushBlob(name: string, data: Buffer): Promise<string> {
  const d = sha(data);
  const r = await fetch(u(`/v2/${name}/blobs/uploads/?digest=${d}`), { method: "POST", body: data, headers: { "Content-Type": "application/octet-stream" } });
  assert.equal(r.status, 201, await r.text());
  return d;
}

function imageManifest(config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(l), size: l.length })),
      ...extra,
    }),
  );
}

async function pushImage(name: string, tag: string, seed: string, extra: Record<string, unknown> = {}): Promise<{ digest: string; body: Buffer }> {
  const config = Buffer.from(`{"seed":"${seed}"}`);
  const layer = Buffer.from(`layer ${seed}`);
  await pushBlob(name, config);
  await pushBlob(name, layer);
  const body = imageManifest(config, [layer], extra);
  const r = await fetch(u(`/v2/${name}/manifests/${tag}`), { method: "PUT", body, headers: { "Content-Type": MANIFEST } });
  assert.equal(r.status, 201, await r.text());
  return { digest: sha(body), body };
}

async function errorCode(r: Response): Promise<string> {
  return ((await r.json()) as { errors: Array<{ code: string }> }).errors[0]?.code ?? "";
}

describe("OCI distribution-spec conformance", () => {
  before(async () => {
    root = tempDir();
    reg = await new RegistryServer({ root }).listen();
  });
  after(() => reg.close());

  describe("Pull", () => {
    let image: { digest: string; body: Buffer };
    before(async () => {
      image = await pushImage("conformance/pull", "tagged", "pull");
    });
    it("HEAD request to nonexistent blob should result in 404 response", async () => {
      const r = await fetch(u(`/v2/conformance/pull/blobs/${sha("nope")}`), { method: "HEAD" });
      assert.equal(r.status, 404);
    });
    it("HEAD request to existing blob should yield 200", async () => {
      const layer = Buffer.from("layer pull");
      const r = await fetch(u(`/v2/conformance/pull/blobs/${sha(layer)}`), { method: "HEAD" });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("docker-content-digest"), sha(layer));
      assert.equal(r.headers.get("content-length"), String(layer.length));
    });
    it("GET nonexistent blob should result in 404 response", async () => {
      const r = await fetch(u(`/v2/conformance/pull/blobs/${sha("missing")}`));
      assert.equal(r.status, 404);
      assert.equal(await errorCode(r), "BLOB_UNKNOWN");
    });
    it("GET request to existing blob URL should yield 200", async () => {
      const r = await fetch(u(`/v2/conformance/pull/blobs/${sha("layer pull")}`));
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "layer pull");
    });
    it("HEAD request to manifest path (digest) should yield 200 response", async () => {
      const r = await fetch(u(`/v2/conformance/pull/manifests/${image.digest}`), { method: "HEAD" });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("docker-content-digest"), image.digest);
      assert.equal(r.headers.get("content-type"), MANIFEST);
    });
    it("GET request to manifest path (tag) should yield 200 response, byte for byte", async () => {
      const r = await fetch(u("/v2/conformance/pull/manifests/tagged"));
      assert.equal(r.status, 200);
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(image.body));
      assert.equal(r.headers.get("docker-content-digest"), image.digest);
    });
    it("GET nonexistent manifest should return 404", async () => {
      const r = await fetch(u("/v2/conformance/pull/manifests/notatag"));
      assert.equal(r.status, 404);
      assert.equal(await errorCode(r), "MANIFEST_UNKNOWN");
    });
    it("a range request returns the part asked for", async () => {
      const r = await fetch(u(`/v2/conformance/pull/blobs/${sha("layer pull")}`), { headers: { Range: "bytes=2-5" } });
      assert.equal(r.status, 206);
      assert.equal(await r.text(), "yer ");
    });
    it("a suffix range returns the blob's last bytes; an empty suffix is unsatisfiable", async () => {
      const path = u(`/v2/conformance/pull/blobs/${sha("layer pull")}`);
      const r = await fetch(path, { headers: { Range: "bytes=-4" } });
      assert.equal(r.status, 206);
      assert.equal(r.headers.get("content-range"), "bytes 6-9/10");
      assert.equal(await r.text(), "pull");
      const whole = await fetch(path, { headers: { Range: "bytes=-400" } });
      assert.equal(whole.status, 206);
      assert.equal(await whole.text(), "layer pull");
      assert.equal((await fetch(path, { headers: { Range: "bytes=-0" } })).status, 416);
    });
  });

  describe("Push", () => {
    it("POST request with digest and blob should yield a 201", async () => {
      await pushBlob("conformance/push", Buffer.from("monolithic"));
    });
    it("POST then PUT (monolithic upload) should yield 201 with Location and digest", async () => {
      const data = Buffer.from("post-then-put");
      const p = await fetch(u("/v2/conformance/push/blobs/uploads/"), { method: "POST" });
      assert.equal(p.status, 202);
      const loc = p.headers.get("location") as string;
      assert.match(loc, /^\/v2\/conformance\/push\/blobs\/uploads\/[0-9a-f-]{36}$/);
      const r = await fetch(u(`${loc}?digest=${sha(data)}`), { method: "PUT", body: data, headers: { "Content-Type": "application/octet-stream" } });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get("docker-content-digest"), sha(data));
      assert.equal(r.headers.get("location"), `/v2/conformance/push/blobs/${sha(data)}`);
    });
    it("chunked upload: PATCH chunks in order, status, then PUT; an out-of-order chunk gets 416", async () => {
      const data = Buffer.from("0123456789abcdefghij");
      const loc = (await fetch(u("/v2/conformance/push/blobs/uploads/"), { method: "POST" })).headers.get("location") as string;
      const c1 = await fetch(u(loc), {
        method: "PATCH",
        body: data.subarray(0, 10),
        headers: { "Content-Range": "0-9", "Content-Type": "application/octet-stream" },
      });
      assert.equal(c1.status, 202);
      assert.equal(c1.headers.get("range"), "0-9");
      const bad = await fetch(u(loc), {
        method: "PATCH",
        body: data.subarray(15),
        headers: { "Content-Range": "15-19", "Content-Type": "application/octet-stream" },
      });
      assert.equal(bad.status, 416);
      assert.equal(bad.headers.get("range"), "0-9");
      const status = await fetch(u(loc));
      assert.equal(status.status, 204);
      assert.equal(status.headers.get("range"), "0-9");
      const c2 = await fetch(u(loc), {
        method: "PATCH",
        body: data.subarray(10),
        headers: { "Content-Range": "10-19", "Content-Type": "application/octet-stream" },
      });
      assert.equal(c2.status, 202);
      const fin = await fetch(u(`${loc}?digest=${sha(data)}`), { method: "PUT" });
      assert.equal(fin.status, 201);
      const got = await fetch(u(`/v2/conformance/push/blobs/${sha(data)}`));
      assert.equal(await got.text(), data.toString());
    });
    it("streamed upload (PATCH without Content-Range) works", async () => {
      const data = Buffer.from("streamed body");
      const loc = (await fetch(u("/v2/conformance/push/blobs/uploads/"), { method: "POST" })).headers.get("location") as string;
      assert.equal((await fetch(u(loc), { method: "PATCH", body: data, headers: { "Content-Type": "application/octet-stream" } })).status, 202);
      assert.equal((await fetch(u(`${loc}?digest=${sha(data)}`), { method: "PUT" })).status, 201);
    });
    it("a wrong digest is refused and nothing is stored", async () => {
      const data = Buffer.from("honest content");
      const claimed = sha("something else");
      const r = await fetch(u(`/v2/conformance/push/blobs/uploads/?digest=${claimed}`), {
        method: "POST",
        body: data,
        headers: { "Content-Type": "application/octet-stream" },
      });
      assert.equal(r.status, 400);
      assert.equal(await errorCode(r), "DIGEST_INVALID");
      assert.equal((await fetch(u(`/v2/conformance/push/blobs/${claimed}`), { method: "HEAD" })).status, 404);
      assert.ok(!readdirSync(join(root, "blobs/sha256")).includes(claimed.slice(7)));
    });
    it("sha512 digests are verified too", async () => {
      const data = Buffer.from("sha512 blob");
      const d = `sha512:${createHash("sha512").update(data).digest("hex")}`;
      const r = await fetch(u(`/v2/conformance/push/blobs/uploads/?digest=${d}`), {
        method: "POST",
        body: data,
        headers: { "Content-Type": "application/octet-stream" },
      });
      assert.equal(r.status, 201);
      assert.equal((await fetch(u(`/v2/conformance/push/blobs/${d}`), { method: "HEAD" })).status, 200);
    });
    it("cancel an upload; its id is then unknown", async () => {
      const loc = (await fetch(u("/v2/conformance/push/blobs/uploads/"), { method: "POST" })).headers.get("location") as string;
      assert.equal((await fetch(u(loc), { method: "DELETE" })).status, 204);
      const r = await fetch(u(loc));
      assert.equal(r.status, 404);
      assert.equal(await errorCode(r), "BLOB_UPLOAD_UNKNOWN");
      const unknown = await fetch(u("/v2/conformance/push/blobs/uploads/00000000-0000-0000-0000-000000000000"), { method: "PATCH", body: "x" });
      assert.equal(unknown.status, 404);
    });
    it("cross-repository blob mount should yield 201", async () => {
      const d = await pushBlob("conformance/source", Buffer.from("mount me"));
      const r = await fetch(u(`/v2/conformance/push/blobs/uploads/?mount=${d}&from=conformance/source`), { method: "POST" });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get("location"), `/v2/conformance/push/blobs/${d}`);
      const missing = await fetch(u(`/v2/conformance/push/blobs/uploads/?mount=${sha("absent")}&from=conformance/source`), { method: "POST" });
      assert.equal(missing.status, 202, "an unknown mount falls back to an upload session");
    });
    it("manifest PUT with missing blobs is refused with MANIFEST_BLOB_UNKNOWN", async () => {
      const body = imageManifest(Buffer.from("cfg-missing"), [Buffer.from("layer-missing")]);
      const r = await fetch(u("/v2/conformance/push/manifests/missing"), { method: "PUT", body, headers: { "Content-Type": MANIFEST } });
      assert.equal(r.status, 400);
      assert.equal(await errorCode(r), "MANIFEST_BLOB_UNKNOWN");
    });
    it("non-distributable layers with urls need not be pushed; without urls they must be", async () => {
      const config = Buffer.from('{"foreign":1}');
      await pushBlob("conformance/push", config);
      const foreign = { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: sha("elsewhere"), size: 9 };
      const manifest = (layer: Record<string, unknown>) =>
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MANIFEST,
            config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
            layers: [layer],
          }),
        );
      const withUrls = await fetch(u("/v2/conformance/push/manifests/foreign"), {
        method: "PUT",
        body: manifest({ ...foreign, urls: ["https://example.com/blob"] }),
        headers: { "Content-Type": MANIFEST },
      });
      assert.equal(withUrls.status, 201, await withUrls.text());
      const without = await fetch(u("/v2/conformance/push/manifests/foreign2"), {
        method: "PUT",
        body: manifest(foreign),
        headers: { "Content-Type": MANIFEST },
      });
      assert.equal(await errorCode(without), "MANIFEST_BLOB_UNKNOWN");
    });
    it("push by digest with ?tag=, Content-Type must match mediaType", async () => {
      const config = Buffer.from("{}");
      const layer = Buffer.from("by digest");
      await pushBlob("conformance/push", config);
      await pushBlob("conformance/push", layer);
      const body = imageManifest(config, [layer]);
      const wrongType = await fetch(u(`/v2/conformance/push/manifests/${sha(body)}`), { method: "PUT", body, headers: { "Content-Type": INDEX } });
      assert.equal(wrongType.status, 400);
      assert.equal(await errorCode(wrongType), "MANIFEST_INVALID");
      const r = await fetch(u(`/v2/conformance/push/manifests/${sha(body)}?tag=a&tag=b`), { method: "PUT", body, headers: { "Content-Type": MANIFEST } });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get("oci-tag"), "a, b", "the tags applied are confirmed");
      for (const t of ["a", "b"])
        assert.equal((await fetch(u(`/v2/conformance/push/manifests/${t}`), { method: "HEAD" })).headers.get("docker-content-digest"), sha(body));
      const mismatch = await fetch(u(`/v2/conformance/push/manifests/${sha("other")}`), { method: "PUT", body, headers: { "Content-Type": MANIFEST } });
      assert.equal(await errorCode(mismatch), "DIGEST_INVALID");
    });
    it("manifests up to 4 MiB are accepted, larger ones get 413", async () => {
      const config = Buffer.from('{"big":1}');
      const layer = Buffer.from("big layer");
      await pushBlob("conformance/push", config);
      await pushBlob("conformance/push", layer);
      const pad = (n: number) => {
        const base = imageManifest(config, [layer], { annotations: { pad: "" } });
        return imageManifest(config, [layer], { annotations: { pad: "x".repeat(n - base.length) } });
      };
      const ok = pad(4 * 1024 * 1024);
      assert.equal(ok.length, 4 * 1024 * 1024);
      assert.equal((await fetch(u("/v2/conformance/push/manifests/big"), { method: "PUT", body: ok, headers: { "Content-Type": MANIFEST } })).status, 201);
      const tooBig = pad(4 * 1024 * 1024 + 1);
      const r = await fetch(u("/v2/conformance/push/manifests/toobig"), { method: "PUT", body: tooBig, headers: { "Content-Type": MANIFEST } });
      assert.equal(r.status, 413);
    });
    it("invalid names, tags and digests get the spec's errors", async () => {
      for (const name of ["UPPER/case", "a..b", "-lead", "trail-", "a//b"]) {
        const r = await fetch(u(`/v2/${name}/tags/list`));
        assert.ok([400, 404].includes(r.status), name);
        if (r.status === 400) assert.equal(await errorCode(r), "NAME_INVALID");
      }
      // Dot segments, raw on the wire (fetch would normalise them away first).
      const http = await import("node:http");
      for (const raw of [`/v2/a/../../../etc/blobs/${sha("x")}`, `/v2/a/%2e%2e/%2e%2e/blobs/${sha("x")}`, `/v2/..%2f..%2fetc/tags/list`]) {
        const status = await new Promise<number>((resolve) =>
          http.get(`${reg.url}${raw}`, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          }),
        );
        assert.ok(status === 400 || status === 404, `${raw}: ${status}`);
      }
      const badTag = await fetch(u("/v2/conformance/push/manifests/-bad"), { method: "PUT", body: "{}", headers: { "Content-Type": MANIFEST } });
      assert.equal(badTag.status, 400);
      const badDigest = await fetch(u("/v2/conformance/push/blobs/sha256:1234"));
      assert.equal(await errorCode(badDigest), "DIGEST_INVALID");
    });
  });

  describe("Content Discovery", () => {
    before(async () => {
      for (const t of ["c", "a", "e", "b", "d"]) await pushImage("conformance/discovery", t, `d-${t}`);
    });
    it("GET request to list tags should yield 200 response, sorted", async () => {
      const r = await fetch(u("/v2/conformance/discovery/tags/list"));
      assert.deepEqual(((await r.json()) as { tags: string[] }).tags, ["a", "b", "c", "d", "e"]);
    });
    it("GET number of tags should be limited by n, with Link to the rest", async () => {
      const r = await fetch(u("/v2/conformance/discovery/tags/list?n=2"));
      assert.deepEqual(((await r.json()) as { tags: string[] }).tags, ["a", "b"]);
      assert.equal(r.headers.get("link"), '</v2/conformance/discovery/tags/list?n=2&last=b>; rel="next"');
      const next = await fetch(u("/v2/conformance/discovery/tags/list?n=2&last=b"));
      assert.deepEqual(((await next.json()) as { tags: string[] }).tags, ["c", "d"]);
    });
    it("GET request to the referrers API: list, artifactType filter, empty index for unknown subjects", async () => {
      const subject = await pushImage("conformance/discovery", "subject", "subject");
      const desc = { mediaType: MANIFEST, digest: subject.digest, size: subject.body.length };
      const sig = await pushImage("conformance/discovery", "sig", "sig", { artifactType: "application/vnd.example.signature", subject: desc });
      await pushImage("conformance/discovery", "sbom", "sbom", { artifactType: "application/spdx+json", subject: desc });
      const put = await fetch(u(`/v2/conformance/discovery/manifests/${sig.digest}`), { method: "HEAD" });
      assert.equal(put.status, 200);
      const all = await fetch(u(`/v2/conformance/discovery/referrers/${subject.digest}`));
      assert.equal(all.headers.get("content-type"), INDEX);
      const list = (await all.json()) as { manifests: Array<{ artifactType: string; digest: string }> };
      assert.deepEqual(list.manifests.map((m) => m.artifactType).sort(), ["application/spdx+json", "application/vnd.example.signature"]);
      const filtered = await fetch(u(`/v2/conformance/discovery/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`));
      assert.equal(filtered.headers.get("oci-filters-applied"), "artifactType");
      assert.equal(((await filtered.json()) as { manifests: unknown[] }).manifests.length, 1);
      const none = await fetch(u(`/v2/conformance/discovery/referrers/${sha("nothing points here")}`));
      assert.equal(none.status, 200);
      assert.deepEqual(((await none.json()) as { manifests: unknown[] }).manifests, []);
    });
    it("a manifest with a subject is answered with OCI-Subject", async () => {
      const subject = await pushImage("conformance/discovery", "s2", "s2");
      const config = Buffer.from('{"seed":"with-subject"}');
      const layer = Buffer.from("layer with-subject");
      await pushBlob("conformance/discovery", config);
      await pushBlob("conformance/discovery", layer);
      const body = imageManifest(config, [layer], { subject: { mediaType: MANIFEST, digest: subject.digest, size: subject.body.length } });
      const r = await fetch(u(`/v2/conformance/discovery/manifests/${sha(body)}`), { method: "PUT", body, headers: { "Content-Type": MANIFEST } });
      assert.equal(r.headers.get("oci-subject"), subject.digest);
    });
    it("the catalog lists repositories, paginated", async () => {
      const r = await fetch(u("/v2/_catalog?n=1"));
      const body = (await r.json()) as { repositories: string[] };
      assert.equal(body.repositories.length, 1);
      assert.match(r.headers.get("link") ?? "", /rel="next"/);
    });
  });

  describe("Content Management", () => {
    it("DELETE request to manifest tag, then by digest, should return 202 and then 404", async () => {
      const img = await pushImage("conformance/manage", "doomed", "doomed");
      assert.equal((await fetch(u("/v2/conformance/manage/manifests/doomed"), { method: "DELETE" })).status, 202);
      assert.equal((await fetch(u("/v2/conformance/manage/manifests/doomed"))).status, 404);
      assert.equal((await fetch(u(`/v2/conformance/manage/manifests/${img.digest}`))).status, 200, "the manifest outlives its tag");
      assert.equal((await fetch(u(`/v2/conformance/manage/manifests/${img.digest}`), { method: "DELETE" })).status, 202);
      assert.equal((await fetch(u(`/v2/conformance/manage/manifests/${img.digest}`))).status, 404);
    });
    it("DELETE request to blob URL should yield 202, then 404", async () => {
      const d = await pushBlob("conformance/manage", Buffer.from("delete this blob"));
      assert.equal((await fetch(u(`/v2/conformance/manage/blobs/${d}`), { method: "DELETE" })).status, 202);
      assert.equal((await fetch(u(`/v2/conformance/manage/blobs/${d}`), { method: "HEAD" })).status, 404);
    });
  });

  it("stored blobs all match their names", () => {
    for (const algo of ["sha256", "sha512"]) {
      for (const hex of readdirSync(join(root, "blobs", algo))) {
        if (hex.startsWith(".")) continue;
        assert.equal(
          createHash(algo)
            .update(readFileSync(join(root, "blobs", algo, hex)))
            .digest("hex"),
          hex,
        );
      }
    }
  });
});
