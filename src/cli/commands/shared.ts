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

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
