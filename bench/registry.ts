/**
 * Registry benchmark: the same client (skopeo) and load against undistro's registry and Debian's
 * docker-registry 2.8, each in its own process on loopback. Prints figures; asserts nothing.
 *   push: `skopeo copy` of a 200 MB, 4-layer image from a layout into the registry
 *   pull: `skopeo copy` back out into a fresh layout (throughput)
 *   load: 50 concurrent keep-alive clients doing HEAD/GET on manifests and blobs (requests/s)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { canonicalJson, MEDIA, OciLayout } from "../src/oci/index.js";

const REPO_ROOT = resolve(fileURLToPath(new URL("../../", import.meta.url)));

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/v2/`)).ok) return;
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not start`);
}

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const c = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    c.stderr.on("data", (d) => {
      err += d;
    });
    c.on("close", (code) => (code === 0 ? res(Number(process.hrtime.bigint() - t0) / 1e9) : rej(new Error(`${cmd} ${args.join(" ")}: ${err}`))));
  });
}

interface Target {
  name: string;
  host: string;
  proc: ChildProcess;
}

async function startUndistro(dir: string): Promise<Target> {
  const port = await freePort();
  const proc = spawn(join(REPO_ROOT, "bin/undistro"), ["registry", "serve", "--listen", `127.0.0.1:${port}`, "--root", join(dir, "undistro")], {
    stdio: "ignore",
  });
  await waitUp(`http://127.0.0.1:${port}`);
  return { name: "undistro", host: `127.0.0.1:${port}`, proc };
}

async function startDistribution(dir: string): Promise<Target> {
  const port = await freePort();
  const root = join(dir, "distribution");
  mkdirSync(root, { recursive: true });
  const cfg = join(dir, "distribution.yml");
  writeFileSync(
    cfg,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${root}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const proc = spawn("docker-registry", ["serve", cfg], { stdio: "ignore" });
  await waitUp(`http://127.0.0.1:${port}`);
  return { name: "docker-registry 2.8", host: `127.0.0.1:${port}`, proc };
}

/** A 200 MB image of four incompressible 50 MB layers (uncompressed tar media type: copied as is). */
function makeImage(dir: string, round: number): { layout: string; manifest: string; config: string; layer: string } {
  const layout = join(dir, `layout${round}`);
  const oci = new OciLayout(layout);
  oci.init();
  const layers = [0, 1, 2, 3].map(() => oci.writeBlob(randomBytes(50 * 1024 * 1024), "application/vnd.oci.image.layer.v1.tar"));
  const config = oci.writeBlob(
    canonicalJson({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) }, config: {} }),
    "application/vnd.oci.image.config.v1+json",
  );
  const manifest = oci.writeBlob(canonicalJson({ schemaVersion: 2, mediaType: MEDIA.manifest, config, layers }), MEDIA.manifest);
  oci.writeIndex({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": "latest" } }] });
  return { layout, manifest: manifest.digest, config: config.digest, layer: (layers[0] as { digest: string }).digest };
}

/** 50 concurrent keep-alive clients for `seconds`, cycling HEAD/GET manifest and HEAD/GET config blob. */
async function load(host: string, img: { manifest: string; config: string }, tag: string, seconds: number): Promise<number> {
  const [h, p] = host.split(":") as [string, string];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const paths: [string, string][] = [
    ["HEAD", `/v2/bench/img/manifests/${img.manifest}`],
    ["GET", `/v2/bench/img/manifests/${tag}`],
    ["HEAD", `/v2/bench/img/blobs/${img.config}`],
    ["GET", `/v2/bench/img/blobs/${img.config}`],
  ];
  const deadline = Date.now() + seconds * 1000;
  let count = 0;
  let errors = 0;
  const one = (method: string, path: string) =>
    new Promise<void>((res) => {
      const req = http.request({ host: h, port: Number(p), method, path, agent, headers: { Accept: MEDIA.manifest } }, (r) => {
        if (r.statusCode !== 200) errors++;
        r.resume();
        r.on("end", () => res());
      });
      req.on("error", () => {
        errors++;
        res();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: 50 }, async (_, c) => {
      for (let i = c; Date.now() < deadline; i++) {
        const [m, path] = paths[i % paths.length] as [string, string];
        await one(m, path);
        count++;
      }
    }),
  );
  agent.destroy();
  if (errors) console.log(`  (${errors} failed requests)`);
  return count / seconds;
}

export async function benchRegistry(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "undistro-bench-registry-"));
  const targets: Target[] = [];
  try {
    targets.push(await startUndistro(dir), await startDistribution(dir));
    // Three rounds, each with a fresh image (nothing deduplicated), alternating which registry
    // goes first; medians are reported.
    const samples = new Map<string, { push: number[]; pull: number[] }>(targets.map((t) => [t.name, { push: [], pull: [] }]));
    let last = makeImage(dir, 0);
    for (let round = 0; round < 3; round++) {
      const img = round === 0 ? last : makeImage(dir, round);
      last = img;
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const ref = `docker://${t.host}/bench/img:v${round}`;
        const push = await run("skopeo", ["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", `oci:${img.layout}:latest`, ref]);
        const out = join(dir, `pull-${t.proc.pid}`);
        const pull = await run("skopeo", ["copy", "--quiet", "--preserve-digests", "--src-tls-verify=false", ref, `oci:${out}:v1`]);
        rmSync(out, { recursive: true, force: true });
        samples.get(t.name)?.push.push(push);
        samples.get(t.name)?.pull.push(pull);
      }
      rmSync(img.layout, { recursive: true, force: true });
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const figures: Record<string, { push: number; pull: number; rps: number }> = {};
    for (const t of targets) {
      const sm = samples.get(t.name) as { push: number[]; pull: number[] };
      const rps = await load(t.host, last, "v2", 5);
      const push = median(sm.push);
      const pull = median(sm.pull);
      figures[t.name] = { push, pull, rps };
      console.log(
        `registry ${t.name}: skopeo push 200 MB ${push.toFixed(2)} s (${(200 / push).toFixed(0)} MB/s); pull ${pull.toFixed(2)} s (${(200 / pull).toFixed(0)} MB/s); 50 clients HEAD/GET ${rps.toFixed(0)} req/s (medians of 3: push ${sm.push.map((x) => x.toFixed(2)).join("/")} s)`,
      );
    }
    const u = figures.undistro;
    const d = figures["docker-registry 2.8"];
    if (u && d) {
      console.log(
        `registry ratios (undistro / docker-registry): push time ${(u.push / d.push).toFixed(2)}x, pull time ${(u.pull / d.pull).toFixed(2)}x, req/s ${(u.rps / d.rps).toFixed(2)}x`,
      );
    }
  } finally {
    for (const t of targets) t.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
