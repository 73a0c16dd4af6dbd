import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readPackage } from "../../src/apk/index.js";
import { analyzePackage, archInfo, readElf, type ScaFile } from "../../src/build/index.js";
import { REFERENCE } from "../helpers.js";

const SCA = join(REFERENCE, "melange/pkg/sca/testdata");

function filesOf(apk: string): { files: ScaFile[]; version: string; depends: string[]; provides: string[] } {
  const p = readPackage(apk);
  const files: ScaFile[] = p.dataEntries.map((e) => {
    const f: ScaFile = {
      path: e.header.name.replace(/\/$/, ""),
      type: e.header.type === "directory" ? "directory" : e.header.type === "symlink" ? "symlink" : "file",
      mode: e.header.mode,
      content: e.content,
    };
    if (e.header.type === "symlink") f.linkTarget = e.header.linkname;
    return f;
  });
  const ours = (l: string[]) => l.filter((x) => /^(so|cmd|pc):/.test(x)).sort();
  return { files, version: p.info.version, depends: ours(p.info.depends), provides: ours(p.info.provides) };
}

describe("dependency detection against melange's SCA test packages", () => {
  // What melange computed is in each package's .PKGINFO; these must come out the same.
  const cases: Array<[string, { noProvides?: boolean }]> = [
    ["aws-c-s3-0.4.9-r0.apk", {}],
    ["bash-doc-5.2.37-r2.apk", {}],
    ["perl-json-4.11-r0.apk", {}],
    ["ruby3.2-base64-0.2.0-r2.apk", {}],
    ["generated/x86_64/shbang-test-1-r1.apk", { noProvides: true }],
    ["generated/x86_64/ld-so-conf-d-test-1-r1.apk", {}],
    ["generated/x86_64/linux-modules-6.17.7-r0.apk", {}],
  ];
  for (const [file, options] of cases) {
    it(file, () => {
      const g = filesOf(join(SCA, file));
      const r = analyzePackage(g.files, g.version, options);
      assert.deepEqual(r.depends, g.depends);
      assert.deepEqual(r.provides, g.provides);
    });
  }

  it("derives shebang interpreters the way melange does (sh is never a dependency)", () => {
    const g = filesOf(join(SCA, "generated/x86_64/shbang-test-1-r1.apk"));
    const r = analyzePackage(g.files, g.version, { noProvides: true });
    assert.deepEqual(
      r.depends.filter((d) => d.startsWith("cmd:")),
      ["cmd:bash", "cmd:envDashSCmd", "cmd:python3.12"],
    );
  });

  it("finds so: provides, pc: versions and sonames on aarch64 libraries", () => {
    const g = filesOf(join(SCA, "aws-c-s3-0.4.9-r0.apk"));
    const r = analyzePackage(g.files, g.version);
    assert.ok(r.provides.includes("so:libaws-c-s3.so.0unstable=0unstable"));
    assert.ok(r.elf.some((e) => e.soname === "libaws-c-s3.so.0unstable" && e.interpreter === undefined));
  });

  it("an ELF file of another architecture gives no so: provides or needs (a cross compiler's target libraries)", () => {
    const g = filesOf(join(SCA, "aws-c-s3-0.4.9-r0.apk"));
    const [x86_64, aarch64] = [archInfo("x86_64").elfMachine, archInfo("aarch64").elfMachine];
    const asAarch64 = analyzePackage(g.files, g.version, {}, aarch64);
    assert.deepEqual([asAarch64.depends, asAarch64.provides], [g.depends, g.provides], "its own architecture: as melange computed");
    const inX86 = analyzePackage(g.files, g.version, {}, x86_64);
    assert.deepEqual(
      [...inX86.depends, ...inX86.provides].filter((d) => d.startsWith("so:")),
      [],
    );
    assert.ok(
      inX86.elf.some((e) => e.soname === "libaws-c-s3.so.0unstable"),
      "still listed among the package's ELF files",
    );
  });

  it("reads a host binary's interpreter and needed libraries", () => {
    const elf = readElf(readFileSync("/usr/bin/ls"));
    assert.ok(elf);
    assert.equal(elf.class, 64);
    assert.match(elf.interpreter ?? "", /ld-linux/);
    assert.ok(elf.needed.includes("libc.so.6"));
    assert.equal(readElf(Buffer.from("#!/bin/sh\n")), null);
    assert.equal(readElf(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 9, 9])), null, "truncated ELF is refused, not misread");
  });
});
