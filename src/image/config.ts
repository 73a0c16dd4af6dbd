/**
 * apko's image configuration (YAML), as undistro reads it: validated against apko's own field list,
 * `include` resolved, architectures normalised to APK names.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020.js";
import { formatPath, parseYamlFile } from "../recipe/index.js";
import { adaptGoSchema, fsError, readSchema, UndistroError } from "../util/index.js";

export interface ImageUser {
  username: string;
  uid: number;
  gid?: number;
  shell?: string;
  homedir?: string;
}

export interface ImagePath {
  path: string;
  type: "directory" | "symlink" | "hardlink" | "empty-file" | "permissions";
  uid: number;
  gid: number;
  permissions: number;
  source?: string;
  recursive: boolean;
}

export interface ImageConfig {
  file: string;
  contents: { repositories: string[]; keyring: string[]; packages: string[]; buildRepositories: string[]; runtimeRepositories: string[] };
  entrypoint?: { command?: string; type?: string; services?: Record<string, string> };
  cmd?: string;
  stopSignal?: string;
  workDir?: string;
  environment: Record<string, string>;
  accounts: { groups: Array<{ groupname: string; gid: number; members: string[] }>; users: ImageUser[]; runAs?: string };
  paths: ImagePath[];
  /** APK architecture names (x86_64, aarch64). */
  archs: string[];
  annotations: Record<string, string>;
  layering?: { strategy: string; budget: number };
  /** The document as validated, for fields undistro does not model. */
  raw: Record<string, unknown>;
}

const ARCH_ALIASES: Record<string, string> = { amd64: "x86_64", x86_64: "x86_64", arm64: "aarch64", aarch64: "aarch64", "arm64/v8": "aarch64" };
export const OCI_ARCH: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: "amd64" },
  aarch64: { architecture: "arm64", variant: "v8" },
};

export function apkArch(name: string, where: string): string {
  const a = ARCH_ALIASES[name];
  if (!a)
    throw new UndistroError("IMAGE_INVALID", `${where}: architecture ${JSON.stringify(name)} is not supported`, {
      hint: "use x86_64 (amd64) or aarch64 (arm64)",
    });
  return a;
}

let validator: ValidateFunction | undefined;

function schema(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv2020.default({ allErrors: true, coerceTypes: true, strict: false });
    validator = ajv.compile(adaptGoSchema(readSchema("apko-config.schema.json")) as object);
  }
  return validator;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strs = (v: unknown): string[] =>
  arr(v)
    .filter((x) => x !== null)
    .map(String);

function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== null).map(dropNulls);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== null)
        .map(([k, x]) => [k, dropNulls(x)]),
    );
  return v;
}

/** `0o755`, `0755` and `493` all mean the same mode. */
function mode(v: unknown, where: string): number {
  const s = String(v ?? "");
  if (/^0o[0-7]+$/i.test(s)) return Number.parseInt(s.slice(2), 8);
  if (/^0[0-7]+$/.test(s)) return Number.parseInt(s, 8);
  if (/^[0-9]+$/.test(s)) return Number(s);
  throw new UndistroError("IMAGE_INVALID", `${where}: ${JSON.stringify(s)} is not a file mode (e.g. 0o755)`);
}

function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (Array.isArray(b) && Array.isArray(v)) out[k] = [...b, ...v];
    else if (b && typeof b === "object" && !Array.isArray(b) && v && typeof v === "object" && !Array.isArray(v)) out[k] = deepMerge(b as Obj, v as Obj);
    else out[k] = v;
  }
  return out;
}

function readDoc(file: string, seen: Set<string>): Obj {
  const abs = resolve(file);
  if (seen.has(abs)) throw new UndistroError("IMAGE_INVALID", `${file}: include cycle (${[...seen, abs].join(" → ")})`);
  seen.add(abs);
  let text: string;
  try {
    text = readFileSync(abs, "utf8");
  } catch (err) {
    throw fsError(err, "read image config", file);
  }
  const yaml = parseYamlFile(text, file);
  // Octal modes are written 0o755 in apko configs; keep them as strings until read.
  let doc = obj(dropNulls(yaml.data));
  const validate = schema();
  const forSchema = JSON.parse(JSON.stringify(doc)) as Obj;
  for (const p of arr(forSchema.paths)) if (p && typeof p === "object" && "permissions" in p) (p as Obj).permissions = 0;
  if (!validate(forSchema)) {
    const problems = (validate.errors ?? []).map((e) => {
      const segs = e.instancePath
        .split("/")
        .slice(1)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      if (e.keyword === "additionalProperties") segs.push((e.params as { additionalProperty: string }).additionalProperty);
      const line = yaml.lineOf(segs);
      const msg = e.keyword === "additionalProperties" ? "unknown field" : (e.message ?? "is invalid");
      return `${formatPath(segs)}${line ? ` (line ${line})` : ""}: ${msg}`;
    });
    throw new UndistroError("IMAGE_INVALID", `${file}: ${problems.length} problem(s):\n${[...new Set(problems)].map((p) => `  ${p}`).join("\n")}`, {
      hint: "the accepted fields are apko's (schemas/apko-config.schema.json)",
    });
  }
  if (doc.include !== undefined) {
    const inc = findInclude(abs, String(doc.include));
    const base = readDoc(inc, seen);
    const { include: _i, ...rest } = doc;
    doc = deepMerge(base, rest);
  }
  return doc;
}

