/**
 * The daily job's history as the catalogue shows it: `rebuild-history.jsonl` beside the repository,
 * read as hostile input (bounded, each line checked; a damaged line is reported, not fatal).
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { REBUILD_HISTORY_FILE, type RebuildHistoryEntry } from "../rebuild/index.js";
import { h, href, page, type Raw, slug } from "./html.js";

/** The newest runs are what a reader wants; older ones stay in the file. */
const MAX_HISTORY_BYTES = 4 << 20;

export interface RebuildHistory {
  /** Newest first. */
  runs: RebuildHistoryEntry[];
  /** Lines that were not a run record (1-based line numbers within what was read). */
  damaged: number[];
  /** True when only the end of a larger file was read. */
  truncated: boolean;
}

const isStr = (v: unknown): v is string => typeof v === "string";
const isArr = (v: unknown): v is unknown[] => Array.isArray(v);

function isEntry(v: unknown): v is RebuildHistoryEntry {
  if (v === null || typeof v !== "object") return false;
  const e = v as Record<string, unknown>;
  return (
    isStr(e.at) &&
    isStr(e.arch) &&
    isArr(e.changed) &&
    e.changed.every((c) => isStr((c as Record<string, unknown>)?.package) && isStr((c as Record<string, unknown>).to)) &&
    isArr(e.dependents) &&
    e.dependents.every((c) => isStr((c as Record<string, unknown>)?.package) && isStr((c as Record<string, unknown>).to)) &&
    isArr(e.built) &&
    e.built.every((b) => isStr((b as Record<string, unknown>)?.package)) &&
    isArr(e.images) &&
    e.images.every((i) => isStr((i as Record<string, unknown>)?.name) && isStr((i as Record<string, unknown>).digest))
  );
}

export function readRebuildHistory(repository: string): RebuildHistory {
  const file = join(repository, REBUILD_HISTORY_FILE);
  if (!existsSync(file)) return { runs: [], damaged: [], truncated: false };
  const size = statSync(file).size;
  const length = Math.min(size, MAX_HISTORY_BYTES);
  const buf = Buffer.alloc(length);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  let lines = buf.toString("utf8").split("\n");
  // A read that starts mid-file starts mid-line: that first piece is not a record.
  if (size > length) lines = lines.slice(1);
  const runs: RebuildHistoryEntry[] = [];
  const damaged: number[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const v: unknown = JSON.parse(line);
      if (isEntry(v)) runs.push(v);
      else damaged.push(i + 1);
    } catch {
      damaged.push(i + 1);
    }
  });
  return { runs: runs.reverse(), damaged, truncated: size > length };
}

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

export function historyPage(history: RebuildHistory, packageLink: (name: string, root: string) => Raw, imageNames: Set<string>): string {
  const image = (name: string) => (imageNames.has(name) ? h`<a href="images/${href(slug(name))}.html">${name}</a>` : h`${name}`);
  const runs = history.runs.map(
    (r) =>
      h`<section><h2>${r.at} <span class="muted">${r.arch}</span></h2>${
        r.changed.length || r.dependents.length
          ? h`<ul>${r.changed.map((c) => h`<li>${packageLink(c.package, "")} ${c.from ?? "(new)"} → ${c.to} <span class="muted">${c.reason}</span></li>`)}${r.dependents.map(
              (d) => h`<li>${packageLink(d.package, "")} ${d.from} → ${d.to} <span class="muted">rebuilt for ${d.because.join(", ")}</span></li>`,
            )}</ul>`
          : h`<p class="muted">Nothing changed upstream or in the recipes: nothing rebuilt.</p>`
      }${
        r.images.length
          ? h`<table><caption class="muted">Images rebuilt</caption><thead><tr><th scope="col">Image</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Signed</th><th scope="col">Pushed</th></tr></thead><tbody>${r.images.map(
              (i) =>
                h`<tr><td>${image(i.name)}</td><td><code>${i.from ? short(i.from) : ""}</code></td><td><code>${short(i.digest)}</code></td><td>${i.signed ? "yes" : h`<span class="bad">no</span>`}</td><td>${i.pushed ?? ""}</td></tr>`,
            )}</tbody></table>`
          : ""
      }</section>`,
  );
  return page(
    "Rebuilds",
    "",
    h`<h1>Rebuilds</h1><p>What each run of the daily job (<code>undistro rebuild</code>) found and rebuilt, newest first.</p>${
      history.truncated ? h`<p class="muted">Only the newest runs are shown: the history file is larger than the catalogue reads.</p>` : ""
    }${history.damaged.length ? h`<p class="bad">${history.damaged.length} line(s) of ${REBUILD_HISTORY_FILE} are not run records and are left out.</p>` : ""}${
      runs.length ? runs : h`<p class="muted">No run recorded yet (${REBUILD_HISTORY_FILE} beside the repository).</p>`
    }`,
  );
}
