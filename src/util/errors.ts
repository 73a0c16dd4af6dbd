/**
 * The one error type undistro raises for anything a user can cause or fix: bad input, a failed
 * signature, a missing file. `code` is stable (tests and scripts match on it), `message` names the
 * file, field or byte offset, `hint` says what to do. Programmer errors stay plain `Error`.
 */
export class UndistroError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UndistroError";
    this.code = code;
    this.hint = options.hint;
  }

  toJSON(): { code: string; message: string; hint?: string } {
    return this.hint === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, hint: this.hint };
  }
}

export function isUndistroError(err: unknown): err is UndistroError {
  return err instanceof UndistroError;
}

/** Wraps a Node system error (ENOENT, EACCES, ...) reading or writing `path` into an UndistroError. */
export function fsError(err: unknown, action: string, path: string): UndistroError {
  if (err instanceof UndistroError) return err;
  const sys = err as NodeJS.ErrnoException;
  if (sys && typeof sys.code === "string") {
    const hints: Record<string, string> = {
      ENOENT: "check that the path exists",
      EACCES: "check the file's permissions",
      EISDIR: "a directory was given where a file was expected",
      ENOTDIR: "a file was given where a directory was expected",
    };
    const hint = hints[sys.code];
    return new UndistroError("IO_ERROR", `cannot ${action} ${path}: ${sys.code}`, hint === undefined ? { cause: err } : { hint, cause: err });
  }
  return new UndistroError("IO_ERROR", `cannot ${action} ${path}: ${String(err)}`, { cause: err });
}
