/**
 * Resuming a failed build from its kept workspace (`undistro build --resume DIR`): a fix late in
 * a long build (GCC's target libraries, after half an hour of compiler) runs again from the step
 * that failed instead of from the start. The failed build writes what a resume must match into
 * its kept directory; the resumed build skips the steps before the failed one only when each is
 * the same step as then, in the same root (the same resolved environment), and says so.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { sortedJson, UndistroError, writeFileAtomic } from "../util/index.js";
import { type BuildEnvironment, environmentEntry, sysrootEntry } from "./environment.js";
import type { RecordedStep } from "./record.js";
import type { FetchedSource } from "./sources.js";

export const RESUME_FILE = "resume.json";

/** What a failed build leaves beside its kept workspace for `--resume`. */
export interface ResumeState {
  /** The kept directory (ws/, root/, this file). */
  dir: string;
  recipe: string;
  package: string;
  arch: string;
  /** The resolved environment, root and sysroot: `name-version:checksum`. */
  environment: string[];
  /** The step that failed, counted over every package's pipeline from 0; the resume starts there. */
  failedAt: number;
  failedStep: string;
  /** sha256 of each step before it, as recorded (script after substitution, variables). */
  stepDigests: string[];
  /** The steps before it as recorded, for the build record. */
  steps: RecordedStep[];
  /** Sources its fetch steps brought (the skipped steps' part of the SBOM). */
  sources: FetchedSource[];
}

export function stepDigest(step: RecordedStep): string {
  return createHash("sha256").update(sortedJson(step)).digest("hex");
}

export function environmentAtoms(environment: BuildEnvironment): string[] {
  const target = environment.sysroot;
  return [...environment.packages.map(environmentEntry), ...(target ? target.packages.map((p) => sysrootEntry(target.arch, environmentEntry(p))) : [])];
}

/** Written when a build fails with its workspace kept and its environment installed. */
export function saveResumeState(state: Omit<ResumeState, "stepDigests">): void {
  const stepDigests = state.steps.slice(0, state.failedAt).map(stepDigest);
  writeFileAtomic(join(state.dir, RESUME_FILE), Buffer.from(`${sortedJson({ ...state, stepDigests })}\n`));
}

function refused(dir: string, message: string, hint = "build from the start (without --resume), and remove the kept directory"): UndistroError {
  return new UndistroError("BUILD_RESUME_REFUSED", `--resume ${dir}: ${message}`, { hint });
}

/**
 * A kept directory's resume.json, checked field by field: it is read back from disk, and a build
 * must not trust what it finds there more than any other file.
 */
export function parseResumeState(text: string, dir: string): ResumeState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw refused(dir, `${RESUME_FILE} is not JSON (${(err as Error).message})`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw refused(dir, `${RESUME_FILE} is not an object`);
  const o = raw as Record<string, unknown>;
  const strings = ["recipe", "package", "arch", "failedStep"] as const;
  const arrays = ["environment", "stepDigests", "steps", "sources"] as const;
  const absent = ["recipe", "package", "arch", "environment", "failedAt", "stepDigests", "steps", "sources", "failedStep"].filter((f) => o[f] === undefined);
  if (absent.length) throw refused(dir, `${RESUME_FILE} lacks ${absent.join(", ")}`);
  for (const f of strings) if (typeof o[f] !== "string") throw refused(dir, `${RESUME_FILE}: ${f} is not a string`);
  for (const f of arrays) if (!Array.isArray(o[f])) throw refused(dir, `${RESUME_FILE}: ${f} is not a list`);
  if (!Number.isSafeInteger(o.failedAt) || (o.failedAt as number) < 0) throw refused(dir, `${RESUME_FILE}: failedAt is not a step number`);
  const listOf = (f: (typeof arrays)[number], kind: "string" | "object") =>
    (o[f] as unknown[]).every((x) => (kind === "string" ? typeof x === "string" : Boolean(x) && typeof x === "object" && !Array.isArray(x)));
  if (!listOf("environment", "string") || !listOf("stepDigests", "string")) throw refused(dir, `${RESUME_FILE}: environment and stepDigests hold strings`);
  if (!listOf("steps", "object") || !listOf("sources", "object")) throw refused(dir, `${RESUME_FILE}: steps and sources hold objects`);
  return { ...(o as unknown as ResumeState), dir };
}

/** The kept build `dir` left for `recipe`, or a clear refusal. */
export function loadResumeState(dir: string, recipePath: string, packageName: string, arch: string): ResumeState {
  const file = join(dir, RESUME_FILE);
  if (!existsSync(file))
    throw refused(
      dir,
      `no ${RESUME_FILE} here: not a failed build's kept directory`,
      "give the directory the failed build's hint names (the parent of its ws/)",
    );
  const state = parseResumeState(readFileSync(file, "utf8"), dir);
  if (state.package !== packageName || resolve(state.recipe) !== resolve(recipePath))
    throw refused(dir, `it is a build of ${state.package} (${state.recipe}), not of ${recipePath}`);
  if (state.arch !== arch) throw refused(dir, `it is a build for ${state.arch}, not for ${arch}`);
  return state;
}

/** The installed environment must be the one the skipped steps ran in. */
export function checkResumedEnvironment(state: ResumeState, environment: BuildEnvironment): void {
  const now = environmentAtoms(environment);
  const gone = state.environment.filter((a) => !now.includes(a));
  const added = now.filter((a) => !state.environment.includes(a));
  if (gone.length || added.length)
    throw refused(
      state.dir,
      `the build root changed since the failed build (${[...gone.map((a) => `-${a}`), ...added.map((a) => `+${a}`)].slice(0, 6).join(", ")}): the steps before ${state.failedStep} ran in another one`,
    );
}

/** A step before the failed one is skipped only if it is the step that ran then. */
export function checkSkippedStep(state: ResumeState, ordinal: number, step: RecordedStep): void {
  if (state.stepDigests[ordinal] === stepDigest(step)) return;
  throw refused(
    state.dir,
    `step ${step.where} (${step.name}) of ${step.package} is not the one the failed build ran: only the failed step (${state.failedStep}) and those after it may change`,
  );
}

/** The kept environment directories go: the resumed build installs its root again (and checks it). */
export function clearEnvironment(dir: string): void {
  for (const d of ["root", "sysroot", "environment-keys"]) rmSync(join(dir, d), { recursive: true, force: true });
}
