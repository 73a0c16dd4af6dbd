import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import zlib from "node:zlib";
import { parseTar, type TarEntry } from "../../src/apk/index.js";
import { OCI_ARCH } from "../../src/image/index.js";
import { platformName } from "../../src/oci/index.js";
import { RegistryServer } from "../../src/registry/index.js";
import { hostArch } from "../../src/util/index.js";
import { BIN, REPO_ROOT, runAsync, runBin } from "../helpers.js";

/** Entries of a gzipped layer blob, by path (no leading ./ or trailing /). */
export function layerEntries(gz: Buffer): Map<string, TarEntry> {
  const tar = zlib.gunzipSync(gz);
  const m = new Map<string, TarEntry>();
  for (const e of parseTar(tar, (o) => `layer offset ${o}`).entries) m.set(e.header.name.replace(/^\.\//, "").replace(/\/$/, ""), e);
  return m;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Debian's docker-registry (distribution 2.8) on loopback, for client interoperability tests. */
export async function startDockerRegistry(dir: string): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  mkdirSync(join(dir, "data"), { recursive: true });
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
  const url = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://${url}/v2/`);
      if (r.status === 200) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => child.kill("SIGKILL") };
}

/** diffoscope's account of how two files differ, for failure messages (empty when unavailable). */
export function explainDifference(a: string, b: string): string {
  const r = spawnSync("diffoscope", ["--text", "-", "--max-text-report-size", "20000", a, b], { encoding: "utf8", timeout: 120_000 });
  return r.stdout || r.stderr || "";
}

/**
 * Builds distro/extra/images/NAME.yaml into DIR/layout with undistro, each of its relative paths
 * (`../../../out/…`) replaced as `paths` says (the test's own key and repository). Returns the layout.
 */
export function buildExtraImage(name: string, dir: string, paths: Record<string, string>): string {
  let config = readFileSync(join(REPO_ROOT, `distro/extra/images/${name}.yaml`), "utf8");
  // Whole paths only (…/extra is not …/extra-aarch64), longest first.
  for (const [from, to] of Object.entries(paths).sort(([a], [b]) => b.length - a.length)) {
    config = config.replace(new RegExp(`${from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w-])`, "g"), to);
  }
  writeFileSync(join(dir, `${name}.yaml`), config);
  const layout = join(dir, "layout");
  const r = runBin(["image", "build", join(dir, `${name}.yaml`), "--out", layout]);
  assert.equal(r.code, 0, r.stderr);
  return layout;
}

/** Runs `sh -c SCRIPT` as the process of an unpacked bundle (its user, no terminal) under runc, to the end. */
export function runcShell(bundle: string, spec: { process: { terminal: boolean; args: string[] } }, script: string, id: string) {
  spec.process.terminal = false;
  spec.process.args = ["/bin/sh", "-c", script];
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
  return spawnSync("runc", ["run", "--bundle", bundle, `${id}-${process.pid}`], { encoding: "utf8", timeout: 600_000 });
}

/**
 * The bootstrap's state, shared by the slow suites (the bootstrap's fixpoint test and the images of
 * distro/extra): UNDISTRO_BOOTSTRAP_OUT, default .cache/bootstrap, with its own signing key.
 */
export const BOOTSTRAP_OUT = process.env.UNDISTRO_BOOTSTRAP_OUT ?? join(REPO_ROOT, ".cache/bootstrap");
export const BOOTSTRAP_KEY = join(BOOTSTRAP_OUT, "keys/undistro.rsa");
const MIRROR = join(REPO_ROOT, ".cache/mirror");

/** Runs bin/undistro with ARGS from the checkout, its progress on this process's stdout; fails the test on a non-zero exit. */
export function undistroOrFail(args: string[]): void {
  const r = spawnSync(join(REPO_ROOT, "bin/undistro"), args, { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "inherit", "pipe"], maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.slice(-4000));
}

/** `undistro build TARGET` into OUT, signed with the bootstrap's key. */
export function buildWithBootstrapKey(target: string, out: string, ...extra: string[]): void {
  undistroOrFail([
    "build",
    target,
    ...extra,
    "--out",
    out,
    "--signing-key",
    BOOTSTRAP_KEY,
    "--source-mirror",
    MIRROR,
    "--log-dir",
    join(BOOTSTRAP_OUT, "logs/build"),
  ]);
}

/**
 * distro/extra built hermetically: the sources fetched, the bootstrap's key made, stages 0 and 1
 * run when there is no stage 1 yet (cold, about 90 minutes on 2 cores), then the `extra` stage
 * and its aarch64 Go, `extra-aarch64` (each recipe kept while its inputs, stage 1's packages among
 * them, are unchanged: cold, about an hour and a quarter). A stage 1 already there is taken as it is: whether it is current is the bootstrap's own
 * slow suite's question (bootstrap.slow.test.ts), and the images here only need distro/extra's
 * packages current with it. Returns the extra stage's repository.
 */
export function bootstrapExtraStage(): string {
  for (const set of ["--bootstrap", "--extra"]) {
    const fetched = spawnSync("bash", ["scripts/fetch-sources.sh", set], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(fetched.status, 0, fetched.stderr);
  }
  mkdirSync(join(BOOTSTRAP_OUT, "keys"), { recursive: true });
  if (!existsSync(BOOTSTRAP_KEY)) assert.equal(runBin(["keygen", "--apk", join(BOOTSTRAP_OUT, "keys/undistro")]).code, 0);
  const stages = `${existsSync(join(BOOTSTRAP_OUT, "stage1", hostArch(), "APKINDEX.tar.gz")) ? "" : "stage0-stage1,"}extra,extra-aarch64`;
  undistroOrFail(["bootstrap", "--stages", stages, "--out", BOOTSTRAP_OUT, "--signing-key", BOOTSTRAP_KEY, "--source-mirror", MIRROR]);
  return join(BOOTSTRAP_OUT, "extra");
}

/**
 * binfmt_misc's entry for aarch64 ELF programs (executables and PIEs), run by the host's
 * qemu-aarch64-static; F: the interpreter is opened when registered, so it works inside a chroot.
 */
const QEMU_AARCH64_BINFMT =
  ":qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:" +
  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F";

/**
 * Runs `sh -c SCRIPT` in an aarch64 root under qemu-user, every program it starts too (a compiler's
 * cc1, as and ld): in a user namespace of its own (no network) with a binfmt_misc instance of its
 * own (Linux 6.7 and later mount one per user namespace), so nothing is registered on the host.
 */
export function emulatedShell(root: string, script: string) {
  const setup = [
    "mount -t proc proc /proc",
    "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc",
    'printf "%s" "$BINFMT" > /proc/sys/fs/binfmt_misc/register',
    // What a compiler driver needs: /dev/null, /proc, a writable /tmp.
    'mkdir -p "$ROOT/dev" "$ROOT/proc" "$ROOT/tmp"',
    'mount --rbind /dev "$ROOT/dev"',
    'mount -t proc proc "$ROOT/proc"',
    'mount -t tmpfs tmpfs "$ROOT/tmp"',
    'exec chroot "$ROOT" /bin/sh -c "$SCRIPT"',
  ].join(" && ");
  return spawnSync("unshare", ["--user", "--map-root-user", "--mount", "--pid", "--net", "--fork", "--kill-child", "sh", "-c", setup], {
    encoding: "utf8",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", BINFMT: QEMU_AARCH64_BINFMT, ROOT: root, SCRIPT: script },
    timeout: 1800_000,
  });
}

/**
 * What a user does with an image before trusting it: push it to undistro's registry on loopback,
 * sign it, attest its SLSA provenance and each platform's SPDX SBOM (cosign's formats), pull it
 * back and `verify --require signature,provenance,sbom` offline with the cosign key and the APK key
 * `apkPub`, each package checked against `repositories`. Returns verify's output.
 */
export async function publishAndVerify(layout: string, dir: string, name: string, apkPub: string, repositories: string[]): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const reg = await new RegistryServer({ root: join(dir, "registry") }).listen();
  try {
    const u = async (...args: string[]) => {
      const r = await runAsync(BIN, args, { env: { UNDISTRO_PASSWORD: "" }, timeoutMs: 600_000 });
      assert.equal(r.status, 0, `undistro ${args.join(" ")}: ${r.stderr}`);
      return r;
    };
    const ref = `127.0.0.1:${reg.port}/undistro/${name}:latest`;
    const key = join(dir, "cosign.key");
    await u("keygen", "--cosign", join(dir, "cosign"));
    await u("push", `${layout}:latest`, ref);
    await u("sign", "--key", key, ref);
    await u("attest", "--key", key, "--type", "slsaprovenance1", "--predicate", join(layout, "provenance.json"), ref);
    const sboms = readdirSync(join(layout, "sboms")).filter((f) => /^sbom-.+\.spdx\.json$/.test(f));
    assert.ok(sboms.length > 0, `no SPDX SBOM in ${layout}/sboms`);
    for (const f of sboms) {
      const oci = OCI_ARCH[f.replace(/^sbom-|\.spdx\.json$/g, "")];
      assert.ok(oci, `${f}: an architecture OCI names`);
      await u("attest", "--key", key, "--type", "spdxjson", "--platform", platformName({ os: "linux", ...oci }), "--predicate", join(layout, "sboms", f), ref);
    }
    await u("pull", ref, `${join(dir, "pulled")}:latest`);
    const trusted = join(dir, "trusted");
    mkdirSync(trusted);
    cpSync(join(dir, "cosign.pub"), join(trusted, "cosign.pub"));
    cpSync(apkPub, join(trusted, "undistro.rsa.pub"));
    const v = await u(
      "verify",
      "--keyring",
      trusted,
      "--require",
      "signature,provenance,sbom",
      ...repositories.flatMap((r) => ["--repository", r]),
      `oci:${join(dir, "pulled")}:latest`,
    );
    const output = v.stdout + v.stderr;
    for (const what of ["signature", "provenance", "sbom"]) assert.match(output, new RegExp(`^ {2}ok {5}required ${what}$`, "m"), output);
    return output;
  } finally {
    await reg.close();
  }
}
