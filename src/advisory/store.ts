/**
 * The advisories directory: `<package>.advisories.yaml` per package. Reads every document (problems
 * collected per file, so one bad file does not hide the others) and edits documents in place with
 * the yaml library's document model, which keeps comments, key order and blank lines.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isSeq, parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { fsError, UndistroError, writeFileAtomic } from "../util/index.js";
import {
  type Advisory,
  type AdvisoryDocument,
  AdvisoryInvalidError,
  type EventType,
  isAliasId,
  latestEvent,
  parseAdvisoryDocument,
  SCHEMA_VERSION,
  type ValidationProblem,
} from "./model.js";

export const ADVISORY_SUFFIX = ".advisories.yaml";

export interface AdvisoryDirectory {
  dir: string;
  documents: AdvisoryDocument[];
  /** Files that did not load, each with every problem found. */
  invalid: Array<{ file: string; problems: ValidationProblem[] }>;
}

export function loadAdvisoryDirectory(dir: string, opts: { now?: Date } = {}): AdvisoryDirectory {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith(ADVISORY_SUFFIX))
      .sort();
  } catch (err) {
    throw fsError(err, "read the advisories directory", dir);
  }
  const documents: AdvisoryDocument[] = [];
  const invalid: AdvisoryDirectory["invalid"] = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      documents.push(parseAdvisoryDocument(readFileSync(file, "utf8"), file, opts));
    } catch (err) {
      if (err instanceof AdvisoryInvalidError) invalid.push({ file, problems: err.problems });
      else if (err instanceof UndistroError) invalid.push({ file, problems: [{ file, line: undefined, path: "(document)", message: err.message }] });
      else throw err;
    }
  }
  return { dir, documents, invalid };
}

/** Loads the directory and refuses it if any file is invalid (scan and secdb must not drop a fix). */
export function loadValidAdvisories(dir: string): AdvisoryDocument[] {
  const loaded = loadAdvisoryDirectory(dir);
  if (loaded.invalid.length) throw new AdvisoryInvalidError(loaded.invalid.flatMap((f) => f.problems));
  return loaded.documents;
}

export interface NewEvent {
  type: EventType;
  /** RFC 3339; defaults to now (seconds, UTC). */
  timestamp?: string;
  data?: Record<string, unknown>;
}

export interface AdvisoryEdit {
  dir: string;
  package: string;
  /** An advisory id, or a CVE/GHSA/GO id the advisory has as an alias. */
  vulnerability: string;
  event: NewEvent;
  now?: Date;
}

export interface AdvisoryEditResult {
  file: string;
  package: string;
  id: string;
  aliases: string[];
  created: boolean;
  event: { timestamp: string; type: EventType; data?: Record<string, unknown> };
}

/**
 * Edits use the failsafe schema: every scalar stays the string it was. Under YAML's core schema a
 * Wolfi componentID like 03622160e6925503 reads as a float (Infinity) and would be rewritten as
 * `.inf`; with failsafe all 1299 reference documents re-serialise byte for byte.
 */
const EDIT_OPTIONS = { schema: "failsafe" } as const;

const ID_ALPHABET = "23456789cfghjmpqrvwx";

