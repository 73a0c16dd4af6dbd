import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
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

/** Two recipes of the distro (no compiler needed), built with the host's tools: the environment's
 * package list is dropped so the test needs no busybox build first. */
export const OWN_RECIPES = ["undistro-baselayout", "ca-certificates-bundle"];

/** Builds OWN_RECIPES into a repository under `dir` and an x86_64 image of them (DIR/layout) with undistro's CLI. */
export async function ownPackagesImage(dir: string): Promise<string> {
  const undistro = (...args: string[]) => runAsync(join(REPO_ROOT, "bin/undistro"), args, { timeoutMs: 600_000 });
  const key = join(dir, "keys/undistro");
  const made = await undistro("keygen", "--apk", key);
  if (made.status !== 0) throw new Error(made.stderr);
  const repo = join(dir, "repo");
  for (const name of OWN_RECIPES) {
    const recipe = parse(readFileSync(join(REPO_ROOT, "distro/packages", `${name}.yaml`), "utf8"));
    delete recipe.environment;
    const copy = join(dir, `${name}.yaml`);
    writeFileSync(copy, stringify(recipe));
    // The files beside the recipe (ca-certificates-bundle's certdata2pem.awk), melange's layout.
    const files = join(REPO_ROOT, "distro/packages", name);
    if (existsSync(files)) cpSync(files, join(dir, name), { recursive: true });
    const b = await undistro("build", copy, "--out", repo, "--signing-key", `${key}.rsa`, "--pipeline-dir", join(REPO_ROOT, "pipelines"));
    if (b.status !== 0) throw new Error(b.stderr);
  }
  const config = join(dir, "image.yaml");
  writeFileSync(config, stringify({ contents: { keyring: [`${key}.rsa.pub`], repositories: [repo], packages: OWN_RECIPES }, archs: ["x86_64"] }));
  const layout = join(dir, "layout");
  const built = await undistro("image", "build", config, "--out", layout);
  if (built.status !== 0) throw new Error(built.stderr);
  return layout;
}

/**
 * One advisory per verdict for ca-certificates-bundle (a package of the image above), named by
 * `ids` (advisory ids) and `cves` (their aliases), in this order: fixed at a version the image is
 * past, not affected (code not in the execution path), under investigation, fixed only in a
 * version far ahead (so still affected).
 */
export function verdictAdvisories(ids: [string, string, string, string], cves: [string, string, string, string]): string {
  const events = [
    "type: fixed\n        data:\n          fixed-version: 20230311-r0",
    "type: false-positive-determination\n        data:\n          type: vulnerable-code-not-in-execution-path",
    "type: detection\n        data:\n          type: manual",
    "type: fixed\n        data:\n          fixed-version: 99990101-r0",
  ];
  const entries = ids.map(
    (id, i) => `  - id: ${id}\n    aliases: [${cves[i]}]\n    events:\n      - timestamp: 2026-11-2${i}T00:00:00Z\n        ${events[i]}\n`,
  );
  return `schema-version: 2.0.2\n\npackage:\n  name: ca-certificates-bundle\n\nadvisories:\n${entries.join("")}`;
}