/**
 * apko resolves `include` against the directory it runs in (its examples say
 * `include: examples/alpine-base.yaml`); undistro tries the config's own directory, then each
 * parent directory, then the current one.
 */
function findInclude(configFile: string, inc: string): string {
  const candidates: string[] = [];
  for (let d = dirname(configFile); ; d = dirname(d)) {
    candidates.push(resolve(d, inc));
    if (dirname(d) === d) break;
  }
  candidates.push(resolve(inc));
  const found = candidates.find((c) => existsSync(c));
  if (!found)
    throw new UndistroError(
      "IMAGE_INVALID",
      `${configFile}: include ${JSON.stringify(inc)} not found (looked beside the config and in its parent directories)`,
    );
  return found;
}

export function loadImageConfig(file: string): ImageConfig {
  const doc = readDoc(file, new Set());
  const contents = obj(doc.contents);
  const ep = obj(doc.entrypoint);
  const accounts = obj(doc.accounts);
  const cfg: ImageConfig = {
    file,
    contents: {
      repositories: strs(contents.repositories),
      keyring: strs(contents.keyring),
      packages: strs(contents.packages),
      buildRepositories: strs(contents.build_repositories),
      runtimeRepositories: strs(contents.runtime_repositories),
    },
    environment: Object.fromEntries(Object.entries(obj(doc.environment)).map(([k, v]) => [k, String(v)])),
    accounts: {
      groups: arr(accounts.groups).map((g, _i) => {
        const o = obj(g);
        return { groupname: String(o.groupname ?? ""), gid: Number(o.gid ?? 0), members: strs(o.members) };
      }),
      users: arr(accounts.users).map((u) => {
        const o = obj(u);
        const user: ImageUser = { username: String(o.username ?? ""), uid: Number(o.uid ?? 0) };
        if (o.gid !== undefined) user.gid = Number(o.gid);
        if (o.shell !== undefined) user.shell = String(o.shell);
        if (o.homedir !== undefined) user.homedir = String(o.homedir);
        return user;
      }),
    },
    paths: arr(doc.paths).map((p, i) => {
      const o = obj(p);
      const where = `${file}: paths[${i}]`;
      const type = String(o.type ?? "") as ImagePath["type"];
      if (!["directory", "symlink", "hardlink", "empty-file", "permissions"].includes(type)) {
        throw new UndistroError("IMAGE_INVALID", `${where}.type: ${JSON.stringify(type)} is not one of directory, symlink, hardlink, empty-file, permissions`);
      }
      if (!o.path) throw new UndistroError("IMAGE_INVALID", `${where}.path is required`);
      const entry: ImagePath = {
        path: String(o.path),
        type,
        uid: Number(o.uid ?? 0),
        gid: Number(o.gid ?? 0),
        permissions: o.permissions === undefined ? (type === "directory" ? 0o755 : 0o644) : mode(o.permissions, `${where}.permissions`),
        recursive: String(o.recursive ?? "false") === "true",
      };
      if (o.source !== undefined) entry.source = String(o.source);
      if ((type === "symlink" || type === "hardlink") && !entry.source) throw new UndistroError("IMAGE_INVALID", `${where}: a ${type} needs source`);
      return entry;
    }),
    archs: strs(doc.archs).map((a, i) => apkArch(a, `${file}: archs[${i}]`)),
    annotations: Object.fromEntries(Object.entries(obj(doc.annotations)).map(([k, v]) => [k, String(v)])),
    raw: doc,
  };
  if (accounts["run-as"] !== undefined) cfg.accounts.runAs = String(accounts["run-as"]);
  if (Object.keys(ep).length > 0) {
    cfg.entrypoint = {};
    if (ep.command !== undefined) cfg.entrypoint.command = String(ep.command);
    if (ep.type !== undefined) cfg.entrypoint.type = String(ep.type);
    if (ep.services !== undefined) cfg.entrypoint.services = Object.fromEntries(Object.entries(obj(ep.services)).map(([k, v]) => [k, String(v)]));
  }
  if (doc.cmd !== undefined) cfg.cmd = String(doc.cmd);
  if (doc["stop-signal"] !== undefined) cfg.stopSignal = String(doc["stop-signal"]);
  if (doc["work-dir"] !== undefined) cfg.workDir = String(doc["work-dir"]);
  if (doc.layering !== undefined) {
    const l = obj(doc.layering);
    cfg.layering = { strategy: String(l.strategy ?? "origin"), budget: Number(l.budget ?? 10) };
  }
  const names = new Set<string>();
  for (const u of cfg.accounts.users) {
    if (!u.username) throw new UndistroError("IMAGE_INVALID", `${file}: accounts.users: a user needs a username`);
    if (names.has(u.username)) throw new UndistroError("IMAGE_INVALID", `${file}: accounts.users: ${u.username} appears twice`);
    names.add(u.username);
  }
  return cfg;
}
