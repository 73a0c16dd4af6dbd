/**
 * How a package differs from its rebuild: our own list of the entries that differ (always), and
 * diffoscope's report of how (text and HTML) when diffoscope is installed.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ApkPackage } from "../apk/index.js";
import { sortedJson } from "../util/index.js";

export interface EntryDifference {
  /** ".PKGINFO", a control file, or a data entry's path. */
  path: string;
  what: string;
}

function digest(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Control and data entries of two packages, compared by name: content, type, mode, owner, time, link. */
export function compareMembers(original: ApkPackage, rebuilt: ApkPackage): EntryDifference[] {
  const out: EntryDifference[] = [];
  if (sortedJson(original.info) !== sortedJson(rebuilt.info)) {
    const a = original.info as unknown as Record<string, unknown>;
    const b = rebuilt.info as unknown as Record<string, unknown>;
    const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => sortedJson(a[k]) !== sortedJson(b[k])).sort();
    out.push({ path: ".PKGINFO", what: `fields differ: ${fields.join(", ")}` });
  }
  const control = (p: ApkPackage) => ({ ...p.scripts, ...p.controlFiles });
  const [ca, cb] = [control(original), control(rebuilt)];
  for (const name of [...new Set([...Object.keys(ca), ...Object.keys(cb)])].sort()) {
    const [x, y] = [ca[name], cb[name]];
    if (!x) out.push({ path: name, what: "only in the rebuild" });
    else if (!y) out.push({ path: name, what: "missing from the rebuild" });
    else if (!x.equals(y)) out.push({ path: name, what: "content differs" });
  }
  const entries = (p: ApkPackage) => new Map(p.dataEntries.map((e) => [e.header.name, e]));
  const [da, db] = [entries(original), entries(rebuilt)];
  for (const name of [...new Set([...da.keys(), ...db.keys()])].sort()) {
    const [x, y] = [da.get(name), db.get(name)];
    if (!x) out.push({ path: name, what: "only in the rebuild" });
    else if (!y) out.push({ path: name, what: "missing from the rebuild" });
    else {
      const what: string[] = [];
      if (x.header.type !== y.header.type) what.push(`type ${x.header.type} → ${y.header.type}`);
      if (x.header.mode !== y.header.mode) what.push(`mode ${x.header.mode.toString(8)} → ${y.header.mode.toString(8)}`);
      if (x.header.uid !== y.header.uid || x.header.gid !== y.header.gid) what.push(`owner ${x.header.uid}:${x.header.gid} → ${y.header.uid}:${y.header.gid}`);
      if (x.header.mtime !== y.header.mtime) what.push(`mtime ${x.header.mtime} → ${y.header.mtime}`);
      if (x.header.linkname !== y.header.linkname) what.push(`link ${x.header.linkname} → ${y.header.linkname}`);
      if (digest(x.content) !== digest(y.content)) what.push(`content differs (${x.content.length} → ${y.content.length} bytes)`);
      if (what.length) out.push({ path: name, what: what.join("; ") });
    }
  }
  return out;
}

export function diffoscopeAvailable(): boolean {
  return spawnSync("diffoscope", ["--version"], { stdio: "ignore" }).status === 0;
}

/**
 * diffoscope's report of two packages' control and data members (the original's signature left
 * out), as STEM.diffoscope.txt and .html; without diffoscope, undefined (the caller still has our list).
 */
export function diffoscopeReport(original: Uint8Array, rebuilt: Uint8Array, name: string, stem: string): { text: string; html?: string } | undefined {
  if (!diffoscopeAvailable()) return undefined;
  for (const [side, bytes] of [
    ["original", original],
    ["rebuilt", rebuilt],
  ] as const) {
    mkdirSync(join(stem, side), { recursive: true });
    writeFileSync(join(stem, side, name), bytes);
  }
  const text = `${stem}.diffoscope.txt`;
  const html = `${stem}.diffoscope.html`;
  // Exit 1 means "they differ": the report is what we want; only a missing report is a failure.
  spawnSync("diffoscope", ["--text", text, "--html", html, "--max-report-size", String(16 << 20), join(stem, "original", name), join(stem, "rebuilt", name)], {
    stdio: "ignore",
    timeout: 30 * 60_000,
  });
  if (!existsSync(text)) return undefined;
  return { text, ...(existsSync(html) ? { html } : {}) };
}
