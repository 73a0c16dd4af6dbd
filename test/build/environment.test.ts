import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sysrootAtoms } from "../../src/build/environment.js";

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
