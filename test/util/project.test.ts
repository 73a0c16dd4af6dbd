import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadProjectConfig, UndistroError } from "../../src/util/index.js";
import { REPO_ROOT, runBin, tempDir } from "../helpers.js";

describe("project configuration (undistro.yaml)", () => {
  it("this repository's undistro.yaml names the distro's directories, key and mirror", () => {
    const c = loadProjectConfig(join(REPO_ROOT, "distro/packages"));
    assert.equal(c.file, join(REPO_ROOT, "undistro.yaml"), "found by walking up");
    assert.equal(c.packages, join(REPO_ROOT, "distro/packages"));
    assert.equal(c.repository, join(REPO_ROOT, "out/repo"));
    assert.equal(c.signingKey, join(REPO_ROOT, "out/keys/undistro.rsa"));
    assert.deepEqual(c.sourceMirrors, [join(REPO_ROOT, ".cache/mirror")]);
  });

  it("defaults without a file; unknown settings and bad values are named", (t) => {
    const dir = tempDir(t);
    const bare = loadProjectConfig(dir);
    assert.equal(bare.file, undefined);
    assert.equal(bare.advisories, join(dir, "distro/advisories"));
    writeFileSync(join(dir, "undistro.yaml"), "repository: build/repo\nsource-mirror: [m1, /abs/m2]\nsigning-keys: k.rsa\n");
    assert.throws(
      () => loadProjectConfig(dir),
      (e: unknown) => e instanceof UndistroError && e.code === "PROJECT_CONFIG_INVALID" && /undistro\.yaml: signing-keys: unknown setting/.test(e.message),
    );
    writeFileSync(join(dir, "undistro.yaml"), "repository: build/repo\nsource-mirror: [m1, /abs/m2]\n");
    const c = loadProjectConfig(join(dir));
    assert.equal(c.repository, join(dir, "build/repo"));
    assert.deepEqual(c.sourceMirrors, [join(dir, "m1"), "/abs/m2"]);
    writeFileSync(join(dir, "undistro.yaml"), "packages: ''\n");
    assert.throws(() => loadProjectConfig(dir), /packages: must be a non-empty string/);
  });

  it("`undistro build` with no flags builds the project's recipes into its repository with its key and mirror", (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, "recipes"));
    writeFileSync(
      join(dir, "recipes/note.yaml"),
      "package:\n  name: note\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - runs: |\n      mkdir -p ${{targets.destdir}}/usr/share/note\n      echo hi > ${{targets.destdir}}/usr/share/note/README\n",
    );
    writeFileSync(join(dir, "undistro.yaml"), "packages: recipes\nrepository: public\nsigning-key: keys/project.rsa\nsource-mirror: mirror\n");
    let r = runBin(["build"], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /keys\/project\.rsa \(from .*undistro\.yaml\) does not exist: make it with `undistro keygen --apk .*keys\/project`/);
    mkdirSync(join(dir, "keys"));
    assert.equal(runBin(["keygen", "--apk", "keys/project", "--bits", "2048"], { cwd: dir }).code, 0);
    r = runBin(["build"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
    assert.deepEqual(readdirSync(join(dir, "public", arch)).sort(), ["APKINDEX.tar.gz", "note-1.0-r0.apk"]);
    // A source that is in neither the mirror nor reachable: the error says how to fill the mirror.
    writeFileSync(
      join(dir, "recipes/gone.yaml"),
      `package:\n  name: gone\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - uses: fetch\n    with:\n      uri: http://127.0.0.1:9/gone-1.0.tar.gz\n      expected-sha256: ${"1".repeat(64)}\n`,
    );
    mkdirSync(join(dir, "mirror"));
    r = runBin(["build", "recipes/gone.yaml"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /error\[SOURCE_DOWNLOAD_FAILED\]: .*gone-1\.0\.tar\.gz.*\(not in the source mirror .*mirror either\)\n {2}hint: fill the mirror: `bash scripts\/fetch-sources\.sh DEBIAN-SOURCE-PACKAGE`/,
    );
    assert.ok(!existsSync(join(dir, "public", arch, "gone-1.0-r0.apk")));
  });
});
