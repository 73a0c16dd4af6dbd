/**
 * Runs build steps under bubblewrap. Never falls back to running bare. What a step gets:
 * - its own user namespace with no capabilities (`--unshare-user --cap-drop ALL`), so a caller that is
 *   root on the host is, inside, a uid 0 that can neither remount, mount, chroot, change owners nor
 *   create further user namespaces (`--disable-userns`); every other namespace is new too: no network
 *   (only an isolated `lo`), no host processes to see or ptrace, its own hostname;
 * - read-only: the host's /usr and /etc (stage 0/1: the host toolchain, said so in the SBOM), minus
 *   every /etc entry other users of the host could not read (shadow, gshadow, private TLS keys, …:
 *   hidden, because uid 0 inside is still the owner of root's files), and the `readOnly` binds;
 * - writable: the workspace (/home/build, kept), and three empty tmpfs, /tmp, /var/tmp and /dev/shm
 *   (discarded when the step ends). Nothing else: the root and /dev are remounted read-only;
 * - a clean environment, a fresh /proc and a minimal /dev; it dies with undistro and is killed after
 *   `timeoutMs`.
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, lstatSync, readdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { UndistroError } from "../util/index.js";
import { WORKSPACE } from "./substitute.js";

export interface SandboxRun {
  /** Host directory mounted read-write at /home/build. */
  workspace: string;
  /** Host paths mounted read-only: [host, inside]. */
  readOnly?: Array<[string, string]>;
  /**
   * Hermetic: this directory (an installed environment) is the root, read-only, instead of the
   * host's /usr and /etc; it must hold the mount points (proc, dev, tmp, var/tmp, run, home/build).
   */
  root?: string;
  /**
   * Host root only: files to add to /lib as [host file, name] (stage 1's musl dynamic loader, so
   * that programs linked against the repository's musl run in the step, as configure scripts that
   * run what they compile need). /lib is then a directory of links into /usr/lib plus these.
   */
  libExtras?: Array<[string, string]>;
  script: string;
  /** Directory inside the sandbox to start in (created if missing). */
  workdir?: string;
  env?: Record<string, string>;
  /** Full output goes here when given. */
  logStream?: WriteStream;
  onLine?: (line: string) => void;
  /** Kills the step after this long. */
  timeoutMs?: number;
  variation?: SandboxVariation;
}

/**
 * Conditions varied on purpose inside every step, as Debian's reprotest varies them, so that a
 * rebuild shows the package does not depend on them (undistro rebuild-check). Without a variation
 * every step gets the same: uid and gid 0, hostname undistro-build, TZ=UTC, LANG=C.UTF-8, every CPU.
 */
export interface SandboxVariation {
  hostname?: string;
  uid?: number;
  gid?: number;
  /** TZ, unless the recipe sets it. */
  timezone?: string;
  /** LANG, unless the recipe sets it. */
  locale?: string;
  /** The steps run on this many CPUs (sched affinity: `nproc` says so). */
  cpus?: number;
  /** The steps' clock runs this many days ahead (libfaketime; host-toolchain roots only). */
  clockOffsetDays?: number;
}

export interface SandboxResult {
  code: number;
  /** Last lines of combined stdout/stderr, for error messages. */
  tail: string[];
  durationMs: number;
  /** The step was killed because it ran past `timeoutMs`. */
  timedOut: boolean;
}

const BWRAP = "bwrap";
export const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

let checked: true | UndistroError | undefined;

/** Every sandbox's namespaces: all new, its own user namespace without capabilities or nested user namespaces. */
const ISOLATION = ["--die-with-parent", "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"];

/** Verifies bubblewrap is installed and can create namespaces here; the error says how to fix it. */
export function checkSandbox(): void {
  if (checked === true) return;
  if (checked instanceof UndistroError) throw checked;
  // The same namespaces and host root the steps get, so what the probe proves is what they need.
  const r = spawnSync(BWRAP, [...ISOLATION, ...hostRoot(), "--", "/bin/true"], {
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

/** Entries under `dir` that users other than their owner cannot read: these are hidden in the sandbox. */
export function unreadableByOthers(dir: string, limit = 100_000): Array<{ path: string; directory: boolean }> {
  const out: Array<{ path: string; directory: boolean }> = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (out.length >= limit) return;
      const path = join(d, name);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(path);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        if ((st.mode & 0o005) !== 0o005) out.push({ path, directory: true });
        else walk(path);
      } else if ((st.mode & 0o004) === 0) out.push({ path, directory: false });
    }
  };
  walk(dir);
  return out;
}

let hiddenEtc: string[] | undefined;

/**
 * /lib as a directory: a link to each entry of the host's /usr/lib (what the usual /lib -> usr/lib
 * link reaches) plus the extra files, bound read-only. Host entries keep their names.
 */
