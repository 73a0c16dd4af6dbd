import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers.js";

/** Where scripts/setup-peers.sh installs the pinned Go peers of scripts/peers.txt. */
export const PEER_BIN = join(REPO_ROOT, ".cache/go/bin");

/** The path of a pinned peer; a missing one fails the test (never a skip: CI installs them all). */
export function peer(name: string): string {
  const path = join(PEER_BIN, name);
  if (!existsSync(path)) throw new Error(`${name} is not installed: run \`bash scripts/setup-peers.sh ${name}\` (pinned in scripts/peers.txt)`);
  return path;
}

export interface PeerRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a peer without blocking the event loop (the registry under test may run in this process),
 * with a time limit so a hung peer fails the test instead of the run.
 */
export function runPeer(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<PeerRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Builds (once per test file) undistro's two-architecture image of apko's test configuration as an OCI
 * layout: small, offline, and made by undistro's own image builder. */
let layout: Promise<string> | undefined;
export function undistroLayout(): Promise<string> {
  layout ??= (async () => {
    const { buildImage } = await import("../../src/image/index.js");
    const { REFERENCE, tempDir } = await import("../helpers.js");
    const out = join(tempDir(), "layout");
    await buildImage(join(REFERENCE, "apko/internal/cli/testdata/apko.yaml"), { outDir: out, sourceDateEpoch: 0 });
    return out;
  })();
  return layout;
}

/** The digest and bytes of the image a layout's index.json names first. */
export function layoutTop(dir: string): { digest: string; bytes: Buffer } {
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
  const digest = index.manifests[0]?.digest;
  if (!digest) throw new Error(`${dir}/index.json names no image`);
  return { digest, bytes: readFileSync(join(dir, "blobs", ...digest.split(":"))) };
}
