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

  describe("holds against a root caller (attacks, each refused)", () => {
    // CI and most build machines run undistro as root: every attack below worked there before the
    // sandbox got its own user namespace without capabilities.
    const attack = async (t: import("node:test").TestContext, script: string, readOnly?: Array<[string, string]>) => {
      const ws = tempDir(t);
      const r = await runInSandbox({ workspace: ws, script: `${script}\necho END`, readOnly });
      assert.equal(r.code, 0, r.tail.join("\n"));
      return r.tail;
    };

    it("has no effective, permitted or bounding capabilities", async (t) => {
      const tail = await attack(t, "grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status");
      for (const set of ["CapEff", "CapPrm", "CapBnd", "CapAmb"]) assert.ok(tail.includes(`${set}:\t0000000000000000`), tail.join("\n"));
    });

    it("remount of a read-only bind as read-write is refused and the host file stays as it was", async (t) => {
      const host = tempDir(t);
      writeFileSync(join(host, "victim"), "original");
      const tail = await attack(
        t,
        `if mount -o remount,bind,rw /home/recipe 2>/dev/null; then echo REMOUNTED; else echo remount-refused; fi
echo overwritten > /home/recipe/victim 2>/dev/null && echo WROTE || echo write-refused`,
        [[host, "/home/recipe"]],
      );
      assert.ok(tail.includes("remount-refused") && tail.includes("write-refused"), tail.join("\n"));
      assert.equal(readFileSync(join(host, "victim"), "utf8"), "original");
    });

    it("no bound path but the workspace, /tmp, /var/tmp and /dev/shm is writable", async (t) => {
      const host = tempDir(t);
      const tail = await attack(
        t,
        `for d in / /usr /usr/bin /usr/lib /etc /bin /lib /proc/sys /dev /run /var /home /home/recipe; do
  if ( : > "$d/undistro-attack" ) 2>/dev/null; then echo "WROTE $d"; fi
done
for d in /home/build /tmp /var/tmp /dev/shm; do ( : > "$d/ok" ) && echo "writable $d"; done`,
        [[host, "/home/recipe"]],
      );
      assert.deepEqual(
        tail.filter((l) => l.startsWith("WROTE")),
        [],
      );
      assert.deepEqual(
        tail.filter((l) => l.startsWith("writable")),
        ["writable /home/build", "writable /tmp", "writable /var/tmp", "writable /dev/shm"],
      );
      assert.deepEqual(readdirSync(host), []);
    });

    it("cannot read /etc/shadow, /etc/gshadow or anything under /root", async (t) => {
      const tail = await attack(
        t,
        `for f in /etc/shadow /etc/gshadow; do if [ -s "$f" ] && cat "$f" >/dev/null 2>&1; then echo "READ $f"; else echo "hidden $f"; fi; done
if ls /root >/dev/null 2>&1 && [ -n "$(ls -A /root 2>/dev/null)" ]; then echo "READ /root"; else echo "hidden /root"; fi`,
      );
      assert.ok(existsSync("/etc/shadow"), "the host has a shadow file to protect");
      assert.deepEqual(
        tail.filter((l) => l.startsWith("READ")),
        [],
      );
    });

    it("unshare of new namespaces (user, mount, net) is refused", async (t) => {
      const tail = await attack(
        t,
        `for ns in -U -m -n "-r -m"; do if unshare $ns true 2>/dev/null; then echo "UNSHARED $ns"; else echo "refused $ns"; fi; done`,
      );
      assert.deepEqual(
        tail.filter((l) => l.startsWith("UNSHARED")),
        [],
      );
      assert.equal(tail.filter((l) => l.startsWith("refused")).length, 4);
    });

    it("mount of a new filesystem and chroot are refused", async (t) => {
      const tail = await attack(
        t,
        `mkdir -p /home/build/m
if mount -t tmpfs none /home/build/m 2>/dev/null; then echo MOUNTED; else echo mount-refused; fi
if mount --bind /home/build /home/build/m 2>/dev/null; then echo BOUND; else echo bind-refused; fi
if chroot / true 2>/dev/null; then echo CHROOTED; else echo chroot-refused; fi`,
      );
      assert.ok(
        ["mount-refused", "bind-refused", "chroot-refused"].every((l) => tail.includes(l)),
        tail.join("\n"),
      );
    });

    it("cannot see, signal or ptrace a process outside", async (t) => {
      const { spawn } = await import("node:child_process");
      const outside = spawn("sleep", ["30"]);
      t.after(() => outside.kill("SIGKILL"));
      const pid = outside.pid as number;
      const tail = await attack(
        t,
        `[ -e /proc/${pid} ] && echo "SEES ${pid}" || echo "no /proc/${pid}"
kill -0 ${pid} 2>/dev/null && echo "SIGNALS ${pid}" || echo "no signal"
python3 -c 'import ctypes,sys; l=ctypes.CDLL(None, use_errno=True); r=l.ptrace(16, ${pid}, 0, 0); print("PTRACED" if r == 0 else "ptrace-refused errno %d" % ctypes.get_errno())'`,
      );
      assert.ok(tail.includes(`no /proc/${pid}`) && tail.includes("no signal"), tail.join("\n"));
      assert.ok(
        tail.some((l) => l.startsWith("ptrace-refused")),
        tail.join("\n"),
      );
      assert.equal(outside.exitCode, null, "the outside process is still running");
    });

    it("cannot open a socket to a server on the host's loopback (own network namespace)", async (t) => {
      const server = createServer((s) => s.end("host\n"));
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      t.after(() => server.close());
      const port = (server.address() as { port: number }).port;
      const tail = await attack(
        t,
        `python3 -c 'import socket; s=socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", ${port})); print("CONNECTED")
except OSError as e:
    print("connect-refused", e.errno)'`,
      );
      assert.ok(
        tail.some((l) => l.startsWith("connect-refused")),
        tail.join("\n"),
      );
    });

    it("cannot change the owner of a file to another user", async (t) => {
      const tail = await attack(t, "touch /home/build/f\nchown 1000:1000 /home/build/f 2>/dev/null && echo CHOWNED || echo chown-refused");
      assert.ok(tail.includes("chown-refused"), tail.join("\n"));
    });
  });

  it("kills a step that runs past its time limit", async (t) => {
    const r = await runInSandbox({ workspace: tempDir(t), script: "echo started\nsleep 30\necho NOT-REACHED", timeoutMs: 1000 });
    assert.notEqual(r.code, 0);
    assert.ok(r.timedOut);
    assert.ok(!r.tail.includes("NOT-REACHED"));
    assert.ok(r.durationMs < 20_000);
  });

  it("a build whose step outlives --step-timeout stops with BUILD_STEP_TIMEOUT and no package", (t) => {
    const dir = tempDir(t);
    writeFileSync(
      join(dir, "r.yaml"),
      "package:\n  name: slowstep\n  version: 1.0.0\n  epoch: 0\n  description: d\n  copyright:\n    - license: MIT\npipeline:\n  - runs: |\n      echo begun\n      sleep 60\n",
    );
    runBin(["keygen", "--apk", join(dir, "k"), "--bits", "2048"]);
    const r = runBin(["build", join(dir, "r.yaml"), "--out", join(dir, "out"), "--signing-key", join(dir, "k.rsa"), "--step-timeout", "2s"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error\[BUILD_STEP_TIMEOUT\]: .*r\.yaml: step pipeline\[0\] .* ran past its time limit \(2000 ms\)/m);
    assert.match(r.stderr, /\| begun/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.equal(existsSync(join(dir, "out", "x86_64", "slowstep-1.0.0-r0.apk")), false);
  });

  it("git-checkout without a full expected-commit is refused before anything runs", (t) => {
    const dir = tempDir(t);
    for (const [pin, says] of [
      ["", "no expected-commit"],
      ["      expected-commit: abc123\n", 'an invalid expected-commit "abc123"'],
    ] as const) {
      writeFileSync(
        join(dir, "r.yaml"),
        `package:\n  name: unpinned\n  version: 1.0.0\n  epoch: 0\n  description: d\n  copyright:\n    - license: MIT\npipeline:\n  - uses: git-checkout\n    with:\n      repository: file://${dir}\n      tag: v1.0.0\n${pin}`,
      );
      if (!existsSync(join(dir, "k.rsa"))) runBin(["keygen", "--apk", join(dir, "k"), "--bits", "2048"]);
      const r = runBin(["build", join(dir, "r.yaml"), "--out", join(dir, "out"), "--signing-key", join(dir, "k.rsa")]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error\[BUILD_SOURCE_UNPINNED\]: .*r\.yaml: pipeline\[0\]: git-checkout of file:\/\//m);
      assert.ok(r.stderr.includes(says), r.stderr);
      assert.match(r.stderr, /hint: pin the source/);
    }
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
