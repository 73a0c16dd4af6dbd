/**
 * Carries out a rebuild plan: raises epochs where a dependent must rebuild, builds exactly the
 * planned recipes in graph order (the rest stay as they are), refreshes the signed index, rebuilds
 * the affected images against the refreshed repository, signs and attests them (cosign format:
 * signature, SLSA provenance, SPDX per platform), and copies them to a registry when asked.
 */
import type { KeyObject } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import type { ApkSigningKey } from "../apk/index.js";
import { type BuildEvent, type BuildReport, buildGraph } from "../build/index.js";
import { buildImage, OCI_ARCH } from "../image/index.js";
import { copyImage, endpoint, platformName } from "../oci/index.js";
import { attestImage, imageDigest, PREDICATE_TYPES, signImage } from "../sign/index.js";
import { bumpEpoch } from "../update/index.js";
import { sortedJson } from "../util/index.js";
import { planRebuild, type RebuildInputs, type RebuildPlan } from "./plan.js";

export interface RebuildOptions extends RebuildInputs {
  /** Where image layouts go: <imagesOut>/<name>. */
  imagesOut: string;
  signingKey: ApkSigningKey;
  /** Cosign key: signs and attests the rebuilt images (and package provenance). */
  cosignKey?: KeyObject;
  /** Registry prefix HOST[:PORT]/NAMESPACE: images are copied to <prefix>/<name>:latest with their signatures. */
  push?: string;
  insecure?: boolean;
  registryCredentials?: { username: string; password: string };
  jobs?: number;
  sourceMirrors?: string[];
  cacheDir?: string;
  logDir?: string;
  sourceDateEpoch?: number;
  distro?: string;
  /** Build every step in a root made only of the recipe's environment packages (`build --hermetic`). */
  hermetic?: boolean;
  /** Repositories for environment packages after the repository itself (a bootstrap stage's, say). */
  repositoryAppend?: string[];
  onEvent?: (e: BuildEvent | { type: "rebuild"; message: string }) => void;
}

export interface RebuiltImage {
  name: string;
  layout: string;
  digest: string;
  /** The digest the layout held before (tag latest), when it held one. */
  from?: string;
  signed: boolean;
  attestations: string[];
  pushed?: string;
}

export interface RebuildResult {
  plan: RebuildPlan;
  epochBumps: Array<{ package: string; recipe: string; to: string }>;
  built: Array<{ package: string; files: string[] }>;
  skipped: string[];
  images: RebuiltImage[];
}