let usrLibNames: string[] | undefined;
function libWithExtras(extras: Array<[string, string]>): string[] {
  const args = ["--dir", "/lib"];
  const taken = new Set<string>();
  // The host's /usr/lib does not change during a run: listed once, not at every step.
  usrLibNames ??= readdirSync("/usr/lib").sort();
  for (const name of usrLibNames) {
    taken.add(name);
    args.push("--symlink", `/usr/lib/${name}`, `/lib/${name}`);
  }
  for (const [file, name] of extras) if (!taken.has(name)) args.push("--ro-bind", file, `/lib/${name}`);
  return args;
}

/** Stages 0 and 1: the host's /usr and /etc read-only (its secrets hidden), the usual symlinks. */
function hostRoot(libExtras: Array<[string, string]> = []): string[] {
  const args = [
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
    ...(libExtras.length ? libWithExtras(libExtras) : ["--symlink", "usr/lib", "/lib"]),
  ];
  if (existsSync("/usr/lib64")) args.push("--symlink", "usr/lib64", "/lib64");
  args.push(...hideHostSecrets());
  return args;
}

/** bwrap arguments that cover /etc's unreadable entries: an empty read-only tmpfs or /dev/null. */
function hideHostSecrets(): string[] {
  if (hiddenEtc) return hiddenEtc;
  const args: string[] = [];
  for (const e of unreadableByOthers("/etc")) {
    if (e.directory) args.push("--perms", "0000", "--tmpfs", e.path, "--remount-ro", e.path);
    else args.push("--ro-bind", "/dev/null", e.path);
  }
  hiddenEtc = args;
  return args;
}

export function sandboxArgs(run: SandboxRun): string[] {
  const v = run.variation ?? {};
  const ids = ["--uid", String(v.uid ?? 0), "--gid", String(v.gid ?? 0)];
  const args = [...ISOLATION, ...ids, "--new-session", "--hostname", v.hostname ?? "undistro-build", "--clearenv"];
  if (run.root) args.push("--ro-bind", run.root, "/");
  else args.push(...hostRoot(run.libExtras));
  args.push(
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/dev/shm",
    "--remount-ro",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--dir",
    "/var",
    "--tmpfs",
    "/var/tmp",
    "--dir",
    "/run",
  );
  // A read-only root cannot take new mount points: the source and git caches get a tmpfs to hold theirs.
  if (run.root) args.push("--tmpfs", "/var/cache");
  args.push("--bind", run.workspace, WORKSPACE);
  for (const [host, inside] of run.readOnly ?? []) args.push("--ro-bind", host, inside);
  // The root itself (a tmpfs bwrap made) becomes read-only: only the workspace and the tmpfs are writable.
  args.push("--remount-ro", "/");
  const env: Record<string, string> = { PATH: BASE_PATH, HOME: WORKSPACE, LANG: v.locale ?? "C.UTF-8", TZ: v.timezone ?? "UTC", TERM: "dumb", ...run.env };
  for (const [k, v] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : 1))) args.push("--setenv", k, v);
  args.push("--chdir", WORKSPACE);
  return args;
}

/** `value` as one POSIX shell word, whatever it holds (recipe values reach scripts through this). */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** Runs `script` with /bin/sh -e in the sandbox. */
export function runInSandbox(run: SandboxRun): Promise<SandboxResult> {
  checkSandbox();
  const workdir = run.workdir ?? WORKSPACE;
  const quoted = shellQuote(workdir);
  const wrapped = `umask 022\nmkdir -p ${quoted}\ncd ${quoted}\nset -e\n${run.script}\n`;
  const argv = [...affinity(run.variation), BWRAP, ...sandboxArgs(run), "--", ...clock(run), "/bin/sh", "-c", wrapped];
  const [command = BWRAP, ...args] = argv;
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
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
    let timedOut = false;
    if (run.timeoutMs)
      timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, run.timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (partial) tail.push(partial);
      resolve({ code: code ?? (signal ? 128 : 1), tail: tail.slice(-40), durationMs: Date.now() - start, timedOut });
    });
  });
}

/** `taskset` to the first N CPUs when the variation asks for fewer (affinity is inherited by the whole step). */
function affinity(v: SandboxVariation | undefined): string[] {
  if (!v?.cpus) return [];
  return ["taskset", "--cpu-list", v.cpus === 1 ? "0" : `0-${v.cpus - 1}`];
}

/** libfaketime's wrapper in front of the step's shell: only where the root has it (the host's /usr). */
function clock(run: SandboxRun): string[] {
  const days = run.variation?.clockOffsetDays;
  if (!days || !clockCanVary(run)) return [];
  return ["/usr/bin/faketime", "-f", `+${days}d`];
}

/** Whether a step's clock can be moved: libfaketime is glibc's, so only in the host's root. */
export function clockCanVary(run: Pick<SandboxRun, "root">): boolean {
  return run.root === undefined && existsSync("/usr/bin/faketime");
}

/** A build's log, begun afresh: a rebuild's log holds that build alone, never an older run's errors. */
export function openLog(path: string): WriteStream {
  return createWriteStream(path, { flags: "w" });
}
