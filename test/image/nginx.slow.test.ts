import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SLOW_SUITE_SKIP, tempDir } from "../helpers.js";
import { BOOTSTRAP_KEY, bootstrapExtraStage, buildExtraImage, publishAndVerify } from "./helpers.js";

// Slow suite (npm run test:slow): distro/extra's OpenSSL, pcre2, nginx and tzdata built hermetically
// by the bootstrap's `extra` stage (roots made only of undistro packages; the image takes nothing else), then
// distro/extra/images/nginx.yaml, run under runc and checked with the host's curl. The
// bootstrap's state is shared with the other slow suites (UNDISTRO_BOOTSTRAP_OUT, default
// .cache/bootstrap): cold, stages 0-1 take about 80 minutes on 2 cores and the extra stage about an
// hour (OpenSSL about 12 minutes of it); a rerun keeps what did not change and takes a minute.

/** An unpacked OCI runtime bundle and its config.json, as parsed (the fields used here). */
interface Bundle {
  path: string;
  config: { process: { terminal: boolean; args: string[]; user: { uid: number; gid: number } } };
}

/** A runc bundle of the image (umoci unpack), with the process and the network namespace as given. */
function bundle(layout: string, dir: string): Bundle {
  const path = join(dir, `bundle-${Math.random().toString(36).slice(2)}`);
  const u = spawnSync("umoci", ["unpack", "--image", `${layout}:latest`, path], { encoding: "utf8" });
  assert.equal(u.status, 0, u.stderr);
  const config = JSON.parse(readFileSync(join(path, "config.json"), "utf8"));
  config.process.terminal = false;
  return { path, config };
}

function writeConfig(b: Bundle): void {
  writeFileSync(join(b.path, "config.json"), JSON.stringify(b.config));
}

/** Runs `curl ARGS` inside the container's network namespace (its own loopback: no host port is taken). */
function curlIn(pid: number, args: string[]) {
  return spawnSync("nsenter", ["-t", String(pid), "-n", "curl", "-sS", "--max-time", "10", ...args], { encoding: "utf8" });
}