export async function runRebuild(opts: RebuildOptions): Promise<RebuildResult> {
  const plan = planRebuild(opts);
  const say = (message: string) => opts.onEvent?.({ type: "rebuild", message });
  const epochBumps: RebuildResult["epochBumps"] = [];
  for (const r of [...plan.changed, ...plan.dependents]) {
    if (!r.epochBump) continue;
    const b = bumpEpoch(r.recipe);
    epochBumps.push({ package: r.package, recipe: r.recipe, to: `${b.to.version}-r${b.to.epoch}` });
    say(`${r.package}: epoch raised to ${b.to.version}-r${b.to.epoch}`);
  }
  let built: BuildReport[] = [];
  let skipped: string[] = [];
  if (plan.order.length) {
    const graph = await buildGraph(opts.packagesDir, {
      outDir: opts.repository,
      arch: plan.arch,
      signingKey: opts.signingKey,
      only: new Set(plan.order),
      ...(opts.distro ? { distro: opts.distro } : {}),
      ...(opts.jobs ? { jobs: opts.jobs } : {}),
      ...(opts.sourceMirrors ? { sourceMirrors: opts.sourceMirrors } : {}),
      ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
      ...(opts.logDir ? { logDir: opts.logDir } : {}),
      ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
      ...(opts.cosignKey ? { attestKey: opts.cosignKey } : {}),
      ...(opts.hermetic ? { hermetic: true } : {}),
      ...(opts.repositoryAppend?.length ? { repositoryAppend: opts.repositoryAppend } : {}),
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
    built = graph.built;
    skipped = graph.skipped;
  }
  const images: RebuiltImage[] = [];
  for (const img of plan.images) {
    const layout = join(opts.imagesOut, img.name);
    const fresh = `${layout}.new`;
    rmSync(fresh, { recursive: true, force: true });
    say(`image ${img.name}: building (contains ${img.because.join(", ")})`);
    const report = await buildImage(img.config, {
      outDir: fresh,
      archs: [plan.arch],
      repositories: [resolve(opts.repository)],
      keyring: opts.keyring.map((k) => resolve(k)),
      ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
    });
    const from = existsSync(join(layout, "index.json")) ? await imageDigest(endpoint(`oci:${layout}`)).catch(() => undefined) : undefined;
    // Replace the old layout whole: its signatures name the old digest.
    rmSync(layout, { recursive: true, force: true });
    renameSync(fresh, layout);
    const result: RebuiltImage = { name: img.name, layout, digest: report.index.digest, ...(from ? { from } : {}), signed: false, attestations: [] };
    if (opts.cosignKey) {
      const ep = endpoint(`oci:${layout}`);
      await signImage(ep, opts.cosignKey, { reference: img.name });
      result.signed = true;
      const provenance = JSON.parse(readFileSync(join(layout, "provenance.json"), "utf8"));
      await attestImage(ep, opts.cosignKey, PREDICATE_TYPES.slsaprovenance1 as string, provenance);
      result.attestations.push("slsaprovenance1");
      for (const a of report.archs) {
        // The report names files under the build directory, which now lives at `layout`.
        const spdx = join(layout, relative(fresh, a.sboms.spdx));
        if (!existsSync(spdx)) continue;
        const oci = OCI_ARCH[a.arch];
        const platform = oci ? platformName({ os: "linux", ...oci }) : undefined;
        await attestImage(ep, opts.cosignKey, PREDICATE_TYPES.spdxjson as string, JSON.parse(readFileSync(spdx, "utf8")), platform ? { platform } : {});
        result.attestations.push(`spdxjson (${a.arch})`);
      }
    }
    if (opts.push) {
      const target = `${opts.push.replace(/\/$/, "")}/${img.name}:latest`;
      await copyImage(endpoint(`oci:${layout}`), endpoint(target, { insecure: opts.insecure ?? false, ...(opts.registryCredentials ?? {}) }), {
        referrers: true,
      });
      result.pushed = target;
      say(`image ${img.name}: pushed to ${target}`);
    }
    images.push(result);
  }
  const result: RebuildResult = {
    plan,
    epochBumps,
    built: built.map((b) => ({ package: b.packages[0]?.name ?? b.recipe, files: b.packages.map((p) => p.file) })),
    skipped,
    images,
  };
  appendHistory(opts.repository, result, new Date());
  return result;
}

/** Where the daily job keeps what each run did (one JSON object a line, oldest first). */
export const REBUILD_HISTORY_FILE = "rebuild-history.jsonl";

/** One run of the daily job as the history keeps it: what changed, what was built, what images it made. */
export interface RebuildHistoryEntry {
  /** When the run ended (wall time: the history is a log, not a build output). */
  at: string;
  arch: string;
  changed: Array<{ package: string; from?: string; to: string; reason: string }>;
  dependents: Array<{ package: string; from: string; to: string; because: string[] }>;
  built: Array<{ package: string; files: string[] }>;
  images: Array<{ name: string; from?: string; digest: string; signed: boolean; pushed?: string }>;
}

export function historyEntry(r: RebuildResult, at: Date): RebuildHistoryEntry {
  return {
    at: at.toISOString(),
    arch: r.plan.arch,
    changed: r.plan.changed.map((c) => ({ package: c.package, ...(c.from ? { from: c.from } : {}), to: c.to, reason: c.reason })),
    dependents: r.plan.dependents.map((d) => ({ package: d.package, from: d.from, to: d.to, because: d.because })),
    built: r.built.map((b) => ({ package: b.package, files: b.files.map((f) => basename(f)) })),
    images: r.images.map((i) => ({
      name: i.name,
      ...(i.from ? { from: i.from } : {}),
      digest: i.digest,
      signed: i.signed,
      ...(i.pushed ? { pushed: i.pushed } : {}),
    })),
  };
}

function appendHistory(repository: string, r: RebuildResult, at: Date): void {
  appendFileSync(join(repository, REBUILD_HISTORY_FILE), `${sortedJson(historyEntry(r, at), 0)}\n`);
}
