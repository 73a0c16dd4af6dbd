import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDependency, parseDependencies, parseDependency, versionSatisfies } from "../../src/apk/index.js";
import { UndistroError } from "../../src/util/index.js";

describe("dependency atoms", () => {
  it("parses every form apk writes", () => {
    assert.deepEqual(parseDependency("busybox"), { name: "busybox", conflict: false, op: "" });
    assert.deepEqual(parseDependency("name=1.2-r0"), { name: "name", conflict: false, op: "=", version: "1.2-r0" });
    assert.deepEqual(parseDependency("musl>=1.2.3"), { name: "musl", conflict: false, op: ">=", version: "1.2.3" });
    assert.deepEqual(parseDependency("zlib<1.3"), { name: "zlib", conflict: false, op: "<", version: "1.3" });
    assert.deepEqual(parseDependency("openssl~3.1"), { name: "openssl", conflict: false, op: "~", version: "3.1" });
    assert.deepEqual(parseDependency("!bash"), { name: "bash", conflict: true, op: "" });
    assert.deepEqual(parseDependency("so:libc.so.6"), { name: "so:libc.so.6", conflict: false, op: "" });
    assert.deepEqual(parseDependency("cmd:hello=2.12.1-r0"), { name: "cmd:hello", conflict: false, op: "=", version: "2.12.1-r0" });
    assert.deepEqual(parseDependency("pc:zlib>=1.2"), { name: "pc:zlib", conflict: false, op: ">=", version: "1.2" });
    assert.deepEqual(parseDependency("curl@edge"), { name: "curl", tag: "edge", conflict: false, op: "" });
    assert.deepEqual(parseDependency("curl@edge>=8"), { name: "curl", tag: "edge", conflict: false, op: ">=", version: "8" });
    assert.deepEqual(parseDependency("a><Q1L7EnY9Q9b23ejRHAmb0g09QaLEo="), { name: "a", conflict: false, op: "><", version: "Q1L7EnY9Q9b23ejRHAmb0g09QaLEo=" });
    assert.deepEqual(parseDependency("so:libffi.so.8=8"), { name: "so:libffi.so.8", conflict: false, op: "=", version: "8" });
  });

  it("round-trips through formatDependency", () => {
    for (const a of ["busybox", "!bash", "curl@edge>=8", "so:libc.so.6", "x<~1.2", "y>~2", "z<=3-r1"]) assert.equal(formatDependency(parseDependency(a)), a);
  });

  it("splits D: lines", () => {
    assert.deepEqual(
      parseDependencies("so:libc.so.6  busybox>=1.36 !foo").map((d) => d.name),
      ["so:libc.so.6", "busybox", "foo"],
    );
  });

  it("rejects malformed atoms with the atom in the message", () => {
    for (const bad of ["", "name>=", "name=notaversion!", "@tag", "na me", "x=>1", "curl@"]) {
      assert.throws(
        () => parseDependency(bad, "--depends"),
        (e: unknown) => e instanceof UndistroError && e.code === "APK_BAD_DEPENDENCY" && e.message.includes("--depends"),
        bad,
      );
    }
  });

  it("matches versions against constraints", () => {
    const sat = (atom: string, v: string) => versionSatisfies(parseDependency(atom), v);
    assert.equal(sat("a>=1.2", "1.2-r0"), true);
    assert.equal(sat("a>1.2", "1.2"), false);
    assert.equal(sat("a<1.2", "1.1.9"), true);
    assert.equal(sat("a=1.2-r0", "1.2-r0"), true);
    assert.equal(sat("a=1.2-r0", "1.2-r1"), false);
    assert.equal(sat("a~1.2", "1.2.9-r3"), true);
    assert.equal(sat("a~1.2", "1.3"), false);
    assert.equal(sat("a", "anything"), true);
    assert.equal(versionSatisfies(parseDependency("a><Q1L7EnY9Q9b23ejRHAmb0g09QaLEo="), "1", "Q1L7EnY9Q9b23ejRHAmb0g09QaLEo="), true);
  });
});
