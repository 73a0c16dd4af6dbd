/**
 * rebuild-check for an image layout: the image's provenance (DIR/provenance.json, written by
 * `undistro image build`) records the config's digest, the settings and the lock; the image is
 * rebuilt from the config (which must be the recorded bytes) and the locked packages, and its
 * index digest compared with the layout's.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildImage, formatImageLock, IMAGE_BUILD_TYPE, IMAGE_TOOL_VERSION, type ImageLock } from "../image/index.js";
import { OciLayout } from "../oci/index.js";
import { UndistroError } from "../util/index.js";
import { diffoscopeAvailable } from "./compare.js";
import { type AppliedVariation, planVariations, type VariationName } from "./variations.js";

/** An image build runs no steps: the variations inside a build sandbox do not apply to it. */
const IMAGE_VARIATIONS: readonly VariationName[] = ["build-path", "umask", "timezone", "locale"];

export interface ImageVerdict {
  layout: string;
  tag: string;
  status: "reproduced" | "differs" | "rebuild-failed";
  /** The image index digest the layout holds, and the rebuild's. */
  expected: string;
  obtained?: string;
  reason?: string;
  differences?: { path: string; what: string }[];
  report?: { text: string; html?: string };
  inputs: Record<string, unknown>;
  notes: string[];
}

export interface ImageRecord {
  configPath: string;
  configSha256: string;
  archs: string[];
  epoch: number;
  distro: string;
  tag: string;
  compressionLevel: number;
  repositories: string[];
  lock: ImageLock;
}

function bad(where: string, field: string, why: string): UndistroError {
  return new UndistroError("REPRO_BAD_RECORD", `${where}: ${field} ${why}`, {
    hint: "rebuild-check reads the provenance `undistro image build` writes beside the layout; rebuild the image with this undistro to get one",
  });
}

/** Reads what a layout's provenance.json records. */
export function readImageRecord(dir: string): ImageRecord {
  const file = join(dir, "provenance.json");
  if (!existsSync(file)) throw bad(file, "(file)", "is missing: not a layout written by `undistro image build`");
  let p: unknown;
  try {
    p = JSON.parse(readFileSync(file, "utf8").slice(0, 64 << 20));
  } catch (err) {
    throw bad(file, "(file)", `is not JSON (${(err as Error).message})`);
  }
  return imageRecord(p, file);
}

/** What an image's SLSA provenance predicate records for a rebuild, checking each field it uses. */
export function imageRecord(predicate: unknown, where: string): ImageRecord {
  const dir = where;
  // biome-ignore lint/suspicious/noExplicitAny: provenance is JSON, inspected field by field
  const def = (predicate as any)?.buildDefinition;
  if (def?.buildType !== IMAGE_BUILD_TYPE) throw bad(dir, "buildDefinition.buildType", `is not ${IMAGE_BUILD_TYPE}`);
  const ext = def.externalParameters ?? {};
  const int = def.internalParameters ?? {};
  const str = (v: unknown, field: string) => {
    if (typeof v !== "string") throw bad(dir, field, "is not a string");
    return v;
  };
  if (!int.lock || typeof int.lock !== "object" || int.lock.lockVersion !== 1)
    throw bad(dir, "internalParameters.lock", "is missing: built by an undistro that did not record its lock");
  if (!Number.isSafeInteger(int.sourceDateEpoch)) throw bad(dir, "internalParameters.sourceDateEpoch", "is not an integer");
  if (!Array.isArray(ext.archs) || !ext.archs.every((a: unknown) => typeof a === "string"))
    throw bad(dir, "externalParameters.archs", "is not a list of names");
  if (!Array.isArray(int.repositories) || !int.repositories.every((a: unknown) => typeof a === "string"))
    throw bad(dir, "internalParameters.repositories", "is not a list");
  return {
    configPath: str(ext.config?.path, "externalParameters.config.path"),
    configSha256: str(ext.config?.digest?.sha256, "externalParameters.config.digest.sha256"),
    archs: ext.archs,
    epoch: int.sourceDateEpoch,
    distro: str(int.distro, "internalParameters.distro"),
    tag: str(int.tag, "internalParameters.tag"),
    compressionLevel: Number.isSafeInteger(int.compressionLevel) ? int.compressionLevel : 6,
    repositories: int.repositories,
    lock: int.lock as ImageLock,
  };
}

function taggedDigest(layout: OciLayout, tag: string, dir: string): string {
  const m = layout.readIndex().manifests.find((d) => d.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!m) throw new UndistroError("REPRO_BAD_RECORD", `${dir}: index.json has no image tagged ${tag}, the tag its provenance records`);
  return m.digest;
}

/** Blobs one layout holds and the other does not: which manifests, configs and layers changed. */
function blobDifferences(a: string, b: string): { path: string; what: string }[] {
  const listing = (dir: string) => {
    const r = spawnSync("find", [join(dir, "blobs"), "-type", "f", "-printf", "%P\\n"], { encoding: "utf8" });
    return new Set(r.stdout.split("\n").filter(Boolean));
  };
  const [x, y] = [listing(a), listing(b)];
  const out: { path: string; what: string }[] = [];
  for (const f of [...x].sort()) if (!y.has(f)) out.push({ path: `blobs/${f}`, what: "missing from the rebuild" });
  for (const f of [...y].sort()) if (!x.has(f)) out.push({ path: `blobs/${f}`, what: "only in the rebuild" });
  return out;
}

