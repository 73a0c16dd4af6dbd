import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { BuildEnvironment } from "../../src/build/environment.js";
import { checkResumedEnvironment, loadResumeState, RESUME_FILE, saveResumeState } from "../../src/build/resume.js";
import { UndistroError } from "../../src/util/index.js";
import { tempDir } from "../helpers.js";

const pkg = (name: string, version: string, checksum: string) =>
  ({ name, version, checksum, arch: "x86_64", size: 1, installedSize: 1, repository: "r", path: "p" }) as unknown as BuildEnvironment["packages"][number];

const refused = (pattern: RegExp) => (e: unknown) => e instanceof UndistroError && e.code === "BUILD_RESUME_REFUSED" && pattern.test(e.message);

describe("resuming a kept build", () => {
  it("refuses a directory that is not a failed build's, another recipe's or another architecture's", (t) => {
    const dir = tempDir(t);
    assert.throws(() => loadResumeState(dir, "gcc.yaml", "gcc", "x86_64"), refused(/no resume\.json here/));
    writeFileSync(join(dir, RESUME_FILE), "{ half");
    assert.throws(() => loadResumeState(dir, "gcc.yaml", "gcc", "x86_64"), refused(/resume\.json is not JSON/));
    writeFileSync(join(dir, RESUME_FILE), JSON.stringify({ recipe: "gcc.yaml" }));
    assert.throws(() => loadResumeState(dir, "gcc.yaml", "gcc", "x86_64"), refused(/lacks package, arch, environment, failedAt/));
    // Wrong types are refused by name, not met later as a crash.
    const base = { recipe: "gcc.yaml", package: "gcc", arch: "x86_64", failedStep: "s", failedAt: 0, environment: [], stepDigests: [], steps: [], sources: [] };
    const wrong: Array<[Record<string, unknown>, RegExp]> = [
      [{ environment: "busybox" }, /environment is not a list/],
      [{ failedAt: -1 }, /failedAt is not a step number/],
      [{ sources: [1] }, /steps and sources hold objects/],
      [{ stepDigests: [{}] }, /environment and stepDigests hold strings/],
      [{ package: 7 }, /package is not a string/],
    ];
    for (const [bad, pattern] of wrong) {
      writeFileSync(join(dir, RESUME_FILE), JSON.stringify({ ...base, ...bad }));
      assert.throws(() => loadResumeState(dir, "gcc.yaml", "gcc", "x86_64"), refused(pattern));
    }
    writeFileSync(join(dir, RESUME_FILE), "[]");
    assert.throws(() => loadResumeState(dir, "gcc.yaml", "gcc", "x86_64"), refused(/is not an object/));
    saveResumeState({
      dir,
      recipe: join(process.cwd(), "gcc.yaml"),
      package: "gcc",
      arch: "x86_64",
      environment: [],
      failedAt: 0,
      failedStep: "gcc: pipeline[0] (x)",
      steps: [],
      sources: [],
    });
    assert.throws(() => loadResumeState(dir, "gcc.yaml", "gcc", "aarch64"), refused(/a build for x86_64, not for aarch64/));
    assert.throws(() => loadResumeState(dir, "perl.yaml", "perl", "x86_64"), refused(/a build of gcc \(.*gcc\.yaml\), not of perl\.yaml/));
    assert.equal(loadResumeState(dir, "gcc.yaml", "gcc", "x86_64").failedStep, "gcc: pipeline[0] (x)");
  });

  it("refuses a root that resolves to other packages than the failed build's, naming them", (t) => {
    const dir = tempDir(t);
    const environment: BuildEnvironment = {
      packages: [pkg("busybox", "1.37.0-r1", "Q1a="), pkg("gcc", "14.2.0-r0", "Q1g=")],
      hostProvided: [],
      hermetic: true,
    };
    saveResumeState({
      dir,
      recipe: join(dir, "x.yaml"),
      package: "x",
      arch: "x86_64",
      environment: ["busybox-1.37.0-r1:Q1a=", "gcc-14.2.0-r0:Q1g="],
      failedAt: 3,
      failedStep: "x: pipeline[3] (build)",
      steps: [],
      sources: [],
    });
    const state = loadResumeState(dir, join(dir, "x.yaml"), "x", "x86_64");
    checkResumedEnvironment(state, environment);
    const rebuilt: BuildEnvironment = { ...environment, packages: [pkg("busybox", "1.37.0-r1", "Q1b="), pkg("gcc", "14.2.0-r0", "Q1g=")] };
    assert.throws(
      () => checkResumedEnvironment(state, rebuilt),
      refused(
        /the build root changed since the failed build \(-busybox-1\.37\.0-r1:Q1a=, \+busybox-1\.37\.0-r1:Q1b=\): the steps before x: pipeline\[3\] \(build\) ran in another one/,
      ),
    );
  });
});