describe("the nginx image (distro/extra)", { skip: SLOW_SUITE_SKIP, timeout: 3 * 3600_000 }, () => {
  let dir: string;
  let layout: string;
  let extra: string;
  const running: Array<{ id: string; child: ChildProcess }> = [];

  before(() => {
    extra = bootstrapExtraStage();
    dir = tempDir();
    layout = buildExtraImage("nginx", dir, {
      "../../../out/keys/undistro.rsa.pub": `${BOOTSTRAP_KEY}.pub`,
      "../../../out/bootstrap/extra": extra,
    });
  });

  after(() => {
    for (const { id, child } of running) {
      spawnSync("runc", ["kill", id, "KILL"]);
      child.kill("SIGKILL");
      spawnSync("runc", ["delete", "--force", id]);
    }
  });

  /** Starts the image's own command under runc; resolves once nginx answers on 8080 inside. */
  async function start(b: Bundle): Promise<{ pid: number; output: () => string }> {
    const id = `undistro-nginx-${process.pid}-${running.length}`;
    writeConfig(b);
    const child = spawn("runc", ["run", "--bundle", b.path, id], { stdio: ["ignore", "pipe", "pipe"] });
    running.push({ id, child });
    let output = "";
    child.stdout?.on("data", (d) => {
      output += d;
    });
    child.stderr?.on("data", (d) => {
      output += d;
    });
    for (let i = 0; i < 100; i++) {
      const state = spawnSync("runc", ["state", id], { encoding: "utf8" });
      if (state.status === 0) {
        const { pid, status } = JSON.parse(state.stdout) as { pid: number; status: string };
        if (status === "running" && curlIn(pid, ["-o", "/dev/null", "http://127.0.0.1:8080/"]).status === 0) return { pid, output: () => output };
      }
      if (child.exitCode !== null) assert.fail(`nginx exited ${child.exitCode}: ${output}`);
      await sleep(200);
    }
    assert.fail(`nginx did not answer on 8080 within 20 s: ${output}`);
  }

  it("the image holds nginx with its libraries, runs as nginx (uid 65532), and nginx -t passes", () => {
    const b = bundle(layout, dir);
    assert.deepEqual(b.config.process.user, { uid: 65532, gid: 65532 });
    assert.deepEqual(b.config.process.args, ["/usr/sbin/nginx", "-g", "daemon off;"]);
    const installed = readFileSync(join(b.path, "rootfs/usr/lib/apk/db/installed"), "utf8");
    const names = [...installed.matchAll(/^P:(.+)$/gm)].map((m) => m[1]).sort();
    for (const want of ["nginx", "nginx-config", "libssl3", "libcrypto3", "openssl-config", "pcre2", "zlib", "musl", "tzdata"])
      assert.ok(names.includes(want), `${want} in ${names}`);
    assert.equal(names.includes("busybox"), false, "no shell in the image");
    // Every package is the extra stage's (hermetic, undistro's toolchain): none from elsewhere.
    for (const m of installed.matchAll(/^P:(.+)\nV:(.+)$/gm))
      assert.ok(existsSync(join(extra, "x86_64", `${m[1]}-${m[2]}.apk`)), `${m[1]}-${m[2]} is the extra stage's`);
    b.config.process.args = ["/usr/sbin/nginx", "-t"];
    writeConfig(b);
    const t = spawnSync("runc", ["run", "--bundle", b.path, `undistro-nginx-t-${process.pid}`], { encoding: "utf8", timeout: 60_000 });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stderr, /nginx: the configuration file \/etc\/nginx\/nginx\.conf syntax is ok/);
    assert.match(t.stderr, /nginx: configuration file \/etc\/nginx\/nginx\.conf test is successful/);
    b.config.process.args = ["/usr/sbin/nginx", "-V"];
    writeConfig(b);
    const v = spawnSync("runc", ["run", "--bundle", b.path, `undistro-nginx-v-${process.pid}`], { encoding: "utf8", timeout: 60_000 });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stderr, /nginx version: nginx\/1\.26\.3/);
    assert.match(v.stderr, /built with OpenSSL 3\.5\.7/);
    for (const flag of ["--with-http_ssl_module", "--with-http_v2_module", "--with-pcre-jit"]) assert.ok(v.stderr.includes(flag), flag);
  });

  it("serves the page over HTTP on 8080, logs the request to stdout, and every nginx process is uid 65532", async () => {
    const b = bundle(layout, dir);
    const { pid, output } = await start(b);
    const page = curlIn(pid, ["-i", "http://127.0.0.1:8080/"]);
    assert.equal(page.status, 0, page.stderr);
    assert.match(page.stdout, /^HTTP\/1\.1 200 OK/);
    assert.match(page.stdout, /^Server: nginx\r$/m, "server_tokens off: no version");
    assert.match(page.stdout, /Welcome to nginx!/);
    assert.match(curlIn(pid, ["-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8080/missing"]).stdout, /^404$/);
    const uids = spawnSync("sh", ["-c", `for p in ${pid} $(cat /proc/${pid}/task/*/children); do awk '/^Uid:/ {print $2}' /proc/$p/status; done`], {
      encoding: "utf8",
    });
    const seen = uids.stdout.trim().split("\n");
    assert.ok(seen.length >= 2, `the master and at least one worker: ${uids.stdout}`);
    assert.deepEqual([...new Set(seen)], ["65532"]);
    await sleep(300);
    assert.match(output(), /"GET \/ HTTP\/1\.1" 200 /, "the access log goes to stdout");
  });

  it("is pushed to undistro's registry, signed and attested (SLSA, SPDX), pulled back and verified offline", async () => {
    await publishAndVerify(layout, dir, "nginx", `${BOOTSTRAP_KEY}.pub`, [extra]);
  });

  it("serves HTTPS with HTTP/2 with a certificate made here", async () => {
    const b = bundle(layout, dir);
    const tls = join(dir, "tls");
    mkdirSync(tls);
    const made = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-days",
        "2",
      ].concat(["-keyout", join(tls, "key.pem"), "-out", join(tls, "cert.pem")]),
      { encoding: "utf8" },
    );
    assert.equal(made.status, 0, made.stderr);
    const into = join(b.path, "rootfs/etc/nginx/tls");
    cpSync(tls, into, { recursive: true });
    chmodSync(join(into, "key.pem"), 0o644);
    writeFileSync(
      join(b.path, "rootfs/etc/nginx/conf.d/tls.conf"),
      "server {\n  listen 8443 ssl;\n  http2 on;\n  server_name localhost;\n  ssl_certificate /etc/nginx/tls/cert.pem;\n  ssl_certificate_key /etc/nginx/tls/key.pem;\n  root /usr/share/nginx/html;\n}\n",
    );
    const { pid } = await start(b);
    const r = curlIn(pid, [
      "--cacert",
      join(tls, "cert.pem"),
      "--resolve",
      "localhost:8443:127.0.0.1",
      "--http2",
      "-w",
      "\n%{http_version} %{ssl_verify_result}",
      "https://localhost:8443/",
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Welcome to nginx!/);
    assert.match(r.stdout, /\n2 0$/, "HTTP/2 over TLS, the certificate verified");
    const wrong = curlIn(pid, ["--resolve", "localhost:8443:127.0.0.1", "https://localhost:8443/"]);
    assert.notEqual(wrong.status, 0, "a client without the certificate refuses it");
  });
});
