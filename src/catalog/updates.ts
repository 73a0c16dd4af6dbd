/**
 * What `undistro update check --json` found for each recipe, as the catalogue shows it: the newest
 * upstream release known beside the version shipped. Read as hostile input (bounded, each record's
 * fields checked; anything else is left out).
 */
import { readFileSync, statSync } from "node:fs";
import { UndistroError } from "../util/index.js";

/** An update-check report is a few hundred bytes a recipe; past this it is not one. */
const MAX_UPDATES_BYTES = 16 << 20;

export interface UpstreamState {
  current: string;
  latest?: string;
  newer: boolean;
  provider?: string;
  source?: string;
  /** Why it is not tracked (update.manual, no update section) or what the check hit. */
  note?: string;
  /** Newer releases the source lists but cannot be fetched (a Debian pool that does not serve them). */
  unserved?: string[];
}

const text = (v: unknown, max = 4096): string | undefined => (typeof v === "string" && v.length <= max ? v : undefined);

/** By package (origin) name. */
export function readUpdates(file: string): Map<string, UpstreamState> {
  const size = statSync(file, { throwIfNoEntry: false })?.size;
  if (size === undefined) throw new UndistroError("USAGE", `--updates ${file}: no such file`, { hint: "write it with: undistro update check --json > FILE" });
  if (size > MAX_UPDATES_BYTES) throw new UndistroError("USAGE", `--updates ${file}: ${size} bytes, more than an update-check report has`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UndistroError("USAGE", `--updates ${file}: not JSON (${(err as Error).message})`, { hint: "write it with: undistro update check --json > FILE" });
  }
  if (!Array.isArray(data)) throw new UndistroError("USAGE", `--updates ${file}: not the JSON array undistro update check --json prints`);
  const out = new Map<string, UpstreamState>();
  for (const r of data) {
    if (r === null || typeof r !== "object") continue;
    const o = r as Record<string, unknown>;
    const name = text(o.package, 256);
    const current = text(o.current, 256);
    if (!name || !current) continue;
    const latest = text(o.latest, 256);
    const provider = text(o.provider, 64);
    const source = text(o.source);
    const note = text(o.error) ?? text(o.skipped);
    const unserved = Array.isArray(o.unserved)
      ? o.unserved
          .slice(0, 32)
          .map((v) => text(v, 256))
          .filter((v): v is string => v !== undefined)
      : [];
    out.set(name, {
      current,
      newer: o.newer === true,
      ...(latest ? { latest } : {}),
      ...(provider ? { provider } : {}),
      ...(source ? { source } : {}),
      ...(note ? { note } : {}),
      ...(unserved.length ? { unserved } : {}),
    });
  }
  return out;
}
