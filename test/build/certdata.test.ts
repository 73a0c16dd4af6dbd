import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT, tempDir } from "../helpers.js";

// ca-certificates-bundle splits Mozilla's certdata.txt with an awk script of its own (a hermetic
// root has no Python); Debian's certdata2pem.py, from the same tarball, is the peer it must match.
const AWK_SCRIPT = join(REPO_ROOT, "distro/packages/ca-certificates-bundle/certdata2pem.awk");
const TARBALL = join(REPO_ROOT, ".cache/mirror/sha256/33b44ef78653ecd3f0f2f13e5bba6be466be2e7da72182f737912b81798ba5d2");
const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Every file a run left in `dir` but its inputs, name → bytes. */
function outputs(dir: string): Map<string, Buffer> {
  const files = readdirSync(dir).filter((f) => f !== "certdata.txt" && f !== "blacklist.txt");
  return new Map(files.sort().map((f) => [f, readFileSync(join(dir, f))]));
}

function run(cmd: string, args: string[], dir: string) {
  return spawnSync(cmd, args, { cwd: dir, encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
}

/** Runs certdata2pem.awk with `awk` ("busybox" means its applet) in `dir`. */
const runAwk = (awk: string, dir: string) => run(awk, [...(awk === "busybox" ? ["awk"] : []), "-f", AWK_SCRIPT, "certdata.txt"], dir);

/** Runs Debian's script and undistro's on the same certdata.txt; returns each run's files. */
function splitBoth(root: string, pythonScript: string, certdata: string, blacklist: string, awk: string) {
  const results: Map<string, Buffer>[] = [];
  for (const who of ["python", awk]) {
    const dir = join(root, who);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "certdata.txt"), certdata);
    writeFileSync(join(dir, "blacklist.txt"), blacklist);
    const r = who === "python" ? run("python3", [pythonScript], dir) : runAwk(awk, dir);
    assert.equal(r.status, 0, `${who}: ${r.stdout}${r.stderr}`);
    results.push(outputs(dir));
  }
  return results as [Map<string, Buffer>, Map<string, Buffer>];
}

/** certdata.txt's objects (after BEGINDATA), each with the comment lines before it. */
function objects(certdata: string): string[] {
  const data = certdata.slice(certdata.indexOf("BEGINDATA\n") + "BEGINDATA\n".length);
  return data.split(/\n\n/).filter((o) => o.includes("CKA_CLASS"));
}

describe("ca-certificates-bundle: certdata2pem.awk splits certdata.txt as Debian's certdata2pem.py does", () => {
  let root: string;
  let certdata: string;
  let blacklist: string;
  const awks = ["gawk", "mawk", "busybox"].filter(have);
  const pythonScript = () => join(root, "src/ca-certificates/mozilla/certdata2pem.py");

  before(() => {
    root = tempDir();
    mkdirSync(join(root, "src"));
    const x = spawnSync("tar", ["-xJf", TARBALL, "-C", join(root, "src")], { encoding: "utf8" });
    assert.equal(x.status, 0, `no ca-certificates tarball in the source mirror (run scripts/setup.sh): ${x.stderr}`);
    certdata = readFileSync(join(root, "src/ca-certificates/mozilla/certdata.txt"), "utf8");
    blacklist = readFileSync(join(root, "src/ca-certificates/mozilla/blacklist.txt"), "utf8");
    assert.ok(awks.length > 0, "no awk on this machine");
  });

  it("the real certdata.txt: the same certificate files, byte for byte, with every awk here", () => {
    for (const awk of awks) {
      const [python, ours] = splitBoth(join(root, `real-${awk}`), pythonScript(), certdata, blacklist, awk);
      assert.ok(python.size > 100, `Debian's script wrote ${python.size} files`);
      assert.deepEqual([...ours.keys()], [...python.keys()], `${awk}: file names`);
      for (const [name, bytes] of python) assert.ok(ours.get(name)?.equals(bytes), `${awk}: ${name} differs`);
    }
  });

  it("labels with \\x escapes, a duplicate, a blacklisted and an untrusted certificate", () => {
    const all = objects(certdata);
    const label = '"GlobalSign Root CA"';
    const cert = all.find((o) => o.includes(`CKA_LABEL UTF8 ${label}`) && o.includes("CKO_CERTIFICATE"));
    const trust = all.find((o) => o.includes(`CKA_LABEL UTF8 ${label}`) && o.includes("CKO_NSS_TRUST"));
    assert.ok(cert && trust, "GlobalSign Root CA is in certdata.txt");
    const renamed = (o: string, to: string) => o.replace(`CKA_LABEL UTF8 ${label}`, `CKA_LABEL UTF8 ${to}`);
    const escaped = '"T\\xc3\\xbcrk (Test), CA/2"';
    const untrusted = '"Not For Servers"';
    const synthetic = [
      renamed(cert, escaped),
      renamed(trust, escaped),
      // Two certificates under one label: the second becomes NAME_2.crt.
      renamed(cert, '"Twice"'),
      renamed(cert, '"Twice"'),
      renamed(trust, '"Twice"'),
      renamed(cert, '"Blacklisted One"'),
      renamed(trust, '"Blacklisted One"'),
      renamed(cert, untrusted),
      renamed(trust, untrusted).replace("CKT_NSS_TRUSTED_DELEGATOR", "CKT_NSS_NOT_TRUSTED"),
    ];
    const text = `# header\nBEGINDATA\n${synthetic.join("\n\n")}\n`;
    for (const awk of awks) {
      const [python, ours] = splitBoth(join(root, `synthetic-${awk}`), pythonScript(), text, '# comment\n"Blacklisted One"  # why\n', awk);
      // Not "Blacklisted One" nor "Not For Servers"; the escapes became UTF-8 bytes.
      assert.deepEqual([...python.keys()], ["Twice.crt", "Twice_2.crt", "T\u00fcrk_=Test=__CA_2.crt"]);
      assert.deepEqual([...ours.keys()], [...python.keys()], `${awk}: file names`);
      for (const [name, bytes] of python) assert.ok(ours.get(name)?.equals(bytes), `${awk}: ${name} differs`);
    }
  });

  it("bad input: a clear message and a non-zero exit, no certificate written", () => {
    const cases: Array<[string, RegExp]> = [
      ["no data marker\n", /no BEGINDATA line/],
      ["BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_CERTIFICATE\nCKA_VALUE MULTILINE_OCTAL\n\\060\\202\n", /ends inside a MULTILINE_OCTAL value/],
      ["BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_NSS_BUILTIN_ROOT_LIST\n", /no trusted certificate/],
      [
        'BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_CERTIFICATE\nCKA_LABEL UTF8 "A\\u00fc"\nCKA_VALUE MULTILINE_OCTAL\n\\060\nEND\n\nCKA_CLASS CK_OBJECT_CLASS CKO_NSS_TRUST\nCKA_LABEL UTF8 "A\\u00fc"\nCKA_TRUST_SERVER_AUTH CK_TRUST CKT_NSS_TRUSTED_DELEGATOR\n',
        /an escape other than/,
      ],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const dir = join(root, `bad-${i}`);
      mkdirSync(dir);
      writeFileSync(join(dir, "certdata.txt"), text);
      const r = runAwk(awks[0] ?? "awk", dir);
      assert.notEqual(r.status, 0, `case ${i} exits non-zero`);
      assert.match(r.stdout, message);
      assert.deepEqual([...outputs(dir).keys()], [], `case ${i} writes nothing`);
    }
  });
});
