/**
 * OSV records (the Open Source Vulnerability format, ossf.github.io/osv-schema) and matching them
 * against installed packages: `affected[].package` names the ecosystem and package, `ranges` of type
 * ECOSYSTEM give introduced / fixed / last_affected events compared with apk's version ordering,
 * `versions` lists exact versions. Severity comes from a CVSS v4.0 or v3.x vector (base score computed
 * here) or the record's own database_specific label.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import cvss from "ae-cvss-calculator";
import { compareVersions, isValidVersion } from "../apk/index.js";
import { UndistroError } from "../util/index.js";

export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvAffected {
  package?: { ecosystem?: string; name?: string; purl?: string };
  ranges?: Array<{ type?: string; events?: OsvEvent[] }>;
  versions?: string[];
  severity?: Array<{ type?: string; score?: string }>;
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export interface OsvRecord {
  id: string;
  aliases?: string[];
  upstream?: string[];
  related?: string[];
  summary?: string;
  details?: string;
  modified?: string;
  published?: string;
  withdrawn?: string;
  severity?: Array<{ type?: string; score?: string }>;
  affected?: OsvAffected[];
  references?: Array<{ type?: string; url?: string }>;
  database_specific?: Record<string, unknown>;
}

export const SEVERITIES = ["unknown", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface OsvDatabase {
  records: OsvRecord[];
  /** "ecosystem\0package" → the records and affected entries naming it. */
  byPackage: Map<string, Array<{ record: OsvRecord; affected: OsvAffected }>>;
  files: number;
}

