/**
 * Security advisories, one YAML document per package, in the schema Wolfi uses (schema-version 2.x,
 * github.com/wolfi-dev/advisories): an advisory has an id, aliases (CVE, GHSA, GO ids) and a list of
 * timestamped events; the latest event says where the investigation stands. Parsed strictly: an
 * unknown field is an error, as in wolfictl, so a typo never silently drops a fix.
 */
import { compareVersions, isValidVersion } from "../apk/index.js";
import { formatPath, parseYamlFile } from "../recipe/index.js";
import { UndistroError } from "../util/index.js";

export const SCHEMA_VERSION = "2.0.2";

export const EVENT_TYPES = [
  "detection",
  "true-positive-determination",
  "fixed",
  "false-positive-determination",
  "analysis-not-planned",
  "fix-not-planned",
  "pending-upstream-fix",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const DETECTION_TYPES = ["manual", "nvdapi", "scan/v1"] as const;

/** Why a match is not a vulnerability here; each maps to a VEX justification (see VEX_JUSTIFICATION). */
export const FALSE_POSITIVE_TYPES = [
  "vulnerability-record-analysis-contested",
  "component-vulnerability-mismatch",
  "vulnerable-code-version-not-used",
  "vulnerable-code-not-included-in-package",
  "vulnerable-code-not-in-execution-path",
  "vulnerable-code-cannot-be-controlled-by-adversary",
  "inline-mitigations-exist",
] as const;
export type FalsePositiveType = (typeof FALSE_POSITIVE_TYPES)[number];

export const VEX_JUSTIFICATION: Record<FalsePositiveType, string> = {
  "vulnerability-record-analysis-contested": "vulnerable_code_not_present",
  "component-vulnerability-mismatch": "component_not_present",
  "vulnerable-code-version-not-used": "vulnerable_code_not_present",
  "vulnerable-code-not-included-in-package": "vulnerable_code_not_present",
  "vulnerable-code-not-in-execution-path": "vulnerable_code_not_in_execute_path",
  "vulnerable-code-cannot-be-controlled-by-adversary": "vulnerable_code_cannot_be_controlled_by_adversary",
  "inline-mitigations-exist": "inline_mitigations_already_exist",
};

export interface AdvisoryEvent {
  timestamp: string;
  type: EventType;
  /** Event data as written (kept whole so a rewrite loses nothing). */
  data?: Record<string, unknown>;
}

export interface Advisory {
  id: string;
  aliases: string[];
  events: AdvisoryEvent[];
}

export interface AdvisoryDocument {
  file: string;
  schemaVersion: string;
  package: string;
  advisories: Advisory[];
}

export const ID_PATTERNS = {
  advisory: /^(CGA|UDA)(-[23456789cfghjmpqrvwx]{4}){3}$/,
  cve: /^CVE-\d{4}-\d{4,}$/,
  ghsa: /^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$/,
  go: /^GO-\d{4}-\d{4,}$/,
};

export function isAliasId(id: string): boolean {
  return ID_PATTERNS.cve.test(id) || ID_PATTERNS.ghsa.test(id) || ID_PATTERNS.go.test(id);
}

/** A CPE 2.3 formatted string: "cpe:2.3:" and 11 more colon-separated components. */
const CPE23 = /^cpe:2\.3:[aho*-](:(?:[^:\\]|\\.)*){10}$/;

export interface ValidationProblem {
  file: string;
  line: number | undefined;
  path: string;
  message: string;
}

export function formatProblem(p: ValidationProblem): string {
  return `${p.file}${p.line ? `:${p.line}` : ""}: ${p.path}: ${p.message}`;
}

export class AdvisoryInvalidError extends UndistroError {
  constructor(readonly problems: ValidationProblem[]) {
    super("ADVISORY_INVALID", problems.map(formatProblem).join("\n"), {
      hint: "fix the fields named above; `undistro advisory validate` checks a whole directory",
    });
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and validates one advisories document; throws AdvisoryInvalidError listing every problem. */
export function parseAdvisoryDocument(text: string, file: string, opts: { now?: Date } = {}): AdvisoryDocument {
  const yaml = parseYamlFile(text, file);
  const problems: ValidationProblem[] = [];
  // A missing field has no line of its own: name the line of the nearest enclosing node.
  const lineOf = (path: Array<string | number>): number | undefined => {
    for (let n = path.length; n > 0; n--) {
      const line = yaml.lineOf(path.slice(0, n));
      if (line !== undefined) return line;
    }
    return undefined;
  };
  const problem = (path: Array<string | number>, message: string) => problems.push({ file, line: lineOf(path), path: formatPath(path), message });
  const strict = (value: Obj, path: Array<string | number>, allowed: readonly string[]) => {
    for (const k of Object.keys(value)) if (!allowed.includes(k)) problem([...path, k], `unknown field (allowed: ${allowed.join(", ")})`);
  };
  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

  const root = yaml.data;
  if (!isObj(root)) throw new AdvisoryInvalidError([{ file, line: 1, path: "(document)", message: "must be a mapping" }]);
  strict(root, [], ["schema-version", "package", "advisories"]);

  const schemaVersion = str(root["schema-version"]);
  if (schemaVersion === undefined) problem(["schema-version"], `required (this reads schema ${SCHEMA_VERSION} and earlier 2.x)`);
  else if (!/^2(\.0(\.[0-2])?)?$/.test(schemaVersion)) {
    problem(["schema-version"], `"${schemaVersion}" is not supported: documents must use schema 2 up to ${SCHEMA_VERSION}`);
  }

  let pkgName = "";
  if (!isObj(root.package)) problem(["package"], "required: a mapping with name");
  else {
    strict(root.package, ["package"], ["name"]);
    pkgName = str(root.package.name) ?? "";
    if (!pkgName) problem(["package", "name"], "must not be empty");
    const base = file.split("/").pop() ?? file;
    if (pkgName && base.endsWith(".advisories.yaml") && base !== `${pkgName}.advisories.yaml`) {
      problem(["package", "name"], `"${pkgName}" does not match the file name ${base}`);
    }
  }

  const advisories: Advisory[] = [];
  const list = root.advisories;
  if (!Array.isArray(list) || list.length === 0) problem(["advisories"], "must list at least one advisory (remove the file otherwise)");
  const seen = new Map<string, string>();
  const cutoff = (opts.now ?? new Date()).getTime() + 2 * 3600_000;
  for (const [i, raw] of (Array.isArray(list) ? list : []).entries()) {
    const at: Array<string | number> = ["advisories", i];
    if (!isObj(raw)) {
      problem(at, "must be a mapping with id, aliases, events");
      continue;
    }
    strict(raw, at, ["id", "aliases", "events"]);
    const id = str(raw.id) ?? "";
    if (!ID_PATTERNS.advisory.test(id)) problem([...at, "id"], `"${id}" is not an advisory id (CGA-xxxx-xxxx-xxxx or UDA-xxxx-xxxx-xxxx)`);
    const aliases: string[] = [];
    if (raw.aliases !== undefined && raw.aliases !== null) {
      if (!Array.isArray(raw.aliases)) problem([...at, "aliases"], "must be a list");
      else {
        for (const [j, a] of raw.aliases.entries()) {
          const alias = str(a) ?? "";
          if (!isAliasId(alias)) problem([...at, "aliases", j], `"${alias}" is not a CVE, GHSA or Go vulnerability id`);
          else if (aliases.includes(alias)) problem([...at, "aliases", j], `"${alias}" is listed twice`);
          else if (alias === id) problem([...at, "aliases", j], "an alias cannot repeat the advisory's id");
          aliases.push(alias);
        }
      }
    }
    for (const vid of [id, ...new Set(aliases)]) {
      if (!vid) continue;
      const prior = seen.get(vid);
      if (prior !== undefined) problem([...at, vid === id ? "id" : "aliases"], `${vid} also appears in ${prior}: ids and aliases must be unique in a document`);
      else seen.set(vid, `advisories[${i}]`);
    }
    const events: AdvisoryEvent[] = [];
    if (!Array.isArray(raw.events) || raw.events.length === 0) problem([...at, "events"], "must list at least one event");
    for (const [j, ev] of (Array.isArray(raw.events) ? raw.events : []).entries()) {
      const ep = [...at, "events", j];
      if (!isObj(ev)) {
        problem(ep, "must be a mapping with timestamp, type, data");
        continue;
      }
      strict(ev, ep, ["timestamp", "type", "data"]);
      const timestamp = str(ev.timestamp) ?? "";
      const t = Date.parse(timestamp);
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(timestamp) || Number.isNaN(t)) {
        problem([...ep, "timestamp"], `"${timestamp}" is not an RFC 3339 time`);
      } else if (t > cutoff) problem([...ep, "timestamp"], `${timestamp} is in the future`);
      const type = str(ev.type) ?? "";
      if (!(EVENT_TYPES as readonly string[]).includes(type)) {
        problem([...ep, "type"], `"${type}" is not an event type (${EVENT_TYPES.join(", ")})`);
        continue;
      }
      const data = ev.data === null || ev.data === undefined ? undefined : ev.data;
      if (data !== undefined && !isObj(data)) {
        problem([...ep, "data"], "must be a mapping");
        continue;
      }
      checkEventData(type as EventType, data, [...ep, "data"], problem, strict);
      events.push(data === undefined ? { timestamp, type: type as EventType } : { timestamp, type: type as EventType, data });
    }
    advisories.push({ id, aliases, events });
  }
  if (problems.length) throw new AdvisoryInvalidError(problems);
  return { file, schemaVersion: schemaVersion ?? SCHEMA_VERSION, package: pkgName, advisories };
}

function checkEventData(
  type: EventType,
  data: Obj | undefined,
  at: Array<string | number>,
  problem: (path: Array<string | number>, message: string) => void,
  strict: (value: Obj, path: Array<string | number>, allowed: readonly string[]) => void,
): void {
  const need = (key: string, why = "must not be empty") => {
    const v = data?.[key];
    if (typeof v !== "string" || v === "") problem([...at, key], why);
    return typeof v === "string" ? v : "";
  };
  switch (type) {
    case "detection": {
      if (!data) {
        problem(at, `required: type (${DETECTION_TYPES.join(", ")})`);
        return;
      }
      strict(data, at, ["type", "data"]);
      const dt = need("type");
      const inner = data.data;
      if (dt === "manual") {
        if (inner !== undefined && inner !== null) problem([...at, "data"], "must be empty for a manual detection");
      } else if (dt === "nvdapi") {
        if (!isObj(inner)) {
          problem([...at, "data"], "required: cpeSearched, cpeFound");
          return;
        }
        strict(inner, [...at, "data"], ["cpeSearched", "cpeFound"]);
        for (const k of ["cpeSearched", "cpeFound"]) {
          const v = inner[k];
          if (typeof v !== "string" || !CPE23.test(v)) problem([...at, "data", k], `"${String(v ?? "")}" is not a CPE 2.3 string`);
        }
      } else if (dt === "scan/v1") {
        if (!isObj(inner)) {
          problem([...at, "data"], "required: the scan's component fields");
          return;
        }
        const keys = ["subpackageName", "componentID", "componentName", "componentVersion", "componentType", "componentLocation", "scanner"];
        strict(inner, [...at, "data"], keys);
        for (const k of keys) if (typeof inner[k] !== "string" || inner[k] === "") problem([...at, "data", k], "must not be empty");
        if (inner.scanner !== undefined && inner.scanner !== "grype")
          problem([...at, "data", "scanner"], `"${String(inner.scanner)}" is not a known scanner (grype)`);
      } else if (dt) problem([...at, "type"], `"${dt}" is not a detection type (${DETECTION_TYPES.join(", ")})`);
      return;
    }
    case "true-positive-determination":
      if (data) strict(data, at, ["note"]);
      return;
    case "fixed": {
      if (!data) {
        problem(at, "required: fixed-version");
        return;
      }
      strict(data, at, ["fixed-version"]);
      const v = need("fixed-version", "required: the package version (with -rN) that carries the fix");
      if (v && !(isValidVersion(v) && /-r\d+$/.test(v))) problem([...at, "fixed-version"], `"${v}" is not a package version with its epoch (like 1.2.3-r0)`);
      return;
    }
    case "false-positive-determination": {
      if (!data) {
        problem(at, `required: type (${FALSE_POSITIVE_TYPES.join(", ")})`);
        return;
      }
      strict(data, at, ["type", "note"]);
      const t = need("type");
      if (t && !(FALSE_POSITIVE_TYPES as readonly string[]).includes(t)) {
        problem([...at, "type"], `"${t}" is not a false-positive type (${FALSE_POSITIVE_TYPES.join(", ")})`);
      }
      return;
    }
    case "analysis-not-planned":
    case "fix-not-planned":
    case "pending-upstream-fix":
      if (!data) {
        problem(at, "required: note (why)");
        return;
      }
      strict(data, at, ["note"]);
      need("note", "required: a note saying why");
      return;
  }
}

/** The advisory's events from oldest to newest (stable for equal times). */
export function sortedEvents(adv: Advisory): AdvisoryEvent[] {
  return adv.events
    .map((e, i) => ({ e, i, t: Date.parse(e.timestamp) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.e);
}

export function latestEvent(adv: Advisory): AdvisoryEvent | undefined {
  const s = sortedEvents(adv);
  return s[s.length - 1];
}

/** Every id an advisory is known by: its own and its aliases. */
export function vulnerabilityIds(adv: Advisory): string[] {
  return [...new Set([adv.id, ...adv.aliases])].sort();
}

export type AdvisoryStatus =
  | "affected"
  | "under-investigation"
  | "fixed"
  | "not-affected"
  | "fix-not-planned"
  | "pending-upstream-fix"
  | "analysis-not-planned";

/** Where an advisory stands for one installed package version. */
export function statusAt(adv: Advisory, installedVersion: string): { status: AdvisoryStatus; fixedVersion?: string; justification?: string; note?: string } {
  const latest = latestEvent(adv);
  if (!latest) return { status: "under-investigation" };
  const note = typeof latest.data?.note === "string" ? latest.data.note : undefined;
  const withNote = <T extends object>(o: T) => (note === undefined ? o : { ...o, note });
  switch (latest.type) {
    case "detection":
      return { status: "under-investigation" };
    case "true-positive-determination":
      return withNote({ status: "affected" as const });
    case "fixed": {
      const fixedVersion = String(latest.data?.["fixed-version"] ?? "");
      return { status: compareVersions(installedVersion, fixedVersion) >= 0 ? "fixed" : "affected", fixedVersion };
    }
    case "false-positive-determination":
      return withNote({ status: "not-affected" as const, justification: String(latest.data?.type ?? "") });
    default:
      return withNote({ status: latest.type });
  }
}
