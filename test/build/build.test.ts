import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, it } from "node:test";
import Ajv2019 from "ajv/dist/2019.js";
import { ApkKeyring, extractPackage, generateApkKey, loadSigningKey, readIndexFile, readPackage, verifyIndex, verifyPackage } from "../../src/apk/index.js";
import { type BuildEvent, buildRecipe, parseBuildRecord } from "../../src/build/index.js";
import { verifyDsse } from "../../src/sign/index.js";
import { UndistroError } from "../../src/util/index.js";
import { REFERENCE, REPO_ROOT, tempDir } from "../helpers.js";

const MIRROR = join(REPO_ROOT, ".cache/mirror");
const HELLO = join(REPO_ROOT, "distro/packages/hello.yaml");

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

describe("building GNU hello from its upstream tarball", () => {
  let dir: string;
  let key: string;
  before(() => {
    assert.ok(existsSync(join(MIRROR, "sha256")), `no source mirror at ${MIRROR}: run scripts/setup.sh (it runs scripts/fetch-sources.sh)`);
    dir = tempDir();
    key = generateApkKey(join(dir, "builder"), { bits: 2048 }).privateKeyPath;
  });

  it("builds in the sandbox, verifies, carries a valid SBOM, installs into an empty root and runs; twice identical", async () => {
    const attestKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const build = (out: string) =>
      buildRecipe(HELLO, {
        outDir: join(dir, out),
        signingKey: loadSigningKey(key),
        sourceMirrors: [MIRROR],
        // One cache for both builds: the second finds the source there, not in the mirror.
        cacheDir: join(dir, "cache"),
        sourceDateEpoch: 1700000000,
        ...(out === "out1" ? { attestKey: attestKey.privateKey } : {}),
      });
    const first = await build("out1");
    assert.deepEqual(
      first.packages.map((p) => p.name),
      ["hello", "hello-doc", "hello-lang"],
    );
    assert.equal(first.sources[0]?.from, "mirror");
    const ring = ApkKeyring.fromFiles([`${key}.pub`]);
    for (const p of first.packages) assert.equal(verifyPackage(readPackage(p.file), ring).name, p.name);
    assert.equal(verifyIndex(readIndexFile(join(dir, "out1/x86_64/APKINDEX.tar.gz")), ring).packages, 3);

    const hello = readPackage(first.packages[0]?.file as string);
    // The build record in the control section: the recipe's own bytes, and what a rebuild needs besides.
    assert.deepEqual(hello.controlFiles[".melange.yaml"], readFileSync(HELLO));
    const record = parseBuildRecord(hello.controlFiles[".undistro-build.json"] ?? Buffer.alloc(0), "hello");
    assert.equal(record.recipe.sha256, sha256(HELLO));
    assert.deepEqual(record.sources, [
      { uri: "https://ftp.gnu.org/gnu/hello/hello-2.12.3.tar.gz", sha256: "0d5f60154382fee10b114a1c34e785d8b1f492073ae2d3a6f7b147687b366aa0" },
    ]);
    assert.deepEqual(record.settings, { arch: "x86_64", buildArch: "x86_64", distro: "undistro", hermetic: false, sourceDateEpoch: 1700000000 });
    assert.deepEqual(record.environment.hostProvided, ["busybox", "build-base"], "stage 0: the host stands in for the whole environment");
    assert.ok(
      record.host?.some((t) => t.name === "gcc-12"),
      "the host's compiler, by Debian version",
    );
    assert.deepEqual(
      record.steps.filter((s) => s.package === "hello").map((s) => s.kind),
      ["fetch", "run", "run", "run", "run"],
    );
    assert.match(record.steps[1]?.script ?? "", /\.\/configure/, "steps as they ran, pipelines expanded");
    assert.equal(record.steps.find((s) => s.kind === "fetch")?.with?.uri, "https://ftp.gnu.org/gnu/hello/hello-2.12.3.tar.gz");
    // Linked statically (the recipe says why): no so: dependencies, and the ELF reader agrees.
    assert.deepEqual(hello.info.depends, []);
    assert.deepEqual(hello.info.provides, ["cmd:hello=2.12.3-r0"]);
    assert.ok(readPackage(first.packages[1]?.file as string).files.some((f) => f.path.startsWith("usr/share/man/man1/hello.1")));
    assert.ok(readPackage(first.packages[2]?.file as string).files.some((f) => f.path.endsWith("LC_MESSAGES/hello.mo")));

    // The SBOM inside the package, against the official SPDX 2.3 schema in ../shared.
    const sbomEntry = hello.dataEntries.find((e) => e.header.name === "var/lib/db/sbom/hello-2.12.3-r0.spdx.json");
    assert.ok(sbomEntry, "SBOM at var/lib/db/sbom/hello-2.12.3-r0.spdx.json");
    const sbom = JSON.parse(sbomEntry.content.toString("utf8"));
    const schema = JSON.parse(readFileSync(join(REFERENCE, "sigstore/schemas/spdx-2.3-schema.json"), "utf8"));
    const validate = new Ajv2019.default({ strict: false, allErrors: true }).compile(schema);
    assert.ok(validate(sbom), JSON.stringify(validate.errors));
    const text = JSON.stringify(sbom);
    assert.ok(text.includes("pkg:apk/undistro/hello@2.12.3-r0?arch=x86_64"));
    assert.ok(text.includes("https://ftp.gnu.org/gnu/hello/hello-2.12.3.tar.gz"));
    assert.ok(text.includes("0d5f60154382fee10b114a1c34e785d8b1f492073ae2d3a6f7b147687b366aa0"));
    assert.ok(text.includes("GPL-3.0-or-later"));
    assert.match(text, /stage 0/);

    // SLSA provenance per package, signed (DSSE) when a key is given, never inside the repository directory.
    const envPath = first.packages[0]?.provenance as string;
    assert.equal(envPath, join(dir, "out1/provenance/x86_64/hello-2.12.3-r0.apk.intoto.jsonl"));
    const env = JSON.parse(readFileSync(envPath, "utf8"));
    assert.ok(verifyDsse(env, attestKey.publicKey));
    const statement = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8"));
    assert.deepEqual(statement.subject, [{ name: "hello-2.12.3-r0.apk", digest: { sha256: sha256(first.packages[0]?.file as string) } }]);
    assert.equal(statement.predicate.buildDefinition.buildType, "https://undistro.dev/buildtypes/package/v1");
    assert.ok(
      statement.predicate.buildDefinition.resolvedDependencies.some(
        (d: { digest?: { sha256?: string } }) => d.digest?.sha256 === "0d5f60154382fee10b114a1c34e785d8b1f492073ae2d3a6f7b147687b366aa0",
      ),
      "the source tarball, by digest",
    );

    // Install into an empty root and run it there, with nothing from the host.
    const root = join(dir, "root");
    extractPackage(hello, root);
    assert.deepEqual(readdirSync(root).sort(), ["usr", "var"]);
    const run = spawnSync("bwrap", ["--die-with-parent", "--unshare-all", "--bind", root, "/", "--clearenv", "--", "/usr/bin/hello"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "Hello, world!\n");

    // Rebuilt by a caller with another umask: the directories the builder adds keep their modes.
    // The source comes from the builder's cache this time: the packages do not say where from.
    const umask = process.umask(0o002);
    const second = await build("out2").finally(() => process.umask(umask));
    assert.equal(second.sources[0]?.from, "cache");
    for (const [i, p] of first.packages.entries()) {
      const q = second.packages[i];
      assert.ok(q);
      assert.equal(sha256(q.file), sha256(p.file), `${p.name} rebuilt bit-identically`);
      assert.match(q.provenance, /\.apk\.provenance\.json$/, "unsigned statement without a key");
    }
  });

  it("a failing step names the step, its command and the last lines of output; the log keeps everything", async () => {
    const recipe = join(dir, "fails.yaml");
    writeFileSync(
      recipe,
      `package:\n  name: fails\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - runs: echo preparing\n  - name: compile the thing\n    runs: |\n      echo "compiling..."\n      echo "disk on fire" >&2\n      exit 3\n`,
    );
    const logs = join(dir, "logs");
    await assert.rejects(buildRecipe(recipe, { outDir: join(dir, "out-fail"), signingKey: loadSigningKey(key), logDir: logs }), (e: unknown) => {
      assert.ok(e instanceof UndistroError);
      assert.equal(e.code, "BUILD_STEP_FAILED");
      assert.match(e.message, /step pipeline\[1\] \(compile the thing\) failed with exit code 3/);
      assert.match(e.message, /command:\n\s+echo "compiling\.\.\."/);
      assert.match(e.message, /\| disk on fire/);
      assert.match(e.hint ?? "", /full log: .*fails-1\.0-r0\.x86_64\.log/);
      return true;
    });
    assert.match(readFileSync(join(logs, "fails-1.0-r0.x86_64.log"), "utf8"), /preparing[\s\S]*compiling\.\.\.[\s\S]*disk on fire/);
    assert.equal(existsSync(join(dir, "out-fail/x86_64")), false, "nothing written for a failed build");
  });

  it("keepFailedWorkspace: a failed build's workspace stays, named in the hint; the error is the step's", async () => {
    const recipe = join(dir, "fails-late.yaml");
    writeFileSync(
      recipe,
      `package:\n  name: fails-late\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - runs: echo an hour of work > half-done\n  - runs: exit 4\n`,
    );
    let kept = "";
    await assert.rejects(
      buildRecipe(recipe, { outDir: join(dir, "out-late"), signingKey: loadSigningKey(key), logDir: join(dir, "logs"), keepFailedWorkspace: true }),
      (e: unknown) => {
        assert.ok(e instanceof UndistroError);
        assert.equal(e.code, "BUILD_STEP_FAILED");
        assert.match(
          e.hint ?? "",
          /full log: .*fails-late-1\.0-r0\.x86_64\.log; the workspace is kept at (\S+) \(remove it when done\); after a fix, `--resume \S+` runs it again from fails-late: pipeline\[1\] \(exit 4\)$/,
        );
        kept = /kept at (\S+)/.exec(e.hint ?? "")?.[1] ?? "";
        return true;
      },
    );
    assert.equal(readFileSync(join(kept, "half-done"), "utf8"), "an hour of work\n");
    rmSync(dirname(kept), { recursive: true, force: true });
    assert.match(readFileSync(join(dir, "logs/fails-late-1.0-r0.x86_64.log"), "utf8"), /the workspace is kept at /);
    // Built again: the log is that build's alone (the earlier run's lines are gone).
    await assert.rejects(buildRecipe(recipe, { outDir: join(dir, "out-late"), signingKey: loadSigningKey(key), logDir: join(dir, "logs") }));
    const again = readFileSync(join(dir, "logs/fails-late-1.0-r0.x86_64.log"), "utf8");
    assert.equal(again.match(/^undistro .* building /gm)?.length, 1, again);
    assert.doesNotMatch(again, /the workspace is kept at /);
  });

  it("--resume: a failed build runs again from the failed step in its kept workspace, only if the steps before it and the root are unchanged", async () => {
    const recipe = join(dir, "resumable.yaml");
    const write = (first: string, second: string) =>
      writeFileSync(
        recipe,
        `package:\n  name: resumable\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - name: slow part\n    runs: |\n      ${first}\n  - name: late part\n    runs: |\n      ${second}\n`,
      );
    const slow = "echo ran >> count; echo one > a";
    write(slow, "exit 6");
    const opts = { outDir: join(dir, "out-resume"), signingKey: loadSigningKey(key), logDir: join(dir, "logs") };
    let kept = "";
    await assert.rejects(buildRecipe(recipe, { ...opts, keepFailedWorkspace: true }), (e: unknown) => {
      assert.ok(e instanceof UndistroError && e.code === "BUILD_STEP_FAILED");
      kept = /`--resume (\S+)` runs it again from resumable: pipeline\[1\] \(late part\)/.exec(e.hint ?? "")?.[1] ?? "";
      return kept !== "";
    });
    // A changed earlier step: refused (its effects in the workspace are the old step's).
    write("echo two > a", "exit 6");
    await assert.rejects(buildRecipe(recipe, { ...opts, resume: kept }), (e: unknown) => {
      assert.ok(e instanceof UndistroError);
      assert.equal(e.code, "BUILD_RESUME_REFUSED");
      assert.match(e.message, /step pipeline\[0\] \(slow part\) of resumable is not the one the failed build ran/);
      return true;
    });
    // Another recipe's kept directory: refused.
    await assert.rejects(buildRecipe(HELLO, { ...opts, resume: kept }), /it is a build of resumable/);
    // The fix is in the failed step: it runs, the first does not run again.
    write(slow, 'mkdir -p "${{targets.destdir}}/usr/share/r" && cp a count "${{targets.destdir}}/usr/share/r/"');
    const events: BuildEvent[] = [];
    const resumed = await buildRecipe(recipe, { ...opts, resume: kept, onEvent: (e) => events.push(e) });
    assert.equal(resumed.resumedFrom, "resumable: pipeline[1] (late part)");
    assert.deepEqual(
      events.filter((e) => e.type === "resume" || e.type === "step-start").map((e) => (e.type === "resume" ? `resume ${e.skipped}` : e.name)),
      ["resume 1", "late part"],
    );
    const unpacked = join(dir, "resumed-root");
    extractPackage(readPackage(resumed.packages[0]?.file as string), unpacked);
    assert.equal(readFileSync(join(unpacked, "usr/share/r/count"), "utf8"), "ran\n", "the first step ran once, in the failed build");
    assert.equal(readFileSync(join(unpacked, "usr/share/r/a"), "utf8"), "one\n");
    // The record lists both steps, as a build from the start would.
    const record = parseBuildRecord(readPackage(resumed.packages[0]?.file as string).controlFiles[".undistro-build.json"] ?? Buffer.alloc(0), "resumable");
    assert.deepEqual(
      record.steps.map((st) => st.name),
      ["slow part", "late part"],
    );
    assert.equal(existsSync(kept), false, "a successful resume removes the kept directory");
    // The same package as a build from the start of the fixed recipe.
    const clean = await buildRecipe(recipe, { ...opts, outDir: join(dir, "out-resume-clean") });
    assert.equal(clean.packages[0]?.checksum, resumed.packages[0]?.checksum);
  });

  it("a long step reports it is still running, with the time so far and its last printed line, cleaned of control characters", async () => {
    const recipe = join(dir, "slow-step.yaml");
    writeFileSync(
      recipe,
      `package:\n  name: slow-step\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\npipeline:\n  - name: quick\n    runs: echo fast\n  - name: long\n    runs: |\n      printf 'x86_64-undistro-linux-musl-g++ %0200d -o libfoo.o ../src/libfoo.cc\\n'\n      sleep 1\n      printf 'make[2]: Entering directory libfoo \\033[31mred\\033[0m\\n\\n'\n      sleep 1.5\n`,
    );
    const events: BuildEvent[] = [];
    await buildRecipe(recipe, { outDir: join(dir, "out-slow"), signingKey: loadSigningKey(key), stepProgressEveryMs: 400, onEvent: (e) => events.push(e) });
    const beats = events.filter((e) => e.type === "step-progress");
    assert.ok(beats.length >= 2, JSON.stringify(events));
    // Only the long step beat, after the step started and with growing times.
    assert.deepEqual([...new Set(beats.map((e) => e.type === "step-progress" && e.name))], ["long"]);
    const times = beats.map((e) => (e.type === "step-progress" ? e.ms : 0));
    assert.ok(times[0] !== undefined && times[0] >= 400 && times.every((ms, i) => i === 0 || ms > (times[i - 1] ?? 0)), times.join(", "));
    // A long line: its start and its end.
    const long = beats.find((e) => e.type === "step-progress" && e.lastLine?.startsWith("x86_64"));
    assert.match(
      long?.type === "step-progress" ? (long.lastLine ?? "") : "",
      /^x86_64-undistro-linux-musl-g\+\+ 0{29} … 0{67} -o libfoo\.o \.\.\/src\/libfoo\.cc$/,
    );
    // The blank line after it is not the last line; the escape sequences are gone.
    const last = beats.at(-1);
    assert.equal(last?.type === "step-progress" && last.lastLine, "make[2]: Entering directory libfoo red");
    // None after the step ended.
    const ended = events.findIndex((e) => e.type === "step-end" && e.name === "long");
    assert.ok(events.slice(ended).every((e) => e.type !== "step-progress"));
  });

  it("writes the recipe's replaces (and its priority) into the package, where apk and undistro's installer read them", async () => {
    const recipe = join(dir, "real-tool.yaml");
    writeFileSync(
      recipe,
      `package:\n  name: real-tool\n  version: 1.0\n  epoch: 0\n  copyright:\n    - license: MIT\n  dependencies:\n    replaces:\n      - busybox\n    replaces-priority: 5\npipeline:\n  - runs: mkdir -p \${{targets.destdir}}/usr/bin && printf '#!/bin/sh\\n' > \${{targets.destdir}}/usr/bin/real-tool && chmod 755 \${{targets.destdir}}/usr/bin/real-tool\n`,
    );
    const r = await buildRecipe(recipe, { outDir: join(dir, "out-replaces"), signingKey: loadSigningKey(key) });
    const info = readPackage(r.packages[0]?.file as string).info;
    assert.deepEqual([info.replaces, info.replacesPriority], [["busybox"], 5]);
  });

  it("refuses a source whose digest does not match, before any step runs", async () => {
    const src = join(dir, "src.tar.gz");
    spawnSync("tar", ["-czf", src, "-C", dir, "fails.yaml"]);
    mkdirSync(join(dir, "r"), { recursive: true });
    const recipe = join(dir, "r/bad-digest.yaml");
    writeFileSync(
      recipe,
      `package:\n  name: bad-digest\n  version: 1.0\n  epoch: 0\npipeline:\n  - uses: fetch\n    with:\n      uri: file://${src}\n      expected-sha256: ${"0".repeat(64)}\n`,
    );
    await assert.rejects(buildRecipe(recipe, { outDir: join(dir, "out-bad"), signingKey: loadSigningKey(key), cacheDir: join(dir, "c") }), (e: unknown) => {
      assert.ok(e instanceof UndistroError);
      assert.equal(e.code, "SOURCE_DIGEST_MISMATCH");
      assert.match(e.message, new RegExp(`has sha256 ${sha256(src)}, the recipe expects 0{64}`));
      return true;
    });
  });
});