/** Loads every `*.json` under `dir` (recursively): each one OSV record, or a list of records. */
export function loadOsvDatabase(dir: string): OsvDatabase {
  const records: OsvRecord[] = [];
  let files = 0;
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch (err) {
      throw new UndistroError("OSV_INVALID", `cannot read the vulnerability database ${d}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
        hint: "--db names a directory of OSV JSON records (for example an unpacked OSV export for the ecosystem)",
      });
    }
    for (const name of names) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".json")) {
        files++;
        for (const r of parseOsv(readFileSync(p, "utf8"), p)) records.push(r);
      }
    }
  };
  walk(dir);
  const byPackage: OsvDatabase["byPackage"] = new Map();
  for (const record of records) {
    if (record.withdrawn) continue;
    for (const affected of record.affected ?? []) {
      const eco = affected.package?.ecosystem;
      const name = affected.package?.name;
      if (!eco || !name) continue;
      const key = `${eco}\0${name}`;
      const list = byPackage.get(key) ?? [];
      if (!list.length) byPackage.set(key, list);
      list.push({ record, affected });
    }
  }
  return { records, byPackage, files };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The parts of an OSV record that matching reads, checked for the types the schema gives them:
 * records come from a feed, and a null where an object belongs must be an OSV_INVALID naming the
 * field, not a TypeError in the middle of a scan.
 */
function checkOsvShape(rec: Record<string, unknown>, where: string): void {
  const fail = (path: string, what: string) => new UndistroError("OSV_INVALID", `${where}: ${path}: must be ${what}`);
  const strings = (v: unknown, path: string) => {
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== "string"))) throw fail(path, "a list of strings");
  };
  const objects = (v: unknown, path: string): Array<Record<string, unknown>> => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw fail(path, "a list");
    return v.map((x, i) => {
      if (!isObject(x)) throw fail(`${path}[${i}]`, "an object");
      return x;
    });
  };
  const text = (v: unknown, path: string) => {
    if (v !== undefined && typeof v !== "string") throw fail(path, "a string");
  };
  const severities = (v: unknown, path: string) => {
    for (const [i, sev] of objects(v, path).entries()) {
      text(sev.type, `${path}[${i}].type`);
      text(sev.score, `${path}[${i}].score`);
    }
  };
  for (const k of ["aliases", "upstream", "related"]) strings(rec[k], k);
  for (const k of ["summary", "details", "modified", "published", "withdrawn"]) text(rec[k], k);
  severities(rec.severity, "severity");
  for (const [j, a] of objects(rec.affected, "affected").entries()) {
    if (a.package !== undefined) {
      if (!isObject(a.package)) throw fail(`affected[${j}].package`, "an object");
      for (const k of ["ecosystem", "name", "purl"]) text(a.package[k], `affected[${j}].package.${k}`);
    }
    strings(a.versions, `affected[${j}].versions`);
    severities(a.severity, `affected[${j}].severity`);
    for (const [k, range] of objects(a.ranges, `affected[${j}].ranges`).entries()) {
      text(range.type, `affected[${j}].ranges[${k}].type`);
      if (!Array.isArray(range.events)) throw fail(`affected[${j}].ranges[${k}].events`, "a list");
      for (const [e, event] of objects(range.events, `affected[${j}].ranges[${k}].events`).entries()) {
        for (const key of ["introduced", "fixed", "last_affected", "limit"]) text(event[key], `affected[${j}].ranges[${k}].events[${e}].${key}`);
      }
    }
  }
}

export function parseOsv(text: string, file: string): OsvRecord[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UndistroError("OSV_INVALID", `${file}: not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(data) ? data : [data];
  return list.map((r, i) => {
    const where = Array.isArray(data) ? `${file}[${i}]` : file;
    if (typeof r !== "object" || r === null) throw new UndistroError("OSV_INVALID", `${where}: an OSV record must be an object`);
    const rec = r as Record<string, unknown>;
    if (typeof rec.id !== "string" || !rec.id) throw new UndistroError("OSV_INVALID", `${where}: id: required`);
    checkOsvShape(rec, where);
    return rec as unknown as OsvRecord;
  });
}

/** apk ordering, with OSV's "0" (before every version) and unparseable versions compared as text. */
function cmp(a: string, b: string): number {
  if (a === b) return 0;
  if (a === "0") return -1;
  if (b === "0") return 1;
  if (isValidVersion(a) && isValidVersion(b)) return compareVersions(a, b);
  return a < b ? -1 : 1;
}

export interface RangeVerdict {
  affected: boolean;
  /** The first fixed version above the installed one, when the record names one. */
  fixedVersion?: string;
}

/** Whether `version` falls in an affected entry (OSV's evaluation: events in version order). */
export function affectsVersion(affected: OsvAffected, version: string): RangeVerdict {
  if (affected.versions?.includes(version)) return { affected: true, ...firstFix(affected, version) };
  for (const range of affected.ranges ?? []) {
    if (range.type !== "ECOSYSTEM" && range.type !== undefined) continue;
    const events = [...(range.events ?? [])].sort((x, y) => cmp(eventVersion(x), eventVersion(y)));
    let hit = false;
    for (const e of events) {
      if (e.introduced !== undefined && cmp(version, e.introduced) >= 0) hit = true;
      else if (e.fixed !== undefined && cmp(version, e.fixed) >= 0) hit = false;
      else if (e.last_affected !== undefined && cmp(version, e.last_affected) > 0) hit = false;
    }
    if (hit) return { affected: true, ...firstFix(affected, version) };
  }
  return { affected: false };
}

function eventVersion(e: OsvEvent): string {
  return e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? "0";
}

function firstFix(affected: OsvAffected, version: string): { fixedVersion?: string } {
  const fixes = (affected.ranges ?? [])
    .flatMap((r) => r.events ?? [])
    .map((e) => e.fixed)
    .filter((f): f is string => f !== undefined && cmp(f, version) > 0)
    .sort(cmp);
  return fixes[0] === undefined ? {} : { fixedVersion: fixes[0] };
}

const CVSS3_WEIGHTS: Record<string, Record<string, number>> = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
};

/** CVSS 3.x "round up" to one decimal, done in integers as the 3.1 specification asks (no float drift). */
function roundUp(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

/** The CVSS v3.0/3.1 base score of a vector like "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", or undefined. */
export function cvss3BaseScore(vector: string): number | undefined {
  const parts = vector.split("/");
  if (!/^CVSS:3\.[01]$/.test(parts[0] ?? "")) return undefined;
  const m: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    const [k, v] = p.split(":");
    if (k && v) m[k] = v;
  }
  const scope = m.S;
  const w = (k: string) => CVSS3_WEIGHTS[k]?.[m[k] ?? ""];
  const av = w("AV");
  const ac = w("AC");
  const ui = w("UI");
  const c = w("C");
  const i = w("I");
  const a = w("A");
  const pr = { N: 0.85, L: scope === "C" ? 0.68 : 0.62, H: scope === "C" ? 0.5 : 0.27 }[m.PR ?? ""];
  if (av === undefined || ac === undefined || ui === undefined || c === undefined || i === undefined || a === undefined || pr === undefined) return undefined;
  if (scope !== "U" && scope !== "C") return undefined;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = scope === "U" ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * av * ac * pr * ui;
  if (impact <= 0) return 0;
  return scope === "U" ? roundUp(Math.min(impact + exploitability, 10)) : roundUp(Math.min(1.08 * (impact + exploitability), 10));
}

const CVSS4_BASE_METRICS = ["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"];

/**
 * The CVSS v4.0 score of a vector like "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
 * (threat and environmental metrics count when present), or undefined for anything else. v4.0
 * scores come from a lookup of 270 macro-vectors and an interpolation inside each, so this uses a
 * maintained implementation (ae-cvss-calculator) rather than one written here.
 */
export function cvss4Score(vector: string): number | undefined {
  if (!vector.startsWith("CVSS:4.0/")) return undefined;
  // Every base metric is mandatory in a v4.0 vector; a partial one has no score (the library
  // would score the missing ones as their lowest values).
  const given = new Set(vector.split("/").map((p) => p.split(":")[0]));
  if (!CVSS4_BASE_METRICS.every((m) => given.has(m))) return undefined;
  try {
    const score = new cvss.Cvss4P0(vector).calculateScores().overall;
    return typeof score === "number" && Number.isFinite(score) ? score : undefined;
  } catch {
    return undefined; // a malformed vector: the record's label decides
  }
}

export function severityOfScore(score: number): Severity {
  if (score >= 9) return "critical";
  if (score >= 7) return "high";
  if (score >= 4) return "medium";
  if (score > 0) return "low";
  return "unknown";
}

/**
 * A record's severity: its CVSS vector (affected entry first, then record; v4.0 before v3.x, the
 * newer scale where a record has both), else its own label.
 */
export function recordSeverity(record: OsvRecord, affected?: OsvAffected): { severity: Severity; score?: number; vector?: string } {
  const vectors = [...(affected?.severity ?? []), ...(record.severity ?? [])];
  for (const [type, scoreOf] of [
    ["CVSS_V4", cvss4Score],
    ["CVSS_V3", cvss3BaseScore],
  ] as const) {
    for (const s of vectors) {
      if (s.type !== type || !s.score) continue;
      const score = scoreOf(s.score);
      if (score !== undefined) return { severity: severityOfScore(score), score, vector: s.score };
    }
  }
  for (const label of [affected?.ecosystem_specific?.severity, affected?.database_specific?.severity, record.database_specific?.severity]) {
    if (typeof label !== "string") continue;
    const l = label.toLowerCase();
    const mapped = l === "moderate" ? "medium" : l === "important" ? "high" : l;
    if ((SEVERITIES as readonly string[]).includes(mapped)) return { severity: mapped as Severity };
  }
  return { severity: "unknown" };
}
