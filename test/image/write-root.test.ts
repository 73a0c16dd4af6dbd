import assert from "node:assert/strict";
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { RootFs } from "../../src/image/rootfs.js";
import { writeRootFs } from "../../src/image/write-root.js";
import { tempDir } from "../helpers.js";

const asRoot = process.getuid?.() === 0;

function tree(): RootFs {
  const fs = new RootFs();
  const file = (path: string, content: string, mode = 0o644, uid = 0, gid = 0) => fs.put({ path, type: "file", mode, uid, gid, content: Buffer.from(content) });
  fs.put({ path: "usr/bin", type: "directory", mode: 0o755, uid: 0, gid: 0 });
  file("usr/bin/su", "#!/bin/true\n", 0o4755);
  file("usr/bin/wall", "#!/bin/true\n", 0o2755, 0, 5);
  file("etc/motd", "hello\n");
  fs.put({ path: "usr/bin/sh", type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: "busybox" });
  fs.put({ path: "usr/bin/su2", type: "hardlink", mode: 0o4755, uid: 0, gid: 0, linkname: "usr/bin/su" });
  return fs;
}

describe("writing a root to disk", () => {
  it("keeps set-user-ID and set-group-ID bits and owners (owner before mode; a hard link is not chowned again)", {
    skip: !asRoot && "needs root to set owners",
  }, (t) => {
    const root = tempDir(t);
    writeRootFs(tree(), root);
    assert.equal(statSync(join(root, "usr/bin/su")).mode & 0o7777, 0o4755);
    const wall = statSync(join(root, "usr/bin/wall"));
    assert.equal(wall.mode & 0o7777, 0o2755);
    assert.equal(wall.gid, 5);
    assert.equal(readlinkSync(join(root, "usr/bin/sh")), "busybox");
    assert.equal(statSync(join(root, "usr/bin/su2")).ino, statSync(join(root, "usr/bin/su")).ino);
  });

  it("replaces files and links an earlier install left, and refuses to replace a directory by a file", (t) => {
    const root = tempDir(t);
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc/motd"), "old\n");
    mkdirSync(join(root, "usr/bin"), { recursive: true });
    symlinkSync("elsewhere", join(root, "usr/bin/su"));
    writeRootFs(tree(), root);
    assert.equal(readFileSync(join(root, "etc/motd"), "utf8"), "hello\n");
    assert.ok(lstatSync(join(root, "usr/bin/su")).isFile());
    const clash = tempDir(t);
    mkdirSync(join(clash, "etc/motd"), { recursive: true });
    assert.throws(
      () => writeRootFs(tree(), clash),
      (e: Error & { code?: string }) => e.code === "INSTALL_PATH_CONFLICT",
    );
  });

  it("never writes through a symlink planted where a directory goes", (t) => {
    const root = tempDir(t);
    const outside = tempDir(t);
    symlinkSync(outside, join(root, "etc"));
    assert.throws(
      () => writeRootFs(tree(), root),
      (e: Error & { code?: string }) => e.code === "INSTALL_UNSAFE_PATH" || e.code === "INSTALL_PATH_CONFLICT",
    );
    assert.throws(() => statSync(join(outside, "motd")));
  });
});