export interface ImageCheckOptions {
  keyFiles: string[];
  config?: string;
  variations: VariationName[];
  reportDir?: string;
  onProgress?: (m: string) => void;
}

/** rebuild-check of an image layout written by `undistro image build` (its provenance.json beside it). */
export function rebuildCheckImage(dir: string, opts: ImageCheckOptions): Promise<{ image: ImageVerdict; variations: AppliedVariation[] }> {
  const record = readImageRecord(dir);
  return rebuildImageFrom(record, taggedDigest(new OciLayout(dir), record.tag, dir), dir, opts);
}

/**
 * Rebuilds an image from its record and compares index digests. `where` names the image in
 * messages; when it is a layout directory, a difference is reported against its blobs.
 */
export async function rebuildImageFrom(
  record: ImageRecord,
  expected: string,
  where: string,
  opts: ImageCheckOptions,
): Promise<{ image: ImageVerdict; variations: AppliedVariation[] }> {
  const dir = where;
  const wanted = opts.variations.filter((v) => IMAGE_VARIATIONS.includes(v));
  const varied = planVariations(wanted, true);
  const skipped: AppliedVariation[] = opts.variations
    .filter((v) => !IMAGE_VARIATIONS.includes(v))
    .map((name) => ({ name, value: "-", applied: false, reason: "an image build runs no build steps: nothing to vary" }));
  const verdict: ImageVerdict = {
    layout: dir,
    tag: record.tag,
    status: "reproduced",
    expected,
    inputs: {
      config: { path: record.configPath, sha256: record.configSha256 },
      lock: record.lock,
      settings: { archs: record.archs, sourceDateEpoch: record.epoch, distro: record.distro },
    },
    notes: [],
  };
  const config = resolve(opts.config ?? record.configPath);
  if (!existsSync(config)) {
    throw new UndistroError("REPRO_NO_CONFIG", `${dir}: the image's config ${record.configPath} is not at ${config}`, {
      hint: "run from the checkout that built the image, or give --config FILE (it must have the recorded sha256)",
    });
  }
  const sha = createHash("sha256").update(readFileSync(config)).digest("hex");
  if (sha !== record.configSha256) {
    throw new UndistroError("REPRO_CONFIG_CHANGED", `${config}: sha256 ${sha}, but the image was built from ${record.configSha256}`, {
      hint: "check out the config as it was when the image was built",
    });
  }
  const scratch = mkdtempSync(join(tmpdir(), "undistro-rebuild-image-"));
  try {
    const lockFile = join(scratch, "lock.json");
    writeFileSync(lockFile, formatImageLock(record.lock));
    const out = join(scratch, "layout");
    opts.onProgress?.(`rebuilding the image in ${dir} from ${record.configPath} and its lock`);
    let obtained: string;
    try {
      const report = await varied.around(() =>
        buildImage(config, {
          outDir: out,
          lockFile,
          archs: record.archs,
          sourceDateEpoch: record.epoch,
          distro: record.distro,
          tag: record.tag,
          compressionLevel: record.compressionLevel,
          repositories: record.repositories,
          ...(opts.keyFiles.length ? { keyring: opts.keyFiles } : {}),
        }),
      );
      obtained = report.index.digest;
    } catch (err) {
      if (!(err instanceof UndistroError)) throw err;
      return {
        image: { ...verdict, status: "rebuild-failed", reason: `the rebuild failed: [${err.code}] ${err.message}` },
        variations: [...varied.applied, ...skipped],
      };
    }
    verdict.obtained = obtained;
    if (obtained !== expected) {
      verdict.status = "differs";
      if (existsSync(join(dir, "oci-layout"))) verdict.differences = blobDifferences(dir, out);
      verdict.reason = `the rebuilt image is ${obtained}, the layout's ${expected}`;
      if (diffoscopeAvailable()) {
        const stem = join(opts.reportDir ?? mkdtempSync(join(tmpdir(), "undistro-rebuild-reports-")), "image");
        if (existsSync(join(dir, "oci-layout")))
          spawnSync("diffoscope", ["--text", `${stem}.diffoscope.txt`, "--html", `${stem}.diffoscope.html`, dir, out], {
            stdio: "ignore",
            timeout: 30 * 60_000,
          });
        if (existsSync(`${stem}.diffoscope.txt`)) verdict.report = { text: `${stem}.diffoscope.txt`, html: `${stem}.diffoscope.html` };
      }
    }
    verdict.notes.push(`rebuilt with undistro's image builder ${IMAGE_TOOL_VERSION}`);
    return { image: verdict, variations: [...varied.applied, ...skipped] };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Whether `target` names an OCI image layout (oci:DIR or a directory with an oci-layout file). */
export function layoutDirectory(target: string): string | undefined {
  const dir = target.startsWith("oci:") ? target.slice(4) : target;
  return existsSync(join(dir, "oci-layout")) ? dir : undefined;
}
