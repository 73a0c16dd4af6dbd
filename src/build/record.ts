/**
 * The build record every package carries in its control section, so that anyone holding the .apk
 * can rebuild it (`undistro rebuild-check`):
 * - `.melange.yaml`: the recipe, byte for byte as it was built (melange embeds its configuration
 *   under the same name; `tar -xOf x.apk .melange.yaml` works on both);
 * - `.undistro-build.json`: everything else the build depended on: the builder and its settings,
 *   the source digests, the environment lock (every package with its version), the host's
 *   toolchain when the host's compiler built it, and the expanded steps exactly as they ran.
 *
 * The record names environment packages by name and version, not by checksum: a package's bytes
 * then depend on what built it, not on the bytes of the packages that did, so the bootstrap's
 * stage 3 can equal stage 2. Checksums and repositories are in the provenance beside the package.
 */
import { createHash } from "node:crypto";
import { sortedJson, UndistroError } from "../util/index.js";

export const RECIPE_RECORD_FILE = ".melange.yaml";
export const BUILD_RECORD_FILE = ".undistro-build.json";
export const BUILD_RECORD_TYPE = "https://undistro.dev/build-record/v1";
/** A record is a few KB (a large recipe's scripts); anything past this is not one of ours. */
const MAX_RECORD_BYTES = 4 << 20;

export interface RecordedPackage {
  name: string;
  version: string;
  arch: string;
}

export interface RecordedStep {
  /** The package (main or subpackage) whose pipeline ran the step. */
  package: string;
  where: string;
  name: string;
  kind: string;
  /** run steps: the script after substitution and pipeline expansion. */
  script?: string;
  /** run steps: the variables the pipeline set for it. */
  env?: Record<string, string>;
  /** fetch and git-checkout: their inputs after substitution. */
  with?: Record<string, string>;
}

export interface BuildRecord {
  _type: typeof BUILD_RECORD_TYPE;
  builder: { name: string; version: string };
  /** The recipe: its path as given to the build and the sha256 of .melange.yaml (its bytes). */
  recipe: { path: string; sha256: string };
  /**
   * Files beside the recipe that the build may read (patches): everything under the directory
   * named after the package next to the recipe, melange's source-directory convention. Paths are
   * relative to the recipe's directory.
   */
  files?: { path: string; sha256: string }[];
  settings: {
    /** The architecture built for. */
    arch: string;
    /** The machine that ran the steps (a cross build's host). */
    buildArch: string;
    sourceDateEpoch: number;
    distro: string;
    hermetic: boolean;
  };
  sources: { uri: string; sha256: string; sha512?: string }[];
  environment: {
    /** Every package installed into the build root or sysroot, dependencies included. */
    packages: RecordedPackage[];
    /** Environment atoms no repository had, which the host's toolchain stood in for (stage 0/1). */
    hostProvided: string[];
    /** A hermetic cross build: the target's packages installed at /sysroot, dependencies included. */
    sysroot?: { arch: string; packages: RecordedPackage[] };
  };
  /** Stage 0/1: the host's toolchain (Debian packages) the steps ran with; absent when hermetic. */
  host?: RecordedPackage[];
  steps: RecordedStep[];
}

export function formatBuildRecord(record: BuildRecord): string {
  return `${sortedJson(record)}\n`;
}

export function recipeDigest(recipeBytes: Uint8Array | string): string {
  return createHash("sha256").update(recipeBytes).digest("hex");
}

function bad(source: string, field: string, why: string): UndistroError {
  return new UndistroError("REPRO_BAD_RECORD", `${source}: ${BUILD_RECORD_FILE}: ${field} ${why}`, {
    hint: "the package's build record is damaged or was not written by undistro; rebuild the package to get a new one",
  });
}

type Obj = Record<string, unknown>;

function object(v: unknown, source: string, field: string): Obj {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(source, field, "is not an object");
  return v as Obj;
}

function text(v: unknown, source: string, field: string, max = 1 << 20): string {
  if (typeof v !== "string" || v.length > max) throw bad(source, field, "is not a string");
  return v;
}

function list(v: unknown, source: string, field: string, max = 100_000): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw bad(source, field, "is not a list");
  return v;
}

function packages(v: unknown, source: string, field: string): RecordedPackage[] {
  return list(v, source, field).map((p, i) => {
    const o = object(p, source, `${field}[${i}]`);
    return {
      name: text(o.name, source, `${field}[${i}].name`, 512),
      version: text(o.version, source, `${field}[${i}].version`, 512),
      arch: text(o.arch, source, `${field}[${i}].arch`, 64),
    };
  });
}

function stringMap(v: unknown, source: string, field: string): Record<string, string> {
  const o = object(v, source, field);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) out[k] = text(val, source, `${field}.${k}`);
  return out;
}

function recordedSysroot(v: unknown, source: string): { arch: string; packages: RecordedPackage[] } {
  const o = object(v, source, "environment.sysroot");
  return { arch: text(o.arch, source, "environment.sysroot.arch", 64), packages: packages(o.packages, source, "environment.sysroot.packages") };
}

