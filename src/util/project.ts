/**
 * The project configuration: one `undistro.yaml` at the root of a distro checkout (found by
 * walking up from the working directory) holding the defaults commands use when a flag is not
 * given — where recipes, images and advisories live, the output repository, the signing key and
 * the source mirror. Paths in it are relative to the file. Flags always win.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { UndistroError } from "./errors.js";

export const PROJECT_FILE = "undistro.yaml";

export interface ProjectConfig {
  /** The undistro.yaml that was read, if any. */
  file?: string;
  /** Directory paths are relative to. */
  dir: string;
  distro: string;
  packages: string;
  images: string;
  advisories: string;
  repository: string;
  signingKey?: string;
  sourceMirrors: string[];
  cacheDir?: string;
}

const KEYS = ["distro", "packages", "images", "advisories", "repository", "signing-key", "source-mirror", "cache-dir"] as const;

/** The nearest undistro.yaml at or above `cwd`, or the built-in defaults relative to `cwd`. */
export function loadProjectConfig(cwd = process.cwd()): ProjectConfig {
  let file: string | undefined;
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (existsSync(join(d, PROJECT_FILE))) {
      file = join(d, PROJECT_FILE);
      break;
    }
    if (dirname(d) === d) break;
  }
  const dir = file ? dirname(file) : resolve(cwd);
  const at = (p: string) => resolve(dir, p);
  const config: ProjectConfig = {
    dir,
    distro: "undistro",
    packages: at("distro/packages"),
    images: at("distro/images"),
    advisories: at("distro/advisories"),
    repository: at("out/repo"),
    sourceMirrors: [],
  };
  if (!file) return config;
  config.file = file;
  const doc = parseDocument(readFileSync(file, "utf8"), { schema: "failsafe" });
  if (doc.errors[0]) throw new UndistroError("PROJECT_CONFIG_INVALID", `${file}: ${doc.errors[0].message.split("\n")[0]}`);
  const data = doc.toJS() as Record<string, unknown> | null;
  if (data === null || data === undefined) return config;
  if (typeof data !== "object" || Array.isArray(data)) throw new UndistroError("PROJECT_CONFIG_INVALID", `${file}: must be a mapping`);
  const str = (k: string): string => {
    const v = data[k];
    if (typeof v !== "string" || v === "") throw new UndistroError("PROJECT_CONFIG_INVALID", `${file}: ${k}: must be a non-empty string`);
    return v;
  };
  for (const k of Object.keys(data)) {
    if (!(KEYS as readonly string[]).includes(k)) {
      throw new UndistroError("PROJECT_CONFIG_INVALID", `${file}: ${k}: unknown setting`, { hint: `settings: ${KEYS.join(", ")}` });
    }
  }
  if ("distro" in data) config.distro = str("distro");
  if ("packages" in data) config.packages = at(str("packages"));
  if ("images" in data) config.images = at(str("images"));
  if ("advisories" in data) config.advisories = at(str("advisories"));
  if ("repository" in data) config.repository = at(str("repository"));
  if ("signing-key" in data) config.signingKey = at(str("signing-key"));
  if ("cache-dir" in data) config.cacheDir = at(str("cache-dir"));
  if ("source-mirror" in data) {
    const v = data["source-mirror"];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === "string" && x !== "")) {
      throw new UndistroError("PROJECT_CONFIG_INVALID", `${file}: source-mirror: a directory or a list of directories`);
    }
    config.sourceMirrors = (list as string[]).map(at);
  }
  return config;
}
