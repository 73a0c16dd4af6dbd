// The error and JSON helpers alone, not util/index.js: that pulls in the YAML parser, which the
// CLI's start (--version, a command that reads no YAML) should not pay for.
import { isUndistroError } from "../util/errors.js";
import { sortedJson } from "../util/json.js";

/** Where commands print: data to stdout, progress and errors to stderr. Tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stderr is a terminal (progress lines redraw in place). */
  interactive: boolean;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  interactive: Boolean(process.stderr.isTTY),
};

export function printJson(io: Io, value: unknown): void {
  io.out(`${sortedJson(value)}\n`);
}

/** "1 package", "2 packages": a count and its noun, plural by adding "s". */
export const counted = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;

/** A duration for progress lines: "4.2 s" under a minute, else "12 min 5 s" (whole seconds). */
export function duration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  return `${Math.floor(total / 60)} min ${total % 60} s`;
}

/** A running step's heartbeat: `PREFIX   still running, 12 min 0 s: LAST LINE`. */
export const stillRunning = (prefix: string, ms: number, lastLine?: string): string =>
  `${prefix}   still running, ${duration(ms)}${lastLine ? `: ${lastLine}` : ""}\n`;

/** Exit codes: 0 ok, 1 a check or operation failed, 2 bad usage, 70 internal error. */
export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 70 } as const;

export function reportError(io: Io, err: unknown, json: boolean): number {
  if (isUndistroError(err)) {
    if (json) printJson(io, { error: err.toJSON() });
    else {
      io.err(`error[${err.code}]: ${err.message}\n`);
      if (err.hint) io.err(`  hint: ${err.hint}\n`);
    }
    return err.code === "USAGE" ? EXIT.usage : EXIT.failed;
  }
  const e = err as Error;
  if (json) printJson(io, { error: { code: "INTERNAL", message: String(e?.message ?? e) } });
  else io.err(`error[INTERNAL]: ${e?.stack ?? String(e)}\n  hint: this is a bug in undistro; please report it with the command line\n`);
  return EXIT.internal;
}

/** A one-line progress reporter: redraws in place on a terminal, silent otherwise. */
export function progress(io: Io, label: string): { tick: (done: number, total: number, item?: string) => void; done: () => void } {
  let last = 0;
  return {
    tick(done, total, item) {
      if (!io.interactive) return;
      const now = Date.now();
      if (now - last < 100 && done !== total) return;
      last = now;
      io.err(`\r\x1b[K${label} ${done}/${total}${item ? ` ${item}` : ""}`);
    },
    done() {
      if (io.interactive) io.err("\r\x1b[K");
    },
  };
}
