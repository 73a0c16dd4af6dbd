import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REFERENCE, REPO_ROOT, runAsync, tempDir } from "../helpers.js";

/** Where scripts/setup-peers.sh installs the pinned Go peers of scripts/peers.txt. */
export const PEER_BIN = join(REPO_ROOT, ".cache/go/bin");

/** The path of a pinned peer; a missing one fails the test (never a skip: CI installs them all). */
export function peer(name: string): string {
  const path = join(PEER_BIN, name);
  if (!existsSync(path)) throw new Error(`${name} is not installed: run \`bash scripts/setup-peers.sh ${name}\` (pinned in scripts/peers.txt)`);
  return path;
}

/** Runs a peer without blocking the event loop (see runAsync). */
export const runPeer = runAsync;

/** A temporary directory for a whole test file (made in a `before` hook), removed when the process exits. */
export function scratchDir(): string {
  const dir = tempDir();
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Builds (once per test file) undistro's two-architecture image of apko's test configuration as an OCI
 * layout: small, offline, and made by undistro's own image builder. */
let layout: Promise<string> | undefined;
export function undistroLayout(): Promise<string> {
  layout ??= (async () => {
    const { buildImage } = await import("../../src/image/index.js");
    const out = join(scratchDir(), "layout");
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
