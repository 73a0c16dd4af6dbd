import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT, runBin, tempDir } from "../helpers.js";

describe("bin/undistro end to end", () => {
  it("keygen, apk create, info, verify, index, index verify, extract", (t) => {
    const dir = tempDir(t);
    const k = runBin(["keygen", "--apk", join(dir, "melange"), "--bits", "2048"]);
    assert.equal(k.code, 0, k.stderr);
    assert.equal(statSync(join(dir, "melange.rsa")).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, "melange.rsa"), "utf8"), /^-----BEGIN RSA PRIVATE KEY-----/);
    assert.match(readFileSync(join(dir, "melange.rsa.pub"), "utf8"), /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(runBin(["keygen", "--apk", join(dir, "melange")]).code, 1, "refuses to overwrite a key");

    mkdirSync(join(dir, "stage/usr/bin"), { recursive: true });
    writeFileSync(join(dir, "stage/usr/bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    mkdirSync(join(dir, "repo/x86_64"), { recursive: true });
    const apk = join(dir, "repo/x86_64/hello-1.0-r0.apk");
    const c = runBin(
      [
        "apk",
        "create",
        join(dir, "stage"),
        "--name",
        "hello",
        "--version",
        "1.0-r0",
        "--arch",
        "x86_64",
        "--depends",
        "so:libc.so.6",
        "--depends",
        "busybox",
        "--provides",
        "cmd:hello=1.0-r0",
        "--signing-key",
        join(dir, "melange.rsa"),
        "--out",
        apk,
      ],
      { env: { SOURCE_DATE_EPOCH: "1234" } },
    );
    assert.equal(c.code, 0, c.stderr);

    const info = runBin(["apk", "info", apk, "--json"]);
    assert.equal(info.code, 0, info.stderr);
    const j = JSON.parse(info.stdout);
    assert.equal(j.info.name, "hello");
    assert.deepEqual(j.info.depends, ["so:libc.so.6", "busybox"]);
    assert.deepEqual(j.info.provides, ["cmd:hello=1.0-r0"]);
    assert.equal(j.info.buildDate, 1234);
    assert.deepEqual(j.signatures, [{ algorithm: "RSA256", keyName: "melange.rsa.pub" }]);
    assert.ok(j.files.some((f: { path: string; mode: string }) => f.path === "usr/bin/hello" && f.mode === "0755"));
    const text = runBin(["apk", "info", apk]);
    assert.match(text.stdout, /^name: +hello$/m);

    mkdirSync(join(dir, "keys"));
    writeFileSync(join(dir, "keys/melange.rsa.pub"), readFileSync(join(dir, "melange.rsa.pub")));
    const v = runBin(["apk", "verify", apk, "--keys-dir", join(dir, "keys")]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /OK hello-1.0-r0, signed RSA256 by melange.rsa.pub/);

    const ix = runBin(["index", join(dir, "repo/x86_64"), "--signing-key", join(dir, "melange.rsa")]);
    assert.equal(ix.code, 0, ix.stderr);
    const iv = runBin(["index", "verify", join(dir, "repo/x86_64/APKINDEX.tar.gz"), "--keys-dir", join(dir, "keys"), "--json"]);
    assert.equal(iv.code, 0, iv.stderr);
    assert.equal(JSON.parse(iv.stdout).packages, 1);

    const ex = runBin(["apk", "extract", apk, join(dir, "root"), "--keys-dir", join(dir, "keys")]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(readFileSync(join(dir, "root/usr/bin/hello"), "utf8"), "#!/bin/sh\necho hello\n");

    const bad = runBin(["apk", "verify", apk, "--keys-dir", join(dir, "stage")]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error\[APK_UNKNOWN_KEY\]/);
  });

  it("reports usage errors with exit code 2", () => {
    assert.equal(runBin(["apk", "create", "x"]).code, 2);
    assert.equal(runBin(["no-such-command"]).code, 2);
    assert.equal(runBin(["index", "verify", "x"]).code, 2);
    assert.equal(runBin(["--help"]).code, 0);
  });
});

describe("README main job", () => {
  it("fails at once, naming the tool, when a promised step cannot run (skipping is only on request)", (t) => {
    const bin = join(tempDir(t), "bin");
    mkdirSync(bin);
    for (const tool of ["node", "uname", "dirname", "bwrap", "aarch64-linux-gnu-gcc", "qemu-aarch64-static", "umoci"]) {
      const found = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      if (found) symlinkSync(found, join(bin, tool));
    }
    const r = spawnSync("/bin/bash", ["scripts/main-job.sh"], {
      cwd: REPO_ROOT,
      env: { ...process.env, PATH: bin, UNDISTRO_OUT: tempDir(t) },
      encoding: "utf8",
    });
    assert.equal(r.status, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /main job: the runc step needs runc, which is not installed/);
    assert.match(r.stderr, /UNDISTRO_MAIN_JOB_SKIP=runc/);
    assert.equal(r.stdout, "", "nothing was started");
  });

  it("scripts/main-job.sh builds from source, verifies, builds and runs the images", (t) => {
    const out = tempDir(t);
    const r = spawnSync("bash", ["scripts/main-job.sh"], {
      cwd: REPO_ROOT,
      env: { ...process.env, UNDISTRO_OUT: out },
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /main job: OK/);
    assert.match(r.stdout, /^Hello, world!$/m);
    const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
    const repo = readdirSync(join(out, "repo", arch)).sort();
    for (const f of ["APKINDEX.tar.gz", "hello-2.12.3-r0.apk", "undistro-baselayout-0.1-r0.apk", "linux-headers-6.12.8-r0.apk"])
      assert.ok(repo.includes(f), `${f} in ${repo.join(", ")}`);
    // The Linux UAPI headers come from the kernel release built here, and busybox is built against them.
    const member = (apk: string, path: string) => spawnSync("tar", ["-xzOf", join(out, "repo", arch, apk), path], { encoding: "utf8" }).stdout;
    assert.match(member("linux-headers-6.12.8-r0.apk", "usr/include/linux/version.h"), /LINUX_VERSION_SUBLEVEL 8$/m);
    const busyboxSbom = JSON.parse(member("busybox-1.37.0-r1.apk", "var/lib/db/sbom/busybox-1.37.0-r1.spdx.json")) as {
      packages: { name: string; comment?: string }[];
    };
    assert.match(busyboxSbom.packages.find((p) => p.name === "linux-headers")?.comment ?? "", /build environment package from the repository/);
    assert.ok(readdirSync(join(out, "images/hello")).includes("index.json"));
    assert.ok(readdirSync(join(out, "repo/provenance", arch)).includes("hello-2.12.3-r0.apk.intoto.jsonl"), "signed package provenance");
    // The images went through the embedded registry and came back with the same digest.
    const latest = (file: string) =>
      (JSON.parse(readFileSync(file, "utf8")).manifests as { digest: string; annotations?: Record<string, string> }[]).find(
        (m) => m.annotations?.["org.opencontainers.image.ref.name"] === "latest",
      )?.digest;
    const built = latest(join(out, "images/hello/index.json"));
    const pulled = latest(join(out, "pulled/hello/index.json"));
    assert.ok(built);
    assert.equal(pulled, built);
    assert.match(r.stdout, new RegExp(`/undistro/hello@${built}`));
    assert.match(r.stdout, /signature verified \(docker-reference 127\.0\.0\.1:\d+\/undistro\/hello\)/);
    assert.equal((r.stdout.match(/^ {2}ok {5}required (signature|provenance|sbom)$/gm) ?? []).length, 9, "hello, base and static: signature, provenance, sbom");
    // The catalogue shows every image as pulled back, its signature verified with the trusted keys
    // and its attested SBOMs downloadable.
    const helloPage = readFileSync(join(out, "catalog/images/hello.html"), "utf8");
    assert.match(helloPage, /<span class="good">signed, verified<\/span>/);
    assert.match(helloPage, /\(attested, signature verified\)/);
    assert.match(readFileSync(join(out, "catalog/images.html"), "utf8"), /images\/static\.html/);
    // The security feed is published beside the index, and the daily rebuild finds nothing to do.
    assert.equal(JSON.parse(readFileSync(join(out, "repo/security.json"), "utf8")).reponame, "undistro");
    assert.match(r.stdout, /^nothing changed: no package or image to rebuild$/m);
    assert.match(r.stdout, /^unchanged images: base, hello, static$/m);

    // Hermetic: with the repository the job built, a step's root is made only of busybox and musl.
    const probes = join(out, "probes");
    mkdirSync(probes);
    copyFileSync(join(REPO_ROOT, "test/fixtures/hermetic/hermetic-probe.yaml"), join(probes, "hermetic-probe.yaml"));
    copyFileSync(join(REPO_ROOT, "test/fixtures/hermetic/needs-gcc.yaml"), join(probes, "needs-gcc.yaml"));
    const hermetic = (recipe: string) =>
      runBin(["build", join(probes, recipe), "--hermetic", "--out", join(out, "repo"), "--signing-key", join(out, "keys/undistro.rsa")]);
    const probe = hermetic("hermetic-probe.yaml");
    assert.equal(probe.code, 0, probe.stderr);
    const seen = (f: string) => member("hermetic-probe-1-r0.apk", `usr/share/hermetic-probe/${f}`);
    assert.deepEqual(seen("installed").trim().split("\n").sort(), ["P:busybox", "P:musl"], "the root holds busybox and its musl, nothing else");
    assert.deepEqual(
      seen("host-files").trim().split("\n"),
      ["/etc/shadow", "/usr/bin/gcc", "/usr/bin/cc", "/usr/bin/perl", "/usr/bin/python3", "/usr/lib/x86_64-linux-gnu"].map((f) => `absent ${f}`),
    );
    assert.equal(seen("awk-replacement"), "C\\+\\+\n", "busybox's awk keeps the backslashes (undistro's patch)");
    const commands = seen("commands").trim().split("\n");
    assert.ok(commands.includes("sh") && commands.includes("busybox") && !commands.includes("gcc") && !commands.includes("make"), commands.join(" "));
    const probeSbom = JSON.parse(member("hermetic-probe-1-r0.apk", "var/lib/db/sbom/hermetic-probe-1-r0.spdx.json")) as {
      packages: { name: string; comment?: string; externalRefs?: { referenceLocator: string }[] }[];
    };
    const environment = probeSbom.packages.filter((p) => /installed as the build root \(hermetic\)/.test(p.comment ?? "")).map((p) => p.name);
    assert.deepEqual(environment.sort(), ["busybox", "musl"]);
    assert.ok(!JSON.stringify(probeSbom).includes("pkg:deb/"), "no host package in a hermetic build's SBOM");
    // For another architecture, hermetically: the root is still this machine's (busybox and musl
    // for x86_64), and the compiler the step is given is undistro's cross compiler, never the
    // build machine's (Debian's aarch64-linux-gnu-gcc is installed here, and not used).
    const hermeticForAarch64 = (recipe: string) => {
      const r = runBin([
        "build",
        join(probes, recipe),
        "--hermetic",
        "--arch",
        "aarch64",
        "--out",
        join(out, "repo"),
        "--signing-key",
        join(out, "keys/undistro.rsa"),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const apk = join(out, "repo/aarch64", `${recipe.replace(/\.yaml$/, "")}-1-r0.apk`);
      return (member: string) => spawnSync("tar", ["-xzOf", apk, member], { encoding: "utf8" }).stdout;
    };
    const crossMember = hermeticForAarch64("hermetic-probe.yaml");
    const crossSeen = (f: string) => crossMember(`usr/share/hermetic-probe/${f}`);
    assert.equal(crossSeen("cc"), "aarch64-undistro-linux-musl-gcc\n");
    assert.equal(seen("cc"), "\n");
    assert.deepEqual(crossSeen("installed").trim().split("\n").sort(), ["P:busybox", "P:musl"]);
    // The target's side of a cross build: the environment's development packages, installed for
    // aarch64 at /sysroot (read-only) beside the root's own for this machine, each side recorded.
    copyFileSync(join(REPO_ROOT, "test/fixtures/hermetic/sysroot-probe.yaml"), join(probes, "sysroot-probe.yaml"));
    const sysrootMember = hermeticForAarch64("sysroot-probe.yaml");
    const sysrootSeen = (f: string) => sysrootMember(`usr/share/sysroot-probe/${f}`);
    assert.equal(sysrootSeen("machines"), `/: ${arch === "x86_64" ? "3e" : "b7"}\n/sysroot: b7\n`);
    assert.deepEqual(sysrootSeen("sysroot-installed").trim().split("\n").sort(), [
      "P:musl\tA:aarch64",
      "P:musl-dev\tA:aarch64",
      "P:zlib\tA:aarch64",
      "P:zlib-dev\tA:aarch64",
    ]);
    assert.equal(sysrootSeen("variables"), "/sysroot\n/sysroot/usr/lib/pkgconfig:/sysroot/usr/share/pkgconfig\n/sysroot\n");
    assert.equal(sysrootSeen("sysroot-mode"), "read-only\n");
    // CC: musl-gcc is the target's wrapper, whose specs give aarch64's start files and dynamic
    // linker (the root's own would give this machine's: the cross linker refuses them).
    assert.equal(sysrootSeen("cc"), "/sysroot/usr/bin/musl-gcc\n");
    assert.equal(sysrootSeen("target-files"), "/sysroot/usr/lib/Scrt1.o\nld-musl-aarch64.so.1\n");
    const sysrootRecord = JSON.parse(sysrootMember(".undistro-build.json")) as {
      environment: { packages: { name: string; arch: string }[]; sysroot?: { arch: string; packages: { name: string; arch: string }[] } };
    };
    assert.deepEqual(
      sysrootRecord.environment.packages.map((p) => `${p.name}/${p.arch}`).sort(),
      ["busybox", "musl", "musl-dev", "zlib", "zlib-dev"].map((n) => `${n}/${arch}`).sort(),
    );
    assert.equal(sysrootRecord.environment.sysroot?.arch, "aarch64");
    assert.deepEqual(sysrootRecord.environment.sysroot?.packages.map((p) => `${p.name}/${p.arch}`).sort(), [
      "musl-dev/aarch64",
      "musl/aarch64",
      "zlib-dev/aarch64",
      "zlib/aarch64",
    ]);
    const forgot = hermetic("needs-gcc.yaml");
    assert.equal(forgot.code, 1);
    assert.match(
      forgot.stderr,
      /error\[BUILD_MISSING_COMMAND\]: .*needs-gcc\.yaml: step pipeline\[0\] .*runs `gcc`, which no package in the build root provides/,
    );
    assert.match(forgot.stderr, /hint: no package in .* provides cmd:gcc/);

    // The daily rebuild, hermetically: a recipe new to its repository is built in a root of the
    // job's busybox and musl (--repository-append), and its image made; the next day has nothing to do.
    const daily = join(out, "daily");
    for (const d of ["packages", "images", "advisories"]) mkdirSync(join(daily, d), { recursive: true });
    copyFileSync(join(REPO_ROOT, "test/fixtures/hermetic/hermetic-probe.yaml"), join(daily, "packages/hermetic-probe.yaml"));
    writeFileSync(join(daily, "images/probe.yaml"), `contents:\n  packages:\n    - hermetic-probe\narchs: [${arch}]\n`);
    const rebuild = () =>
      runBin([
        "rebuild",
        "--hermetic",
        "--repository-append",
        join(out, "repo"),
        ...["--packages", "--images", "--advisories"].flatMap((flag) => [flag, join(daily, flag.slice(2))]),
        "--repository",
        join(daily, "repo"),
        "--signing-key",
        join(out, "keys/undistro.rsa"),
        "--json",
      ]);
    const day1 = rebuild();
    assert.equal(day1.code, 0, day1.stderr);
    const day1Result = JSON.parse(day1.stdout) as { built: { package: string }[]; images: { name: string }[] };
    assert.deepEqual(
      day1Result.built.map((b) => b.package),
      ["hermetic-probe"],
    );
    assert.deepEqual(
      day1Result.images.map((i) => i.name),
      ["probe"],
    );
    const dailyApk = join(daily, "repo", arch, "hermetic-probe-1-r0.apk");
    const dailyMember = (m: string) => spawnSync("tar", ["-xzOf", dailyApk, m], { encoding: "utf8" }).stdout;
    assert.deepEqual(dailyMember("usr/share/hermetic-probe/installed").trim().split("\n").sort(), ["P:busybox", "P:musl"]);
    assert.equal((JSON.parse(dailyMember(".undistro-build.json")) as { settings: { hermetic: boolean } }).settings.hermetic, true);
    const day2 = rebuild();
    assert.equal(day2.code, 0, day2.stderr);
    assert.deepEqual((JSON.parse(day2.stdout) as { built: unknown[] }).built, []);

    // The bootstrap in miniature: a stage seeded with the job's busybox and musl, a hermetic stage
    // rebuilt from it that must match it byte for byte, and one built with the host's tools that must not.
    const bs = join(out, "bootstrap");
    const seed = join(bs, "seed", arch);
    mkdirSync(seed, { recursive: true });
    for (const f of repo.filter((f) => /^(busybox|musl)-\d.*\.apk$/.test(f))) copyFileSync(join(out, "repo", arch, f), join(seed, f));
    assert.equal(runBin(["index", seed, "--signing-key", join(out, "keys/undistro.rsa")]).code, 0);
    const bootstrap = (stages: string) =>
      runBin([
        "bootstrap",
        "--stages-file",
        join(REPO_ROOT, "test/fixtures/bootstrap/stages.yaml"),
        "--stages",
        stages,
        "--out",
        bs,
        "--signing-key",
        join(out, "keys/undistro.rsa"),
        "--json",
      ]);
    const first = bootstrap("seed,again");
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout) as {
      stages: {
        name: string;
        built: { recipe: string }[];
        fresh: string[];
        comparison?: { identical: { file: string; sha256: string }[]; different: unknown[] };
      }[];
    };
    assert.deepEqual(
      report.stages.map((s) => [s.name, s.built.map((b) => b.recipe)]),
      [
        ["seed", ["hermetic-probe"]],
        ["again", ["hermetic-probe"]],
      ],
    );
    assert.deepEqual(
      report.stages[1]?.comparison?.identical.map((p) => p.file),
      ["hermetic-probe-1-r0.apk"],
    );
    assert.deepEqual(report.stages[1]?.comparison?.different, []);
    const warm = JSON.parse(bootstrap("seed-again").stdout) as typeof report;
    assert.deepEqual(
      warm.stages.map((s) => [s.built.length, s.fresh]),
      [
        [0, ["hermetic-probe"]],
        [0, ["hermetic-probe"]],
      ],
      "a second bootstrap rebuilds nothing",
    );
    const host = bootstrap("host");
    assert.equal(host.code, 1, host.stdout);
    const failed = JSON.parse(host.stdout) as typeof report & { error: { code: string; message: string } };
    assert.equal(failed.error.code, "BOOTSTRAP_NOT_REPRODUCED");
    assert.match(failed.error.message, /host differs from seed: hermetic-probe-1-r0\.apk/);
    assert.equal(failed.stages[0]?.comparison?.identical.length, 0);
    // diffoscope (scripts/setup.sh installs it) says where: the probe saw the host's files.
    const difference = (failed.stages[0]?.comparison as { different: { report?: string }[] } | undefined)?.different[0]?.report;
    assert.ok(difference, "a diffoscope report for the differing package");
    assert.match(readFileSync(difference, "utf8"), /host-files/);
    // A cross stage: its packages are aarch64's, its roots this machine's (seed's busybox, zlib and
    // musl-dev), its /sysroot from its own repository (seeded here with the job's aarch64 zlib and musl-dev).
    for (const f of repo.filter((f) => /^(zlib|zlib-dev|musl-dev)-\d.*\.apk$/.test(f))) copyFileSync(join(out, "repo", arch, f), join(seed, f));
    assert.equal(runBin(["index", seed, "--signing-key", join(out, "keys/undistro.rsa")]).code, 0);
    const crossSeed = join(bs, "cross/aarch64");
    mkdirSync(crossSeed, { recursive: true });
    for (const f of readdirSync(join(out, "repo/aarch64")).filter((f) => /^(musl|musl-dev|zlib|zlib-dev)-\d.*\.apk$/.test(f)))
      copyFileSync(join(out, "repo/aarch64", f), join(crossSeed, f));
    assert.equal(runBin(["index", crossSeed, "--signing-key", join(out, "keys/undistro.rsa")]).code, 0);
    const cross = bootstrap("cross");
    assert.equal(cross.code, 0, cross.stderr);
    const crossReport = JSON.parse(cross.stdout) as { stages: { name: string; arch: string; built: { recipe: string }[] }[] };
    assert.deepEqual(
      crossReport.stages.map((s) => [s.name, s.arch, s.built.map((b) => b.recipe)]),
      [["cross", "aarch64", ["sysroot-probe"]]],
    );
    const crossRecord = JSON.parse(
      spawnSync("tar", ["-xzOf", join(crossSeed, "sysroot-probe-1-r0.apk"), ".undistro-build.json"], { encoding: "utf8" }).stdout,
    ) as { settings: { arch: string; hermetic: boolean }; environment: { sysroot?: { arch: string } } };
    assert.deepEqual([crossRecord.settings.arch, crossRecord.settings.hermetic, crossRecord.environment.sysroot?.arch], ["aarch64", true, "aarch64"]);
  });
});

describe("daily rebuild wiring", () => {
  it("the CI workflow and the systemd service call commands and flags undistro has", async () => {
    const { parse } = await import("yaml");
    const { runCli } = await import("../helpers.js");
    const workflow = parse(readFileSync(join(REPO_ROOT, ".github/workflows/rebuild.yml"), "utf8"));
    assert.deepEqual(workflow.on.schedule, [{ cron: "17 3 * * *" }]);
    const service = readFileSync(join(REPO_ROOT, "contrib/systemd/undistro-rebuild.service"), "utf8");
    assert.match(readFileSync(join(REPO_ROOT, "contrib/systemd/undistro-rebuild.timer"), "utf8"), /^OnCalendar=daily$/m);
    const scripts = [
      ...(workflow.jobs.rebuild.steps as Array<{ run?: string }>).map((s) => s.run ?? ""),
      ...service.split("\n").filter((l) => l.startsWith("Exec")),
    ].join("\n");
    const calls = [...scripts.replace(/\\\n\s*/g, " ").matchAll(/bin\/undistro ([^|\n;&]*)/g)].map((m) => (m[1] as string).trim().split(/\s+/));
    assert.ok(calls.length >= 6, `${calls.length} undistro calls`);
    for (const tokens of calls) {
      const end = tokens.findIndex((t) => !/^[a-z]+$/.test(t));
      const words = end === -1 ? tokens : tokens.slice(0, end);
      // the longest prefix of the leading words that is a command
      let help = "";
      let command = "";
      for (let n = words.length; n > 0 && !help; n--) {
        const r = await runCli([...words.slice(0, n), "--help"]);
        if (r.code === 0 && !/^Usage: undistro \[options\] \[command\]/.test(r.stdout) && !/\[command\]\n/.test(r.stdout.split("\n")[0] ?? "")) {
          help = r.stdout;
          command = words.slice(0, n).join(" ");
        }
      }
      assert.ok(help, `undistro ${tokens.join(" ")}: a command`);
      for (const flag of tokens.filter((t) => t.startsWith("--"))) assert.ok(help.includes(flag.replace(/=.*/, "")), `undistro ${command} has ${flag}`);
    }
  });
});
