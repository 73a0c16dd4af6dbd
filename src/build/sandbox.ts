/**
 * Runs build steps under bubblewrap: no network (all namespaces unshared), the host's /usr and /etc
 * read-only (stage 0: the host toolchain, said so in the SBOM), the workspace the only writable
 * place, a clean environment, and the sandbox dies with undistro. Never falls back to running bare.
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, type WriteStream } from "node:fs";
import { UndistroError } from "../util/index.js";
import { WORKSPACE } from "./substitute.js";

export interface SandboxRun {
  /** Host directory mounted read-write at /home/build. */
  workspace: string;
  /** Host paths mounted read-only: [host, inside]. */
  readOnly?: Array<[string, string]>;
  script: string;
  /** Directory inside the sandbox to start in (created if missing). */
  workdir?: string;
  env?: Record<string, string>;
  /** Full output goes here when given. */
  logStream?: WriteStream;
  onLine?: (line: string) => void;
  /** Kills the step after this long. */
  timeoutMs?: number;
}

export interface SandboxResult {
  code: number;
  /** Last lines of combined stdout/stderr, for error messages. */
  tail: string[];
  durationMs: number;
}

const BWRAP = "bwrap";
export const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

let checked: true | UndistroError | undefined;

/** Verifies bubblewrap is installed and can create namespaces here; the error says how to fix it. */
export function checkSandbox(): void {
  if (checked === true) return;
  if (checked instanceof UndistroError) throw checked;
  const probe = ["--die-with-parent", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"];
  if (existsSync("/usr/lib64")) probe.push("--symlink", "usr/lib64", "/lib64");
  const r = spawnSync(BWRAP, [...probe, "--", "/bin/true"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    checked = new UndistroError("BUILD_NO_SANDBOX", "bubblewrap (bwrap) is not installed; undistro never builds outside a sandbox", {
      hint: "install it: apt-get install bubblewrap (Debian/Ubuntu), apk add bubblewrap (Alpine/Wolfi), dnf install bubblewrap (Fedora)",
    });
  } else if (r.status !== 0) {
    checked = new UndistroError("BUILD_NO_SANDBOX", `bubblewrap cannot create a sandbox here: ${(r.stderr || r.error?.message || "").trim()}`, {
      hint: "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0), or run in a container started with namespaces allowed",
    });
  } else checked = true;
  if (checked !== true) throw checked;
}

export function sandboxArgs(run: SandboxRun): string[] {
  const args = [
    "--die-with-parent",
    "--unshare-all",
    "--new-session",
    "--hostname",
    "undistro-build",
    "--clearenv",
    "--ro-bind",
    "/usr",
    "/usr",
    "--ro-bind",
    "/etc",
    "/etc",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/sbin",
    "/sbin",
    "--symlink",
    "usr/lib",
    "/lib",
  ];
  if (existsSync("/usr/lib64")) args.push("--symlink", "usr/lib64", "/lib64");
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/var", "--tmpfs", "/var/tmp", "--dir", "/run");
  args.push("--bind", run.workspace, WORKSPACE);
  for (const [host, inside] of run.readOnly ?? []) args.push("--ro-bind", host, inside);
  // The root itself (a tmpfs bwrap made) becomes read-only: only the workspace and /tmp are writable.
  args.push("--remount-ro", "/");
  const env: Record<string, string> = { PATH: BASE_PATH, HOME: WORKSPACE, LANG: "C.UTF-8", TZ: "UTC", TERM: "dumb", ...run.env };
  for (const [k, v] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : 1))) args.push("--setenv", k, v);
  args.push("--chdir", WORKSPACE);
  return args;
}

/** Runs `script` with /bin/sh -e in the sandbox. */
export function runInSandbox(run: SandboxRun): Promise<SandboxResult> {
  checkSandbox();
  const workdir = run.workdir ?? WORKSPACE;
  const quoted = `'${workdir.replace(/'/g, "'\\''")}'`;
  const wrapped = `umask 022\nmkdir -p ${quoted}\ncd ${quoted}\nset -e\n${run.script}\n`;
  const args = [...sandboxArgs(run), "--", "/bin/sh", "-c", wrapped];
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(BWRAP, args, { stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    let partial = "";
    const onData = (chunk: Buffer) => {
      run.logStream?.write(chunk);
      const text = partial + chunk.toString("utf8");
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 40) tail.shift();
        run.onLine?.(l);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    let timer: NodeJS.Timeout | undefined;
    if (run.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), run.timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (partial) tail.push(partial);
      resolve({ code: code ?? (signal ? 128 : 1), tail: tail.slice(-40), durationMs: Date.now() - start });
    });
  });
}

export function openLog(path: string): WriteStream {
  return createWriteStream(path, { flags: "a" });
}
