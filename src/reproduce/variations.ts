/**
 * What a rebuild varies on purpose, as Debian's reprotest does, so that a match shows the package
 * does not depend on it. Some are varied around the builder (the caller's umask, time zone,
 * locale, the host path of the workspace), some inside every step (hostname, user and group ids,
 * time zone and locale the steps see, CPUs, the clock, directory order).
 *
 * Two are not varied, and a verdict says so rather than claiming them: the domain name (a sandbox
 * without capabilities cannot set it) and the path inside the sandbox (/home/build, melange's
 * convention recipes rely on; the host path behind it does vary).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { BuildOptions, SandboxVariation } from "../build/index.js";
import { UndistroError } from "../util/index.js";

export const VARIATION_NAMES = ["build-path", "umask", "timezone", "locale", "hostname", "user", "cpus", "time", "file-order"] as const;
export type VariationName = (typeof VARIATION_NAMES)[number];

export interface AppliedVariation {
  name: VariationName;
  /** What the rebuild ran with instead of the usual. */
  value: string;
  applied: boolean;
  /** Why a variation could not be applied here. */
  reason?: string;
}

/** The values the rebuild uses: far from the builder's defaults, so a dependency on them shows. */
const VARIED = {
  umask: 0o002,
  timezone: "Etc/GMT-14",
  locale: "fr_CH.UTF-8",
  hostname: "rebuilder.invalid",
  uid: 1000,
  gid: 1000,
  clockOffsetDays: 398,
} as const;

export function parseVariations(names: readonly string[], where: string): VariationName[] {
  for (const n of names) {
    if (!(VARIATION_NAMES as readonly string[]).includes(n)) {
      throw new UndistroError("USAGE", `${where}: no variation ${JSON.stringify(n)}`, { hint: `variations: ${VARIATION_NAMES.join(", ")}` });
    }
  }
  return names as VariationName[];
}

/** Whether disorderfs can mount here (FUSE present, the tool installed). */
function disorderfsWorks(): boolean {
  return spawnSync("disorderfs", ["--version"], { stdio: "ignore" }).status === 0 && spawnSync("sh", ["-c", "test -c /dev/fuse"]).status === 0;
}

export interface VariedBuild {
  /** Build options that carry the in-step variations. */
  options: Pick<BuildOptions, "variation" | "shuffleDirectories">;
  applied: AppliedVariation[];
  /** Runs `f` with the caller-side variations in place (umask, TZ, LANG, TMPDIR), restoring them after. */
  around<T>(f: () => Promise<T>): Promise<T>;
}

/**
 * The variations `names` as build options and a wrapper for the caller's side. `hermetic` says
 * whether the build root is undistro's own (libfaketime, a glibc library, cannot move its clock).
 */
export function planVariations(names: readonly VariationName[], hermetic: boolean): VariedBuild {
  const want = new Set(names);
  const variation: SandboxVariation = {};
  const applied: AppliedVariation[] = [];
  const on = (name: VariationName, value: string, ok = true, reason?: string) =>
    want.has(name) && applied.push({ name, value, applied: ok, ...(reason ? { reason } : {}) });
  if (want.has("hostname")) variation.hostname = VARIED.hostname;
  on("hostname", `${VARIED.hostname} (domain name not varied: setting it needs a capability the sandbox drops)`);
  if (want.has("user")) Object.assign(variation, { uid: VARIED.uid, gid: VARIED.gid });
  on("user", `uid ${VARIED.uid}, gid ${VARIED.gid} inside the sandbox`);
  if (want.has("timezone")) variation.timezone = VARIED.timezone;
  on("timezone", `TZ=${VARIED.timezone} for the builder and the steps`);
  if (want.has("locale")) variation.locale = VARIED.locale;
  on("locale", `LANG=${VARIED.locale} for the builder and the steps`);
  const cpus = availableParallelism();
  if (want.has("cpus") && cpus > 1) variation.cpus = 1;
  on("cpus", `1 CPU of ${cpus}`, cpus > 1, cpus > 1 ? undefined : "this machine has one CPU: nothing to vary");
  const clock = !hermetic && spawnSync("faketime", ["--version"], { stdio: "ignore" }).status === 0;
  if (want.has("time") && clock) variation.clockOffsetDays = VARIED.clockOffsetDays;
  on(
    "time",
    `the steps' clock ${VARIED.clockOffsetDays} days ahead (libfaketime)`,
    clock,
    clock ? undefined : hermetic ? "libfaketime is glibc's and cannot load in undistro's musl root" : "faketime is not installed (apt-get install faketime)",
  );
  const shuffle = want.has("file-order") && disorderfsWorks();
  on(
    "file-order",
    "directory listings shuffled (disorderfs)",
    shuffle,
    shuffle ? undefined : "disorderfs or /dev/fuse is missing (apt-get install disorderfs)",
  );
  on("umask", `umask ${VARIED.umask.toString(8).padStart(4, "0")} for the builder (steps keep 0022)`);
  on("build-path", "the workspace under another, deeper host directory (/home/build inside the sandbox)");
  return {
    options: { ...(Object.keys(variation).length ? { variation } : {}), ...(shuffle ? { shuffleDirectories: true } : {}) },
    applied,
    async around<T>(f: () => Promise<T>): Promise<T> {
      const saved = { TZ: process.env.TZ, LANG: process.env.LANG, TMPDIR: process.env.TMPDIR };
      const umask = want.has("umask") ? process.umask(VARIED.umask) : undefined;
      if (want.has("timezone")) process.env.TZ = VARIED.timezone;
      if (want.has("locale")) process.env.LANG = VARIED.locale;
      if (want.has("build-path")) {
        const deeper = join(mkdtempSync(join(tmpdir(), "undistro-rebuild-path-")), "a/rather/longer/build/path");
        mkdirSync(deeper, { recursive: true });
        process.env.TMPDIR = deeper;
      }
      try {
        return await f();
      } finally {
        if (umask !== undefined) process.umask(umask);
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    },
  };
}
