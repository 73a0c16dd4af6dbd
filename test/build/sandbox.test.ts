import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runInSandbox } from "../../src/build/index.js";
import { runBin, tempDir } from "../helpers.js";

describe("build sandbox", () => {
  it("has no network: a server on the host's loopback is unreachable, only lo exists", async (t) => {
    const ws = tempDir(t);
    const server = createServer((s) => s.end("hello from the host\n"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    // Prove the probe works outside the sandbox first, with the same tool.
    // (asynchronously: the server lives in this process's event loop)
    const { execFile } = await import("node:child_process");
    const outside = await new Promise<string>((resolve) =>
      execFile("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && head -1 <&3`], { timeout: 5000 }, (_e, stdout) => resolve(stdout)),
    );
    assert.match(outside, /hello from the host/);
    const r = await runInSandbox({
      workspace: ws,
      script: `if bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null; then echo CONNECTED; else echo no-connection; fi
grep -c : /proc/net/dev
if getent hosts deb.debian.org >/dev/null 2>&1; then echo RESOLVED; else echo no-dns; fi`,
    });
    assert.equal(r.code, 0, r.tail.join("\n"));
    assert.deepEqual(r.tail, ["no-connection", "1", "no-dns"]);
  });

  it("can write only in its workspace and /tmp; sees none of the host's other files", async (t) => {
    const ws = tempDir(t);
    const outside = tempDir(t);
    writeFileSync(join(outside, "secret"), "host secret");
    const r = await runInSandbox({
      workspace: ws,
      script: `for p in /usr/evil /etc/evil /evil /home/evil ${outside}/evil; do
  if touch "$p" 2>/dev/null; then echo "WROTE $p"; else echo "denied $p"; fi
done
cat ${outside}/secret 2>/dev/null || echo "no host file"
touch /home/build/made-inside && echo "workspace ok"
touch /tmp/scratch && echo "tmp ok"`,
    });
    assert.equal(r.code, 0, r.tail.join("\n"));
    assert.ok(!r.tail.some((l) => l.startsWith("WROTE")), r.tail.join("\n"));
    assert.ok(r.tail.includes("no host file"));
    assert.ok(r.tail.includes("workspace ok") && r.tail.includes("tmp ok"));
    assert.ok(existsSync(join(ws, "made-inside")));
    assert.equal(existsSync(join(outside, "evil")), false);
    assert.equal(readFileSync(join(outside, "secret"), "utf8"), "host secret");
  });

  it("starts from a clean environment", async (t) => {
    process.env.UNDISTRO_LEAK_CHECK = "leaked";
    t.after(() => {
      delete process.env.UNDISTRO_LEAK_CHECK;
    });
    const r = await runInSandbox({ workspace: tempDir(t), script: "env | sort", env: { CFLAGS: "-O2" } });
    const vars = new Map(r.tail.map((l) => [l.split("=")[0], l.slice(l.indexOf("=") + 1)]));
    assert.equal(vars.get("UNDISTRO_LEAK_CHECK"), undefined);
    assert.equal(vars.get("HOME"), "/home/build");
    assert.equal(vars.get("CFLAGS"), "-O2");
    assert.equal(vars.get("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  });

  it("reports the exit code and the last lines", async (t) => {
    const r = await runInSandbox({ workspace: tempDir(t), script: "echo one\necho two >&2\nexit 7" });
    assert.equal(r.code, 7);
    assert.deepEqual(r.tail, ["one", "two"]);
  });

  it("without bubblewrap a build stops with BUILD_NO_SANDBOX and how to install it, writing nothing", (t) => {
    const dir = tempDir(t);
    // A PATH that has node (to run the CLI) but no bwrap.
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    writeFileSync(
      join(dir, "r.yaml"),
      "package:\n  name: nosandbox\n  version: 1.0.0\n  epoch: 0\n  description: d\n  copyright:\n    - license: MIT\npipeline:\n  - runs: echo built\n",
    );
    runBin(["keygen", "--apk", join(dir, "k"), "--bits", "2048"]);
    const r = runBin(["build", join(dir, "r.yaml"), "--out", join(dir, "out"), "--signing-key", join(dir, "k.rsa")], { env: { PATH: bin } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error\[BUILD_NO_SANDBOX\]: bubblewrap \(bwrap\) is not installed/m);
    assert.match(r.stderr, /hint: install it: apt-get install bubblewrap/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    const written = existsSync(join(dir, "out")) ? readdirSync(join(dir, "out"), { recursive: true }).map(String) : [];
    assert.deepEqual(
      written.filter((f) => f.endsWith(".apk")),
      [],
    );
  });
});
