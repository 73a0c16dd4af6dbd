import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BUILD_RECORD_TYPE, formatBuildRecord, lockedEnvironment, lockedSysroot, parseBuildRecord } from "../../src/build/index.js";
import { UndistroError } from "../../src/util/index.js";

const good = {
  _type: BUILD_RECORD_TYPE,
  builder: { name: "undistro", version: "0.1.0" },
  recipe: { path: "distro/packages/x.yaml", sha256: "a".repeat(64) },
  settings: { arch: "x86_64", buildArch: "x86_64", sourceDateEpoch: 0, distro: "undistro", hermetic: true },
  sources: [],
  environment: { packages: [{ name: "busybox", version: "1.35.0-r0", arch: "x86_64" }], hostProvided: [] },
  steps: [{ package: "x", where: "pipeline[0]", name: "make", kind: "run", script: "make" }],
};

function refused(data: unknown, field: RegExp): void {
  assert.throws(
    () => parseBuildRecord(Buffer.from(typeof data === "string" ? data : JSON.stringify(data)), "x.apk"),
    (e: unknown) =>
      e instanceof UndistroError && e.code === "REPRO_BAD_RECORD" && field.test(e.message) && e.message.startsWith("x.apk: .undistro-build.json: "),
  );
}

describe("build records", () => {
  it("round-trips a record", () => {
    const r = parseBuildRecord(Buffer.from(formatBuildRecord(good as Parameters<typeof formatBuildRecord>[0])), "x.apk");
    assert.deepEqual(r, good);
    const withFiles = { ...good, files: [{ path: "x/fix.patch", sha256: "b".repeat(64) }] };
    assert.deepEqual(parseBuildRecord(Buffer.from(formatBuildRecord(withFiles as Parameters<typeof formatBuildRecord>[0])), "x.apk"), withFiles);
  });

  it("keeps a cross build's /sysroot apart from its root, and locks each", () => {
    const cross = {
      ...good,
      settings: { ...good.settings, arch: "aarch64" },
      environment: {
        ...good.environment,
        sysroot: {
          arch: "aarch64",
          packages: [
            { name: "musl-dev", version: "1.2.5-r0", arch: "aarch64" },
            { name: "musl", version: "1.2.5-r0", arch: "aarch64" },
          ],
        },
      },
    };
    const r = parseBuildRecord(Buffer.from(formatBuildRecord(cross as Parameters<typeof formatBuildRecord>[0])), "x.apk");
    assert.deepEqual(r, cross);
    assert.deepEqual(lockedEnvironment(r), ["busybox=1.35.0-r0"]);
    assert.deepEqual(lockedSysroot(r), ["musl-dev=1.2.5-r0", "musl=1.2.5-r0"]);
    assert.deepEqual(lockedSysroot(parseBuildRecord(Buffer.from(formatBuildRecord(good as Parameters<typeof formatBuildRecord>[0])), "x.apk")), []);
    refused(
      { ...cross, environment: { ...cross.environment, sysroot: { arch: "aarch64", packages: [{ name: "musl" }] } } },
      /environment\.sysroot\.packages\[0\]\.version/,
    );
    refused({ ...cross, environment: { ...cross.environment, sysroot: [] } }, /environment\.sysroot is not an object/);
  });

  it("refuses bad input naming the field", () => {
    refused("{", /\(file\) is not JSON/);
    refused([], /\(document\) is not an object/);
    refused({ ...good, _type: "other" }, /_type is "other"/);
    refused({ ...good, recipe: { path: "x", sha256: "zz" } }, /recipe\.sha256 is not a sha256/);
    refused({ ...good, settings: { ...good.settings, sourceDateEpoch: -1 } }, /settings\.sourceDateEpoch/);
    refused({ ...good, settings: { ...good.settings, hermetic: "yes" } }, /settings\.hermetic/);
    refused({ ...good, environment: { packages: [{ name: 1 }], hostProvided: [] } }, /environment\.packages\[0\]\.name/);
    refused({ ...good, steps: [{ ...good.steps[0], env: { A: 1 } }] }, /steps\[0\]\.env\.A/);
    refused(" ".repeat((4 << 20) + 1), /more than/);
    // Companion files are joined to a recipe directory by rebuild-check: never outside it.
    refused({ ...good, files: [{ path: "../../etc/passwd", sha256: "a".repeat(64) }] }, /files\[0\]\.path leaves the recipe's directory/);
    refused({ ...good, files: [{ path: "/etc/passwd", sha256: "a".repeat(64) }] }, /files\[0\]\.path leaves/);
    refused({ ...good, files: [{ path: "x/fix.patch", sha256: "nope" }] }, /files\[0\]\.sha256 is not a sha256/);
  });
});
