import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { crossRecipeEnvironment, inLockOrder, sysrootAtoms } from "../../src/build/environment.js";
import type { ResolvedPackage } from "../../src/solver/index.js";
import { UndistroError } from "../../src/util/index.js";

describe("a hermetic cross build's target side", () => {
  it("takes the environment's development packages, and the C library's when it holds a compiler", () => {
    const none = new Set<string>();
    // nginx's environment: the -dev packages and the kernel headers are the target's.
    assert.deepEqual(sysrootAtoms(["musl-dev", "linux-headers", "openssl-dev", "pcre2-dev", "zlib-dev", "build-base", "busybox"], none), [
      "musl-dev",
      "linux-headers",
      "openssl-dev",
      "pcre2-dev",
      "zlib-dev",
    ]);
    // hello names only build-base: a compiler links the target's C library.
    assert.deepEqual(sysrootAtoms(["busybox", "build-base"], none), ["musl-dev"]);
    assert.deepEqual(sysrootAtoms(["zlib-static>=1.3"], none), ["zlib-static>=1.3"]);
    // Nothing to link against: nothing for the target.
    assert.deepEqual(sysrootAtoms(["busybox"], none), []);
    assert.deepEqual(sysrootAtoms(["tzcode", "busybox"], none), []);
    // "dev" alone, or inside a name, is not a development package.
    assert.deepEqual(sysrootAtoms(["dev", "devtools", "udev"], none), []);
  });

  it("leaves out what the recipe makes itself: musl for a new architecture has no musl-dev yet", () => {
    assert.deepEqual(sysrootAtoms(["build-base"], new Set(["musl", "musl-dev"])), []);
    assert.deepEqual(sysrootAtoms(["build-base"], new Set(["linux-headers"])), ["musl-dev"]);
  });
});

describe("a recipe's own environment in a hermetic cross build", () => {
  it("names the target's musl-gcc, from the target's musl-dev at /sysroot", () => {
    const dir = mkdtempSync(join(tmpdir(), "undistro-sysroot-"));
    try {
      mkdirSync(join(dir, "usr/bin"), { recursive: true });
      writeFileSync(join(dir, "usr/bin/musl-gcc"), "#!/bin/sh\n");
      chmodSync(join(dir, "usr/bin/musl-gcc"), 0o755);
      const env = crossRecipeEnvironment(
        { CC: "musl-gcc", LD_CC: "musl-gcc -static", TZ: "UTC", HOSTCC: "gcc", NOTE: "not musl-gcc" },
        "/sysroot",
        dir,
        "r.yaml",
      );
      assert.deepEqual(env, { CC: "/sysroot/usr/bin/musl-gcc", LD_CC: "/sysroot/usr/bin/musl-gcc -static", TZ: "UTC", HOSTCC: "gcc", NOTE: "not musl-gcc" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a musl-gcc the target's side lacks, naming the variable", () => {
    const dir = mkdtempSync(join(tmpdir(), "undistro-sysroot-"));
    try {
      assert.deepEqual(crossRecipeEnvironment({ TZ: "UTC" }, "/sysroot", dir, "r.yaml"), { TZ: "UTC" });
      assert.throws(
        () => crossRecipeEnvironment({ CC: "musl-gcc" }, "/sysroot", dir, "r.yaml"),
        (e: unknown) =>
          e instanceof UndistroError && e.code === "BUILD_NO_TARGET_WRAPPER" && /r\.yaml: environment\.environment\.CC names musl-gcc/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a root rebuilt from its record", () => {
  it("lists its packages in the record's order, whatever order the solver installed them in", () => {
    const pkg = (name: string, version = "1-r0") => ({ name, version, arch: "x86_64" }) as ResolvedPackage;
    // As the aarch64 busybox's rebuild resolved them, against the order its build recorded.
    const solved = [pkg("musl", "1.2.5-r0"), pkg("binutils-aarch64", "2.44-r0"), pkg("busybox"), pkg("gcc-aarch64", "14.2.0-r1")];
    const lock = ["musl=1.2.5-r0", "busybox=1-r0", "binutils-aarch64=2.44-r0", "gcc-aarch64=14.2.0-r1"];
    assert.deepEqual(
      inLockOrder(solved, lock).map((p) => p.name),
      ["musl", "busybox", "binutils-aarch64", "gcc-aarch64"],
    );
    // No lock (a build from the recipe): the solver's order stands; a package the lock does not
    // name (another version) comes after those it does, in the solver's order.
    assert.deepEqual(
      inLockOrder(solved, undefined).map((p) => p.name),
      solved.map((p) => p.name),
    );
    assert.deepEqual(
      inLockOrder([pkg("a", "2-r0"), pkg("b"), pkg("c")], ["c=1-r0", "b=1-r0", "a=1-r0"]).map((p) => p.name),
      ["c", "b", "a"],
    );
    assert.deepEqual(
      inLockOrder([pkg("x"), pkg("a", "2-r0"), pkg("b")], ["b=1-r0"]).map((p) => p.name),
      ["b", "x", "a"],
    );
  });
});