/** Reads a package's build record, checking every field: the bytes come from whoever made the .apk. */
export function parseBuildRecord(bytes: Uint8Array, source: string): BuildRecord {
  if (bytes.length > MAX_RECORD_BYTES) throw bad(source, "(file)", `is ${bytes.length} bytes, more than ${MAX_RECORD_BYTES}`);
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw bad(source, "(file)", `is not JSON (${(err as Error).message})`);
  }
  const o = object(data, source, "(document)");
  if (o._type !== BUILD_RECORD_TYPE) throw bad(source, "_type", `is ${JSON.stringify(o._type)}, not ${BUILD_RECORD_TYPE}`);
  const builder = object(o.builder, source, "builder");
  const recipe = object(o.recipe, source, "recipe");
  const settings = object(o.settings, source, "settings");
  const environment = object(o.environment, source, "environment");
  const sha = text(recipe.sha256, source, "recipe.sha256", 64);
  if (!/^[0-9a-f]{64}$/.test(sha)) throw bad(source, "recipe.sha256", "is not a sha256");
  const epoch = settings.sourceDateEpoch;
  if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) throw bad(source, "settings.sourceDateEpoch", "is not a non-negative integer");
  if (typeof settings.hermetic !== "boolean") throw bad(source, "settings.hermetic", "is not true or false");
  const record: BuildRecord = {
    _type: BUILD_RECORD_TYPE,
    builder: { name: text(builder.name, source, "builder.name", 64), version: text(builder.version, source, "builder.version", 64) },
    recipe: { path: text(recipe.path, source, "recipe.path", 4096), sha256: sha },
    ...(o.files === undefined
      ? {}
      : {
          files: list(o.files, source, "files").map((f, i) => {
            const fo = object(f, source, `files[${i}]`);
            const path = text(fo.path, source, `files[${i}].path`, 4096);
            // A recorded path is joined to a recipe directory by rebuild-check: never outside it.
            if (path.startsWith("/") || path.split("/").includes("..")) throw bad(source, `files[${i}].path`, "leaves the recipe's directory");
            const digest = text(fo.sha256, source, `files[${i}].sha256`, 64);
            if (!/^[0-9a-f]{64}$/.test(digest)) throw bad(source, `files[${i}].sha256`, "is not a sha256");
            return { path, sha256: digest };
          }),
        }),
    settings: {
      arch: text(settings.arch, source, "settings.arch", 64),
      buildArch: text(settings.buildArch, source, "settings.buildArch", 64),
      sourceDateEpoch: epoch,
      distro: text(settings.distro, source, "settings.distro", 256),
      hermetic: settings.hermetic,
    },
    sources: list(o.sources, source, "sources").map((s, i) => {
      const so = object(s, source, `sources[${i}]`);
      const sha256 = text(so.sha256, source, `sources[${i}].sha256`, 64);
      if (!/^[0-9a-f]{64}$/.test(sha256)) throw bad(source, `sources[${i}].sha256`, "is not a sha256");
      return {
        uri: text(so.uri, source, `sources[${i}].uri`, 8192),
        sha256,
        ...(so.sha512 === undefined ? {} : { sha512: text(so.sha512, source, `sources[${i}].sha512`, 128) }),
      };
    }),
    environment: {
      packages: packages(environment.packages, source, "environment.packages"),
      hostProvided: list(environment.hostProvided, source, "environment.hostProvided").map((a, i) => text(a, source, `environment.hostProvided[${i}]`, 512)),
      ...(environment.sysroot === undefined ? {} : { sysroot: recordedSysroot(environment.sysroot, source) }),
    },
    steps: list(o.steps, source, "steps").map((s, i) => {
      const so = object(s, source, `steps[${i}]`);
      return {
        package: text(so.package, source, `steps[${i}].package`, 512),
        where: text(so.where, source, `steps[${i}].where`, 512),
        name: text(so.name, source, `steps[${i}].name`, 4096),
        kind: text(so.kind, source, `steps[${i}].kind`, 64),
        ...(so.script === undefined ? {} : { script: text(so.script, source, `steps[${i}].script`) }),
        ...(so.env === undefined ? {} : { env: stringMap(so.env, source, `steps[${i}].env`) }),
        ...(so.with === undefined ? {} : { with: stringMap(so.with, source, `steps[${i}].with`) }),
      };
    }),
  };
  if (o.host !== undefined) record.host = packages(o.host, source, "host");
  return record;
}

/** The environment lock as recipe atoms: `name=version` for every recorded package, then the host's stand-ins. */
export function lockedEnvironment(record: BuildRecord): string[] {
  return [...record.environment.packages.map((p) => `${p.name}=${p.version}`), ...record.environment.hostProvided];
}

/** A hermetic cross build's /sysroot lock: `name=version` for every recorded target package (none for other builds). */
export function lockedSysroot(record: BuildRecord): string[] {
  return (record.environment.sysroot?.packages ?? []).map((p) => `${p.name}=${p.version}`);
}