/** A stable advisory id (UDA-xxxx-xxxx-xxxx) for a package and vulnerability: the same inputs give the same id. */
export function advisoryIdFor(pkg: string, vulnerability: string, taken: ReadonlySet<string> = new Set()): string {
  for (let n = 0; ; n++) {
    const h = createHash("sha256").update(`${pkg}\0${vulnerability}\0${n}`).digest();
    let chars = "";
    for (let i = 0; i < 12; i++) chars += ID_ALPHABET[(h[i] as number) % ID_ALPHABET.length];
    const id = `UDA-${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
    if (!taken.has(id)) return id;
  }
}

function eventNode(ev: AdvisoryEditResult["event"]): Record<string, unknown> {
  return ev.data === undefined ? { timestamp: ev.timestamp, type: ev.type } : { timestamp: ev.timestamp, type: ev.type, data: ev.data };
}

function nowStamp(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

function documentFile(dir: string, pkg: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(pkg)) throw new UndistroError("USAGE", `"${pkg}" is not a package name`);
  return join(dir, `${pkg}${ADVISORY_SUFFIX}`);
}

/**
 * Records a new advisory for a package (creating the package's document when needed). Refuses when
 * the package already has an advisory for the vulnerability: that is an update.
 */
export function createAdvisory(edit: AdvisoryEdit): AdvisoryEditResult {
  const file = documentFile(edit.dir, edit.package);
  const now = edit.now ?? new Date();
  const event = { timestamp: edit.event.timestamp ?? nowStamp(now), type: edit.event.type, ...(edit.event.data ? { data: edit.event.data } : {}) };
  const isAlias = isAliasId(edit.vulnerability);
  if (!existsSync(file)) {
    const id = isAlias ? advisoryIdFor(edit.package, edit.vulnerability) : edit.vulnerability;
    const aliases = isAlias ? [edit.vulnerability] : [];
    const doc = parseDocument(`schema-version: ${SCHEMA_VERSION}\n\npackage:\n  name: ${edit.package}\n\nadvisories: []\n`, EDIT_OPTIONS);
    doc.set("advisories", doc.createNode([{ id, ...(aliases.length ? { aliases } : {}), events: [eventNode(event)] }]));
    writeChecked(file, doc.toString({ lineWidth: 0 }), now);
    return { file, package: edit.package, id, aliases, created: true, event };
  }
  const text = readFileSync(file, "utf8");
  const existing = parseAdvisoryDocument(text, file, { now });
  const found = findAdvisory(existing.advisories, edit.vulnerability);
  if (found) {
    throw new UndistroError("ADVISORY_EXISTS", `${file}: ${found.id} already covers ${edit.vulnerability}`, {
      hint: `add an event with: undistro advisory update ${edit.package} ${edit.vulnerability} --type …`,
    });
  }
  const taken = new Set(existing.advisories.map((a) => a.id));
  const id = isAlias ? advisoryIdFor(edit.package, edit.vulnerability, taken) : edit.vulnerability;
  if (taken.has(id)) throw new UndistroError("ADVISORY_EXISTS", `${file}: advisory ${id} already exists`);
  const aliases = isAlias ? [edit.vulnerability] : [];
  const doc = parseDocument(text, EDIT_OPTIONS);
  const seq = doc.get("advisories", true) as YAMLSeq;
  const item = doc.createNode({ id, ...(aliases.length ? { aliases } : {}), events: [eventNode(event)] }) as YAMLMap;
  // Keep the document sorted by id, as Wolfi's are, with the blank line its entries have.
  const at = seq.items.findIndex((n) => isMap(n) && String((n as YAMLMap).get("id")) > id);
  const index = at === -1 ? seq.items.length : at;
  item.spaceBefore = seq.items.length > 0 && (index > 0 || Boolean((seq.items[0] as YAMLMap | undefined)?.spaceBefore));
  seq.items.splice(index, 0, item);
  if (index === 0 && seq.items[1] && isMap(seq.items[1])) (seq.items[1] as YAMLMap).spaceBefore = true;
  writeChecked(file, doc.toString({ lineWidth: 0 }), now);
  return { file, package: edit.package, id, aliases, created: true, event };
}

/** Appends an event to the package's advisory for the vulnerability. */
export function updateAdvisory(edit: AdvisoryEdit): AdvisoryEditResult {
  const file = documentFile(edit.dir, edit.package);
  if (!existsSync(file)) {
    throw new UndistroError("ADVISORY_NOT_FOUND", `${file} does not exist: ${edit.package} has no advisories`, {
      hint: `start one with: undistro advisory create ${edit.package} ${edit.vulnerability} --type detection`,
    });
  }
  const now = edit.now ?? new Date();
  const text = readFileSync(file, "utf8");
  const existing = parseAdvisoryDocument(text, file, { now });
  const found = findAdvisory(existing.advisories, edit.vulnerability);
  if (!found) {
    throw new UndistroError("ADVISORY_NOT_FOUND", `${file}: no advisory covers ${edit.vulnerability}`, {
      hint: `create it with: undistro advisory create ${edit.package} ${edit.vulnerability} --type …`,
    });
  }
  const event = { timestamp: edit.event.timestamp ?? nowStamp(now), type: edit.event.type, ...(edit.event.data ? { data: edit.event.data } : {}) };
  const doc = parseDocument(text, EDIT_OPTIONS);
  const seq = doc.get("advisories", true) as YAMLSeq;
  const node = seq.items.find((n) => isMap(n) && String((n as YAMLMap).get("id")) === found.id) as YAMLMap;
  const events = node.get("events", true);
  if (!isSeq(events)) throw new UndistroError("ADVISORY_INVALID", `${file}: ${found.id} has no events list`);
  events.items.push(doc.createNode(eventNode(event)));
  writeChecked(file, doc.toString({ lineWidth: 0 }), now);
  return { file, package: edit.package, id: found.id, aliases: found.aliases, created: false, event };
}

function findAdvisory(list: Advisory[], vulnerability: string): Advisory | undefined {
  return list.find((a) => a.id === vulnerability || a.aliases.includes(vulnerability));
}

/** Validates what is about to be written, then writes it atomically: an edit never leaves a bad file. */
function writeChecked(file: string, text: string, now: Date): void {
  parseAdvisoryDocument(text, file, { now });
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileAtomic(file, Buffer.from(text));
}

export interface AdvisoryRow {
  package: string;
  id: string;
  aliases: string[];
  /** The latest event's type. */
  latest: EventType | undefined;
  /** For fixed: the version that carries the fix; for false positives: the type. */
  detail?: string;
  updated: string | undefined;
  file: string;
}

export interface ListFilter {
  package?: string;
  vulnerability?: string;
  /** Only advisories whose latest event has this type. */
  type?: EventType;
  /** Only advisories that still need work (latest event detection or true-positive-determination). */
  unresolved?: boolean;
}

export function listAdvisories(docs: AdvisoryDocument[], filter: ListFilter = {}): AdvisoryRow[] {
  const rows: AdvisoryRow[] = [];
  for (const doc of docs) {
    if (filter.package && doc.package !== filter.package) continue;
    for (const adv of doc.advisories) {
      if (filter.vulnerability && adv.id !== filter.vulnerability && !adv.aliases.includes(filter.vulnerability)) continue;
      const latest = latestEvent(adv);
      if (filter.type && latest?.type !== filter.type) continue;
      if (filter.unresolved && latest && latest.type !== "detection" && latest.type !== "true-positive-determination") continue;
      const detail =
        latest?.type === "fixed"
          ? String(latest.data?.["fixed-version"] ?? "")
          : latest?.type === "false-positive-determination"
            ? String(latest.data?.type ?? "")
            : undefined;
      rows.push({
        package: doc.package,
        id: adv.id,
        aliases: adv.aliases,
        latest: latest?.type,
        ...(detail !== undefined ? { detail } : {}),
        updated: latest?.timestamp,
        file: doc.file,
      });
    }
  }
  return rows.sort((a, b) => (a.package === b.package ? (a.id < b.id ? -1 : 1) : a.package < b.package ? -1 : 1));
}

/** The advisories of one package that cite any of the given vulnerability ids. */
export function advisoryFor(docs: ReadonlyMap<string, AdvisoryDocument>, pkg: string, ids: readonly string[]): Advisory | undefined {
  const doc = docs.get(pkg);
  if (!doc) return undefined;
  return doc.advisories.find((a) => ids.includes(a.id) || a.aliases.some((x) => ids.includes(x)));
}

/**
 * Reads only the documents of the named packages (a scan needs a handful, and parsing a whole
 * advisories repository costs seconds). A missing document means no advisories; an invalid one is
 * an error, since skipping it could hide a fix or report a resolved match.
 */
export function loadAdvisoriesFor(dir: string, packages: Iterable<string>): AdvisoryDocument[] {
  if (!existsSync(dir)) throw new UndistroError("ADVISORY_NOT_FOUND", `advisories directory ${dir} does not exist`, { hint: "pass --advisories DIR" });
  const docs: AdvisoryDocument[] = [];
  for (const name of [...new Set(packages)].sort()) {
    const file = join(dir, `${name}${ADVISORY_SUFFIX}`);
    if (existsSync(file)) docs.push(parseAdvisoryDocument(readFileSync(file, "utf8"), file));
  }
  return docs;
}
