/**
 * Registry garbage collection: mark and sweep over the filesystem store, safe to run while the
 * server serves (from another process).
 *
 * Per repository the roots are tagged manifests, plus every manifest pushed less than `delay` ago
 * (a client pushing an index uploads its children untagged first). From the roots it marks
 * child manifests of indexes, config and layer blobs, and referrers whose subject is marked
 * (repeated until nothing changes). Unmarked manifests are removed from the repository: untagged
 * images and referrers whose subject is gone. Layer links no kept manifest uses, older than the
 * delay, go too. Blobs no repository links any more are deleted when their modification time is
 * older than the delay: the server touches a blob whenever it links it, so a push racing the sweep
 * keeps its blobs. Uploads and scratch files idle longer than `uploadMaxAge` are removed.
 */
import { rmSync } from "node:fs";
import type { RegistryStorage } from "./storage.js";

export interface GcOptions {
  /** Grace period for fresh manifests, links and blobs (ms). Default one hour. */
  delayMs?: number;
  /** Idle uploads older than this are removed (ms). Default 24 hours. */
  uploadMaxAgeMs?: number;
  /** Keep untagged manifests (only referrers of missing subjects are removed). */
  keepUntagged?: boolean;
  dryRun?: boolean;
  now?: number;
}

export interface GcReport {
  repositories: number;
  manifestsRemoved: string[];
  layerLinksRemoved: number;
  blobsRemoved: number;
  bytesFreed: number;
  blobsKept: number;
  scratchRemoved: number;
  dryRun: boolean;
}

interface ManifestDoc {
  manifests?: { digest: string }[];
  config?: { digest: string };
  layers?: { digest: string }[];
  blobs?: { digest: string }[];
  subject?: { digest: string };
}

function readDoc(storage: RegistryStorage, digest: string): ManifestDoc | undefined {
  try {
    return JSON.parse(storage.readBlob(digest).toString("utf8")) as ManifestDoc;
  } catch {
    return undefined;
  }
}

export function collectGarbage(storage: RegistryStorage, opts: GcOptions = {}): GcReport {
  const now = opts.now ?? Date.now();
  const cutoff = now - (opts.delayMs ?? 3_600_000);
  const dryRun = opts.dryRun === true;
  const report: GcReport = {
    repositories: 0,
    manifestsRemoved: [],
    layerLinksRemoved: 0,
    blobsRemoved: 0,
    bytesFreed: 0,
    blobsKept: 0,
    scratchRemoved: 0,
    dryRun,
  };
  const liveBlobs = new Set<string>();

  for (const repo of storage.repositories(true)) {
    report.repositories++;
    const manifests = storage.manifests(repo);
    const docs = new Map<string, ManifestDoc | undefined>(manifests.map((d) => [d, readDoc(storage, d)]));
    const marked = new Set<string>();
    const usedBlobs = new Set<string>();
    const mark = (digest: string) => {
      if (marked.has(digest) || !docs.has(digest)) return;
      marked.add(digest);
      const doc = docs.get(digest);
      for (const child of doc?.manifests ?? []) mark(child.digest);
      for (const b of [doc?.config, ...(doc?.layers ?? []), ...(doc?.blobs ?? [])]) if (b?.digest) usedBlobs.add(b.digest);
    };
    for (const tag of storage.tags(repo)) {
      const d = storage.resolveTag(repo, tag);
      if (d) mark(d);
    }
    for (const d of manifests) {
      const doc = docs.get(d);
      const fresh = storage.linkTime(repo, "_manifests/revisions", d) >= cutoff;
      if (fresh || (opts.keepUntagged && !doc?.subject)) mark(d);
    }
    // Referrers live as long as their subject does (and referrers of referrers, transitively).
    for (let changed = true; changed; ) {
      changed = false;
      for (const d of manifests) {
        const subject = docs.get(d)?.subject?.digest;
        if (!marked.has(d) && subject && marked.has(subject)) {
          mark(d);
          changed = true;
        }
      }
    }
    for (const d of manifests) {
      if (marked.has(d)) continue;
      report.manifestsRemoved.push(`${repo}@${d}`);
      if (!dryRun) storage.deleteManifest(repo, d);
    }
    for (const d of marked) liveBlobs.add(d);
    for (const b of usedBlobs) liveBlobs.add(b);
    for (const b of storage.layerLinks(repo)) {
      if (usedBlobs.has(b) || storage.linkTime(repo, "_layers", b) >= cutoff) {
        liveBlobs.add(b);
        continue;
      }
      report.layerLinksRemoved++;
      if (!dryRun) storage.unlinkBlob(repo, b);
    }
  }

  for (const b of storage.allBlobs()) {
    // The modification time is read last: a link made after the mark phase touched it.
    if (liveBlobs.has(b) || storage.blobTime(b) >= cutoff) {
      report.blobsKept++;
      continue;
    }
    report.blobsRemoved++;
    report.bytesFreed += storage.blobSize(b);
    if (!dryRun) storage.removeBlob(b);
  }

  for (const p of storage.staleScratch(now - (opts.uploadMaxAgeMs ?? 86_400_000))) {
    report.scratchRemoved++;
    if (!dryRun) rmSync(p, { recursive: true, force: true });
  }
  report.manifestsRemoved.sort();
  return report;
}
