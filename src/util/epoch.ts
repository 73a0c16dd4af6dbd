import { UndistroError } from "./errors.js";

/**
 * The timestamp every output carries: SOURCE_DATE_EPOCH when set (https://reproducible-builds.org),
 * otherwise 0, so that outputs never depend on when they were made.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === "") return 0;
  if (!/^[0-9]{1,12}$/.test(raw)) {
    throw new UndistroError("BAD_SOURCE_DATE_EPOCH", `SOURCE_DATE_EPOCH=${JSON.stringify(raw)} is not a whole number of seconds`, {
      hint: "set it to a Unix timestamp, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)",
    });
  }
  return Number(raw);
}
