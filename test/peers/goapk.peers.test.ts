import assert from "node:assert/strict";
import { cpSync, existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { sha256Hex } from "../../src/util/index.js";
import { REPO_ROOT, runAsync } from "../helpers.js";
import { OWN_RECIPES, ownPackagesImage, peer, runPeer, scratchDir } from "./helpers.js";

// go-apk (github.com/chainguard-dev/go-apk, pinned in scripts/peers/goapk/go.mod) is the APK
// implementation apko installs images with. apko and melange themselves are not served by the Go
// module proxy here; go-apk is, so it stands in for apko's install half: it installs undistro's
// packages from undistro's signed repository, and the result must match undistro's own image.

/** One package of an installed database, with what apk compares: identity, relations, files. */
interface InstalledEntry {
  fields: Record<string, string>;
  files: Record<string, { mode: string; checksum: string }>;
}

const IDENTITY = ["P", "V", "A", "C", "S", "I", "T", "U", "L", "o", "D", "p", "i"];

/**
 * Parses an apk installed database into name → entry. Field order and the octal width of `a:` modes
 * differ between writers (apk-tools writes `a:0:0:755`, go-apk `a:0:0:0755`); neither is meaning.
 */
function installedDb(text: string): Map<string, InstalledEntry> {
  const out = new Map<string, InstalledEntry>();
  for (const block of text.split(/\n\n+/)) {
    if (!block.trim()) continue;
    const entry: InstalledEntry = { fields: {}, files: {} };
    let dir = "";
    let file = "";
    for (const line of block.split("\n")) {
      const key = line.slice(0, 1);
      const value = line.slice(2);
      if (key === "F") dir = value;
      else if (key === "R") {
        file = dir ? `${dir}/${value}` : value;
        entry.files[file] = { mode: "", checksum: "" };
      } else if (key === "a" && file) {
        const [uid, gid, mode] = value.split(":");
        (entry.files[file] as { mode: string }).mode = `${uid}:${gid}:${Number.parseInt(mode ?? "", 8).toString(8)}`;
      } else if (key === "Z" && file) (entry.files[file] as { checksum: string }).checksum = value;
      else if (IDENTITY.includes(key) && value !== "" && value !== "[]") entry.fields[key] = value.split(" ").sort().join(" ");
    }
    out.set(entry.fields.P ?? "?", entry);
  }
  return out;
}

/** What a path is in a root: a file's mode and sha256, a link's target, a directory's mode. */
function describe_(root: string, path: string): string {
  const full = join(root, path);
  const st = lstatSync(full);
  if (st.isSymbolicLink()) return `link → ${readlinkSync(full)}`;
  if (st.isDirectory()) return `dir ${(st.mode & 0o7777).toString(8)}`;
  return `file ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${sha256Hex(readFileSync(full))}`;
}

function dbText(root: string): string {
  for (const db of ["usr/lib/apk/db/installed", "lib/apk/db/installed"]) if (existsSync(join(root, db))) return readFileSync(join(root, db), "utf8");
  throw new Error(`${root}: no installed database`);
}

describe("go-apk (apko's installer) installs from undistro's signed repository", () => {
  let dir: string;
  let image: string;
  let sha1Repo: string;
  const undistro = (...args: string[]) => runAsync(join(REPO_ROOT, "bin/undistro"), args, { timeoutMs: 600_000 });

  before(async () => {
    dir = scratchDir();
    const layout = await ownPackagesImage(dir);
    const unpacked = await runAsync("umoci", ["unpack", "--image", `${layout}:latest`, join(dir, "bundle")]);
    assert.equal(unpacked.status, 0, unpacked.stderr);
    image = join(dir, "bundle/rootfs");
    // go-apk (2024) checks index signatures with SHA-1 only (`.SIGN.RSA.`): the same packages,
    // indexed again with undistro's SHA-1 option (`--signature-algorithm RSA`, for old apk-tools).
    sha1Repo = join(dir, "repo-sha1");
    cpSync(join(dir, "repo"), sha1Repo, { recursive: true });
    const indexed = await undistro("index", join(sha1Repo, "x86_64"), "--signing-key", join(dir, "keys/undistro.rsa"), "--signature-algorithm", "RSA");
    assert.equal(indexed.status, 0, indexed.stderr);
  });

  const goapk = (root: string, repo: string, key = join(dir, "keys/undistro.rsa.pub")) =>
    runPeer(peer("goapk"), ["-root", root, "-repository", repo, "-key", key, "-epoch", "0", ...OWN_RECIPES]);

  it("installs the same packages, database entries, world and files as undistro's image of them", async () => {
    const root = join(dir, "goapk-root");
    const r = await goapk(root, sha1Repo);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), ["ca-certificates-bundle-20250419-r0", "undistro-baselayout-0.1-r0"]);
    const theirs = installedDb(dbText(root));
    const ours = installedDb(dbText(image));
    assert.deepEqual([...theirs.keys()].sort(), [...ours.keys()].sort());
    let files = 0;
    for (const [name, entry] of theirs) {
      assert.deepEqual(entry, ours.get(name), `${name}: the installed database entries agree`);
      for (const path of Object.keys(entry.files)) {
        assert.equal(describe_(root, path), describe_(image, path), `${name}: /${path}`);
        files++;
      }
    }
    assert.ok(files > 5, `compared ${files} files`);
    const world = (r: string) => readFileSync(join(r, "etc/apk/world"), "utf8").trim().split("\n").sort();
    assert.deepEqual(world(root), world(image));
    process.stdout.write(`# go-apk and undistro agree on ${theirs.size} packages and ${files} files\n`);
  });

  it("refuses undistro's index with another key than the one that signed it", async () => {
    const other = join(dir, "keys/other");
    const made = await undistro("keygen", "--apk", other);
    assert.equal(made.status, 0, made.stderr);
    const r = await goapk(join(dir, "other-key-root"), sha1Repo, `${other}.rsa.pub`);
    assert.notEqual(r.status, 0, "go-apk trusted an index no key of its keyring signed");
    assert.match(r.stderr, /signature|verif/i);
  });

  it("refuses a package whose bytes no longer match undistro's signed index", async () => {
    const tampered = join(dir, "repo-tampered");
    cpSync(sha1Repo, tampered, { recursive: true });
    const apk = join(tampered, "x86_64/ca-certificates-bundle-20250419-r0.apk");
    const bytes = readFileSync(apk);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0xff;
    writeFileSync(apk, bytes);
    const r = await goapk(join(dir, "tampered-root"), tampered);
    assert.notEqual(r.status, 0, "go-apk installed a tampered package");
    assert.match(r.stderr, /ca-certificates-bundle/);
  });
});
