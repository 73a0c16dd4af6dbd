import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import zlib from "node:zlib";
import { END_OF_ARCHIVE, encodeEntry, gunzipBounded, parsePackage, parseTar, splitGzipMembers } from "../../src/apk/index.js";
import { isError, tempDir } from "../helpers.js";
import { craftApk, th } from "./craft.js";

const APK_MODULE = new URL("../../src/apk/index.js", import.meta.url).href;

/**
 * Parses `file` with `fn` (parsePackage or parseIndexArchive) in a child process, so a parser that
 * loops for ever fails this test after 10 s instead of hanging the runner. Returns the error code.
 */
function parseInChild(file: string, fn: "parsePackage" | "parseIndexArchive"): { code: string; ms: number; status: number | null } {
  const script = `import { ${fn} } from ${JSON.stringify(APK_MODULE)};
import { readFileSync } from "node:fs";
try { ${fn}(readFileSync(process.argv[1]), "crafted"); console.log("PARSED"); }
catch (e) { console.log(e.code ?? e.name); }`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, file], { encoding: "utf8", timeout: 10_000 });
  return { code: r.stdout.trim(), ms: Date.now() - t0, status: r.status };
}

function tarOf(...parts: Buffer[][]): Buffer {
  return Buffer.concat([...parts.flat(), END_OF_ARCHIVE]);
}

describe("hostile tar and gzip input is refused, never loops, never exhausts memory", () => {
  it("a PAX size of -512 (which made every reader revisit the same header for ever) is refused at once", (t) => {
    const dir = tempDir(t);
    const apk = craftApk([{ header: th("usr/bin/x", "file", { pax: { size: "-512" } }) }]);
    writeFileSync(join(dir, "loop.apk"), apk);
    const r = parseInChild(join(dir, "loop.apk"), "parsePackage");
    assert.equal(r.status, 0, "the child finished within 10 s");
    assert.equal(r.code, "TAR_CORRUPT");
    // The same header in an index archive (read before its signature is checked).
    const index = zlib.gzipSync(tarOf(encodeEntry(th("APKINDEX", "file", { pax: { size: "-512" } }))));
    writeFileSync(join(dir, "APKINDEX.tar.gz"), index);
    const i = parseInChild(join(dir, "APKINDEX.tar.gz"), "parseIndexArchive");
    assert.equal(i.status, 0, "the child finished within 10 s");
    assert.equal(i.code, "TAR_CORRUPT");
  });

  for (const bad of ["-1", "1e3", "0x10", " 12", "12 ", "+5", "", "99999999999999999999"]) {
    it(`a PAX size of ${JSON.stringify(bad)} is refused naming the offset`, () => {
      const tar = tarOf(encodeEntry(th("a", "file")), encodeEntry(th("b", "file", { pax: { size: bad } })));
      assert.throws(() => parseTar(tar, (off) => `t.tar offset ${off}`), isError("TAR_CORRUPT", "t.tar offset 1536", "PAX size"));
    });
  }

  it("PAX uid and gid must be decimal numbers too", () => {
    for (const key of ["uid", "gid"]) {
      const tar = tarOf(encodeEntry(th("a", "file", { pax: { [key]: "-7" } })));
      assert.throws(() => parseTar(tar, (off) => `t.tar offset ${off}`), isError("TAR_CORRUPT", `PAX ${key}`));
    }
  });

  it("a negative GNU base-256 size is refused", () => {
    const [header] = encodeEntry(th("a", "file")) as [Buffer];
    header.fill(0xff, 124, 136);
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, "binary");
    assert.throws(() => parseTar(Buffer.concat([header, END_OF_ARCHIVE]), () => "t.tar"), isError("TAR_CORRUPT", "size is negative"));
  });

  it("a PAX record whose length does not cover its own length field is refused", () => {
    // "2 " claims a 2-byte record that cannot hold a key and value: it must not be read as progress.
    const body = Buffer.from("2 x=y\n");
    const paxHeader = encodeEntry(th("PaxHeaders/a", "file", { size: body.length }), body);
    paxHeader[0]?.write("x", 156, "ascii");
    const [h] = paxHeader as [Buffer];
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, "binary");
    assert.throws(() => parseTar(tarOf(paxHeader, encodeEntry(th("a", "file"))), () => "t.tar"), isError("TAR_CORRUPT", "malformed PAX record"));
  });

  it("more entries than the limit are refused", () => {
    const tar = tarOf(...Array.from({ length: 11 }, (_, i) => encodeEntry(th(`f${i}`, "file"))));
    assert.equal(parseTar(tar, () => "t").entries.length, 11);
    assert.throws(() => parseTar(tar, (off) => `t.tar offset ${off}`, { maxEntries: 10 }), isError("TAR_TOO_MANY_ENTRIES", "t.tar offset 5120"));
  });

  it("a gzip bomb is refused at the limit instead of inflating (package, single stream)", (t) => {
    // 256 MiB of zeros compress to about 256 KiB.
    const bomb = zlib.gzipSync(Buffer.alloc(256 * 1024 * 1024), { level: 9 });
    assert.ok(bomb.length < 1024 * 1024);
    assert.throws(
      () => splitGzipMembers(bomb, () => "bomb.apk member 1", { maxBytes: 16 * 1024 * 1024 }),
      isError("GZIP_TOO_LARGE", "bomb.apk member 1", "16777216"),
    );
    assert.throws(() => gunzipBounded(bomb, "layer sha256:00", 16 * 1024 * 1024), isError("GZIP_TOO_LARGE", "layer sha256:00"));
    // The limit counts all members of one file together, and the environment sets the default.
    const saved = process.env.UNDISTRO_MAX_UNPACKED_BYTES;
    process.env.UNDISTRO_MAX_UNPACKED_BYTES = String(8 * 1024 * 1024);
    t.after(() => {
      if (saved === undefined) delete process.env.UNDISTRO_MAX_UNPACKED_BYTES;
      else process.env.UNDISTRO_MAX_UNPACKED_BYTES = saved;
    });
    const member = zlib.gzipSync(Buffer.alloc(5 * 1024 * 1024));
    assert.equal(splitGzipMembers(member, () => "one").length, 1);
    assert.throws(() => parsePackage(Buffer.concat([member, member]), "two.apk"), isError("GZIP_TOO_LARGE", "two.apk"));
  });
});
