// util/errors.js alone: see output.ts.
import { UndistroError } from "../../util/errors.js";
import { EXIT, type Io, reportError } from "../output.js";

/** Thrown inside actions to carry an exit code out of commander without printing. */
export class ExitCode {
  constructor(readonly code: number) {}
}

/**
 * Wraps a command handler: errors become `error[CODE]: …` (or JSON with --json) and an exit code,
 * never a stack trace for a user error.
 */
export function action<A extends unknown[]>(io: Io, fn: (...args: A) => Promise<unknown>) {
  return async (...args: A): Promise<void> => {
    // commander passes the parsed options object among the arguments; --json there selects JSON errors.
    const jsonWanted = args.some((a) => a !== null && typeof a === "object" && (a as { json?: unknown }).json === true);
    try {
      const code = await fn(...args);
      if (typeof code === "number" && code !== EXIT.ok) throw new ExitCode(code);
    } catch (err) {
      if (err instanceof ExitCode) throw err;
      throw new ExitCode(reportError(io, err, jsonWanted));
    }
  };
}

/** `90s`, `30m`, `6h`, `1d`, `500ms` (seconds when no unit) in milliseconds; anything else is a usage error naming the flag. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UndistroError("USAGE", `${flag} ${text}: use a number with ms, s, m, h or d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * The key password: $UNDISTRO_PASSWORD, else $COSIGN_PASSWORD (as cosign reads it), else a prompt
 * on the terminal without echo (asked twice when `confirm`). Without a terminal and without the
 * variables it is an error rather than a silent empty password.
 */
export async function keyPassword(io: Io, opts: { confirm?: boolean } = {}): Promise<string> {
  const env = process.env.UNDISTRO_PASSWORD ?? process.env.COSIGN_PASSWORD;
  if (env !== undefined) return env;
  if (!process.stdin.isTTY) {
    throw new UndistroError("KEY_PASSWORD", "no password: $UNDISTRO_PASSWORD is unset and there is no terminal to ask on", {
      hint: "set UNDISTRO_PASSWORD (an empty value means no password)",
    });
  }
  const first = await readHidden(io, "Enter password for private key: ");
  if (opts.confirm) {
    const again = await readHidden(io, "Enter password for private key again: ");
    if (again !== first) throw new UndistroError("KEY_PASSWORD", "the two passwords differ");
  }
  return first;
}

/** Typed-ahead input after the line a prompt consumed (both passwords may arrive in one read). */
let typedAhead = "";

function readHidden(io: Io, prompt: string): Promise<string> {
  io.err(prompt);
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let text = "";
    const finish = (err?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.err("\n");
      if (err) reject(err);
      else resolve(text);
    };
    /** Consumes characters; true once the line is complete. */
    const feed = (chars: string): boolean => {
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i] as string;
        if (ch === "\r" || ch === "\n") {
          typedAhead = chars.slice(i + 1).replace(/^\n/, "");
          return true;
        }
        if (ch === "\u0003") throw new UndistroError("KEY_PASSWORD", "interrupted");
        if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
        else text += ch;
      }
      return false;
    };
    const onData = (chunk: Buffer) => {
      try {
        if (feed(chunk.toString("utf8"))) finish();
      } catch (err) {
        finish(err as Error);
      }
    };
    stdin.setRawMode(true);
    const ahead = typedAhead;
    typedAhead = "";
    if (ahead && feed(ahead)) {
      stdin.setRawMode(false);
      io.err("\n");
      resolve(text);
      return;
    }
    stdin.on("data", onData);
    stdin.resume();
  });
}

/** Registry credentials from $UNDISTRO_REGISTRY_USER / $UNDISTRO_REGISTRY_PASSWORD (none when unset). */
export function registryCredentials(): { username?: string; password?: string } {
  const username = process.env.UNDISTRO_REGISTRY_USER;
  return username ? { username, password: process.env.UNDISTRO_REGISTRY_PASSWORD ?? "" } : {};
}
