import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { seededRandom } from "../../src/util/index.js";
import { BIN, tempDir } from "../helpers.js";
import { freePort } from "../image/helpers.js";

/**
 * Load and faults, bounded and on loopback only: 32 clients push images (a layer of their own, a
 * layer shared with others, a config, a tagged manifest) and pull back what was acknowledged,
 * while `registry gc` runs beside the server and the server is killed with SIGKILL at random
 * moments and restarted. Afterwards every acknowledged push pulls back bit-identical, every blob
 * on disk matches its name, and no upload is left behind.
 */
const SECONDS = Number(process.env.UNDISTRO_LOAD_SECONDS ?? 60);
const CLIENTS = 32;
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Acknowledged {
  repo: string;
  tag: string;
  manifest: string;
  blobs: Array<{ digest: string; size: number }>;
}

describe("registry under load and faults", () => {
  it(`${CLIENTS} clients for ${SECONDS} s, gc beside, SIGKILL at random at least 10 times: every acknowledged push pulls back intact`, async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "root");
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const random = seededRandom(20261201);
    let server: ChildProcess | undefined;
    const startServer = async () => {
      server = spawn(BIN, ["registry", "serve", "--listen", `127.0.0.1:${port}`, "--root", root], { stdio: "ignore" });
      for (let i = 0; i < 200; i++) {
        try {
          if ((await fetch(`${base}/v2/`)).status === 200) return;
        } catch {
          // starting
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error("registry did not start");
    };
    t.after(() => server?.kill("SIGKILL"));
    await startServer();

    const shared = Array.from({ length: 4 }, (_, i) => Buffer.concat([Buffer.from(`shared layer ${i}\n`), randomBytes(64 * 1024)]));
    const acknowledged: Acknowledged[] = [];
    let requests = 0;
    let wrongBytesDuringRun = 0;
    const deadline = Date.now() + SECONDS * 1000;
    let stopping = false;

    const req = async (path: string, init: RequestInit = {}): Promise<Response> => {
      requests++;
      return fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
    };
    const pushBlob = async (repo: string, data: Buffer, chunked: boolean) => {
      const digest = sha(data);
      if ((await req(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" })).status === 200) return;
      const start = await req(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
      if (start.status !== 202) throw new Error(`start upload: ${start.status}`);
      let loc = new URL(start.headers.get("location") ?? "", base);
      if (chunked) {
        const half = data.length >> 1;
        for (const [from, to] of [
          [0, half],
          [half, data.length],
        ] as const) {
          const r = await req(`${loc.pathname}${loc.search}`, {
            method: "PATCH",
            body: data.subarray(from, to),
            headers: { "Content-Type": "application/octet-stream", "Content-Range": `${from}-${to - 1}` },
          });
          if (r.status !== 202) throw new Error(`patch: ${r.status}`);
          loc = new URL(r.headers.get("location") ?? "", base);
        }
        loc.searchParams.set("digest", digest);
        const done = await req(`${loc.pathname}${loc.search}`, { method: "PUT" });
        if (done.status !== 201) throw new Error(`finish upload: ${done.status}`);
      } else {
        loc.searchParams.set("digest", digest);
        const done = await req(`${loc.pathname}${loc.search}`, { method: "PUT", body: data, headers: { "Content-Type": "application/octet-stream" } });
        if (done.status !== 201) throw new Error(`upload: ${done.status}`);
      }
    };
    const pullAndCheck = async (a: Acknowledged): Promise<number> => {
      const m = await req(`/v2/${a.repo}/manifests/${a.tag}`, { headers: { Accept: MANIFEST } });
      if (m.status !== 200) throw new Error(`${a.repo}:${a.tag}: manifest ${m.status}`);
      const body = Buffer.from(await m.arrayBuffer());
      if (sha(body) !== a.manifest) throw new Error(`${a.repo}:${a.tag}: manifest bytes differ from what was pushed`);
      let bytes = body.length;
      for (const b of a.blobs) {
        const r = await req(`/v2/${a.repo}/blobs/${b.digest}`);
        if (r.status !== 200) throw new Error(`${a.repo}: blob ${b.digest}: ${r.status}`);
        const data = Buffer.from(await r.arrayBuffer());
        if (data.length !== b.size || sha(data) !== b.digest) throw new Error(`${a.repo}: blob ${b.digest} differs from what was pushed`);
        bytes += data.length;
      }
      return bytes;
    };

    const client = async (id: number) => {
      let n = 0;
      while (Date.now() < deadline && !stopping) {
        const repo = `load/client${id % 8}`;
        try {
          if (acknowledged.length && random() < 0.3) {
            try {
              await pullAndCheck(acknowledged[Math.floor(random() * acknowledged.length)] as Acknowledged);
            } catch (err) {
              if (/differs from what was pushed/.test((err as Error).message)) wrongBytesDuringRun++;
            }
            continue;
          }
          const own = Buffer.concat([Buffer.from(`client ${id} push ${n}\n`), randomBytes(1024 + Math.floor(random() * 200_000))]);
          const common = shared[Math.floor(random() * shared.length)] as Buffer;
          const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, client: id, n }));
          for (const b of [own, common, config]) await pushBlob(repo, b, random() < 0.3);
          const manifest = Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: MANIFEST,
              config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
              layers: [own, common].map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(l), size: l.length })),
            }),
          );
          const tag = `c${id}-${n}`;
          const put = await req(`/v2/${repo}/manifests/${tag}`, { method: "PUT", body: manifest, headers: { "Content-Type": MANIFEST } });
          if (put.status === 201) {
            acknowledged.push({ repo, tag, manifest: sha(manifest), blobs: [own, common, config].map((b) => ({ digest: sha(b), size: b.length })) });
            n++;
          } else await put.arrayBuffer();
        } catch {
          // The server was killed under this request, or gc removed a blob not yet referenced: try again.
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };

    let kills = 0;
    const killer = async () => {
      while (Date.now() < deadline - 1500) {
        await new Promise((r) => setTimeout(r, 1500 + random() * 3000));
        server?.kill("SIGKILL");
        await new Promise((r) => server?.once("exit", r));
        kills++;
        await startServer();
      }
    };
    let gcRuns = 0;
    const collector = async () => {
      while (Date.now() < deadline) {
        await new Promise<void>((resolveGc) => {
          const gc = spawn(BIN, ["registry", "gc", "--root", root, "--delay", "3s", "--upload-age", "20s"], { stdio: "ignore" });
          gc.on("exit", (code) => {
            if (code === 0) gcRuns++;
            resolveGc();
          });
        });
        await new Promise((r) => setTimeout(r, 500));
      }
    };

    await Promise.all([...Array.from({ length: CLIENTS }, (_, i) => client(i)), killer(), collector()]);
    stopping = true;

    // Afterwards: a clean restart, then every acknowledged push, then a full gc, then all again.
    server?.kill("SIGKILL");
    await new Promise((r) => server?.once("exit", r));
    await startServer();
    let verified = 0;
    for (const a of acknowledged) verified += await pullAndCheck(a);
    const final = spawn(BIN, ["registry", "gc", "--root", root, "--delay", "0s", "--upload-age", "0s"], { stdio: "ignore" });
    assert.equal(await new Promise((r) => final.on("exit", r)), 0, "final gc");
    for (const a of acknowledged) await pullAndCheck(a);
    // Every blob file is complete (its content has its name); no upload or scratch file is left.
    for (const hex of readdirSync(join(root, "blobs/sha256"))) assert.equal(sha(readFileSync(join(root, "blobs/sha256", hex))), `sha256:${hex}`);
    assert.deepEqual(readdirSync(join(root, "uploads")), [], "no upload leaks");
    assert.deepEqual(readdirSync(join(root, "tmp")), [], "no scratch file leaks");

    console.log(
      `load and faults: ${requests} requests, ${kills} SIGKILLs survived, ${gcRuns} gc runs, ${acknowledged.length} acknowledged pushes, ${verified} bytes verified after the run`,
    );
    assert.equal(wrongBytesDuringRun, 0, "the registry never served wrong bytes");
    assert.ok(kills >= 10 || SECONDS < 60, `${kills} kills`);
    assert.ok(acknowledged.length >= CLIENTS, `${acknowledged.length} acknowledged pushes`);
  });
});
