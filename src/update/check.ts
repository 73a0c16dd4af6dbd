/**
 * Upstream release detection from a recipe's `update:` section, with melange's providers:
 * `git` (tags of the recipe's git-checkout repository), `github` (tags of
 * github.com/<identifier>), `release-monitor` (release-monitoring.org's versions API), and, for a
 * recipe with a `fetch` step and no provider, the HTTP directory listing that holds the tarball
 * (how GNU and zlib publish releases); and undistro's own `debian` (the newest upstream release a
 * Debian suite packages, from the archive's signed Sources indexes: debian.ts). Base URLs can be
 * pointed elsewhere (a mirror, a test server) with $UNDISTRO_GITHUB_URL,
 * $UNDISTRO_RELEASE_MONITOR_URL and $UNDISTRO_DEBIAN_URL.
 */
import { spawnSync } from "node:child_process";
import { compareVersions, isValidVersion } from "../apk/index.js";
import { archInfo, hostArch, recipeVars, substitute } from "../build/index.js";
import { findRecipes, loadRecipe, type PipelineStep, type Recipe } from "../recipe/index.js";
import { inPool, parseJsonInput, UndistroError } from "../util/index.js";
import { DEFAULT_SUITES, type DebianSourceVersion, debianVersions, tarballServed } from "./debian.js";

export type ProviderKind = "git" | "github" | "release-monitor" | "debian" | "http";

export interface UpdateCheck {
  package: string;
  recipe: string;
  current: string;
  /** The newest upstream version the provider lists (after filters and transforms). */
  latest?: string;
  newer: boolean;
  provider?: ProviderKind;
  /** What was asked: a repository, URL or project id. */
  source?: string;
  /** debian: where the newest release is, as the signed Sources index gives it. */
  tarball?: { suite: string; debianVersion: string; name: string; sha256: string; uri: string };
  /**
   * debian: newer versions the signed Sources indexes list but whose tarball the archive's pool
   * does not serve (HTTP 404 or 410): they cannot be built, so `latest` is the newest served one.
   */
  unserved?: string[];
  /** Why the package was not checked (disabled, manual, no provider) or what failed. */
  skipped?: string;
  error?: string;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined);

function allSteps(steps: PipelineStep[]): PipelineStep[] {
  return steps.flatMap((s) => [s, ...allSteps(s.pipeline ?? [])]);
}

/** The recipe's first `fetch` or `git-checkout` step, with substitutions for a given version. */
export function sourceStep(recipe: Recipe): PipelineStep | undefined {
  return allSteps(recipe.pipeline).find((s) => s.uses === "fetch" || s.uses === "git-checkout");
}

interface Filters {
  stripPrefix?: string;
  stripSuffix?: string;
  prefix?: string;
  contains?: string;
}

/** Upstream names → candidate package versions: filters, prefixes, separator, transforms, ignore patterns. */
export function candidateVersions(names: readonly string[], update: Obj, f: Filters): string[] {
  const ignore = (Array.isArray(update["ignore-regex-patterns"]) ? update["ignore-regex-patterns"] : []).map((p) => new RegExp(String(p)));
  const transforms = (Array.isArray(update["version-transform"]) ? update["version-transform"] : [])
    .map(obj)
    .filter((t): t is Obj => Boolean(t))
    .map((t) => ({ match: new RegExp(String(t.match), "g"), replace: String(t.replace ?? "").replace(/\$\{?(\d+)\}?/g, "$$$1") }));
  const separator = str(update["version-separator"]);
  const prerelease = update["enable-prerelease-tags"] === true || update["enable-prerelease-tags"] === "true";
  const out = new Set<string>();
  for (let name of names) {
    if (f.prefix && !name.startsWith(f.prefix)) continue;
    if (f.contains && !name.includes(f.contains)) continue;
    if (ignore.some((r) => r.test(name))) continue;
    if (f.stripPrefix && name.startsWith(f.stripPrefix)) name = name.slice(f.stripPrefix.length);
    if (f.stripSuffix && name.endsWith(f.stripSuffix)) name = name.slice(0, -f.stripSuffix.length);
    if (separator) name = name.split(separator).join(".");
    for (const t of transforms) name = name.replace(t.match, t.replace);
    if (!isValidVersion(name)) continue;
    if (!prerelease && /_(alpha|beta|pre|rc)\d*/.test(name)) continue;
    out.add(name);
  }
  return [...out].sort(compareVersions);
}

/** `git ls-remote [OPTIONS] REPOSITORY [REFS]` (never prompting for credentials): its output, or an error with `code`. */
export function gitLsRemote(repository: string, opts: { options?: string[]; refs?: string[] }, code: string, where = ""): string {
  // `--` keeps a recipe's URL from being read as an option (--upload-pack=… runs a command), and
  // GIT_ALLOW_PROTOCOL keeps it off transports that run commands (ext::).
  const r = spawnSync("git", ["ls-remote", ...(opts.options ?? []), "--", repository, ...(opts.refs ?? [])], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ALLOW_PROTOCOL: "file:git:http:https:ssh" },
  });
  if (r.error) throw new UndistroError(code, `${where}git ls-remote ${repository}: ${r.error.message}`, { hint: "is git installed?" });
  if (r.status !== 0) throw new UndistroError(code, `${where}git ls-remote ${repository} failed: ${(r.stderr || "").trim().split("\n").pop()}`);
  return r.stdout;
}

function gitTags(repository: string): string[] {
  return gitLsRemote(repository, { options: ["--tags", "--refs"] }, "UPDATE_PROVIDER")
    .split("\n")
    .map((l) => /\trefs\/tags\/(.+)$/.exec(l)?.[1])
    .filter((t): t is string => Boolean(t));
}

async function httpText(url: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", headers: { accept: "text/html, application/json;q=0.9, */*;q=0.5" } });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new UndistroError("UPDATE_PROVIDER", `cannot fetch ${url}: ${cause?.code ?? (err as Error).message}`);
  }
  if (!res.ok) throw new UndistroError("UPDATE_PROVIDER", `${url}: HTTP ${res.status}`);
  return res.text();
}

/** The version list of a release-monitoring.org answer (stable first), every entry a string. */
function releaseMonitorVersions(body: unknown, source: string): string[] {
  const b = (body ?? {}) as { stable_versions?: unknown; versions?: unknown; latest_version?: unknown };
  const pick = Array.isArray(b.stable_versions)
    ? b.stable_versions
    : Array.isArray(b.versions)
      ? b.versions
      : typeof b.latest_version === "string"
        ? [b.latest_version]
        : undefined;
  if (typeof body !== "object" || body === null || !pick || pick.some((v) => typeof v !== "string")) {
    throw new UndistroError("UPDATE_PROVIDER", `${source}: not a release-monitoring versions answer (stable_versions, versions or latest_version)`);
  }
  return pick as string[];
}

/** File names a directory listing links to (Apache, nginx, lighttpd and FTP-over-HTTP indexes are all <a href>). */
export function listingNames(html: string): string[] {
  const names = new Set<string>();
  for (const m of html.matchAll(/href\s*=\s*["']([^"'?#]+)[^"']*["']/gi)) {
    let href: string;
    try {
      href = decodeURIComponent(m[1] as string);
    } catch {
      continue; // a link with a broken %-escape names no file we could fetch
    }
    const base = href.replace(/\/$/, "").split("/").pop();
    if (base) names.add(base);
  }
  return [...names];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Checks one recipe's upstream. Never throws for a provider failure: the result carries the error. */
export async function checkRecipe(file: string): Promise<UpdateCheck> {
  const recipe = loadRecipe(file);
  const base = { package: recipe.package.name, recipe: file, current: recipe.package.version, newer: false };
  const update = obj(recipe.update);
  if (!update) return { ...base, skipped: "no update section" };
  if (update.enabled === false || update.enabled === "false") return { ...base, skipped: "update.enabled is false" };
  if (update.manual === true || update.manual === "true") return { ...base, skipped: "update.manual: updated by hand" };
  const vars = recipeVars(recipe, archInfo(hostArch()));
  let provider: ProviderKind | undefined;
  let source: string | undefined;
  try {
    let versions: string[];
    const gh = obj(update.github);
    const git = obj(update.git);
    const rm = obj(update["release-monitor"]);
    const deb = obj(update.debian);
    let tarball: UpdateCheck["tarball"];
    let unserved: string[] | undefined;
    if (deb) {
      provider = "debian";
      const pkg = str(deb.source) ?? recipe.package.name;
      const suites = Array.isArray(deb.suites) ? deb.suites.map((x) => String(x)) : DEFAULT_SUITES;
      source = `debian:${pkg} (${suites.join(", ")})`;
      const found = await debianVersions(pkg, suites);
      versions = candidateVersions(
        found.map((f) => f.upstream),
        update,
        {},
      );
      const picked = await newestServed(found, versions, recipe.package.version);
      versions = picked.versions;
      if (picked.unserved.length) unserved = picked.unserved;
      const where = picked.where ?? found.find((f) => f.upstream === versions[versions.length - 1] && f.tarball);
      if (where?.tarball)
        tarball = { suite: where.suite, debianVersion: where.debianVersion, name: where.tarball.name, sha256: where.tarball.sha256, uri: where.tarball.uri };
    } else if (gh) {
      provider = "github";
      const base = (process.env.UNDISTRO_GITHUB_URL ?? "https://github.com").replace(/\/$/, "");
      source = `${base}/${str(gh.identifier)}`;
      const prefix = str(gh["tag-filter-prefix"]) ?? str(gh["tag-filter"]);
      versions = candidateVersions(gitTags(source), update, {
        ...opt("stripPrefix", str(gh["strip-prefix"])),
        ...opt("stripSuffix", str(gh["strip-suffix"])),
        ...opt("prefix", prefix),
        ...opt("contains", str(gh["tag-filter-contains"])),
      });
    } else if (git !== undefined || update.git !== undefined) {
      provider = "git";
      const step = allSteps(recipe.pipeline).find((s) => s.uses === "git-checkout");
      const repo = step?.with?.repository;
      if (!repo) throw new UndistroError("UPDATE_PROVIDER", `${file}: update.git needs a git-checkout step with a repository`);
      source = substitute(repo, vars, `${step?.where}.with.repository`, true);
      versions = candidateVersions(gitTags(source), update, {
        ...opt("stripPrefix", str(git?.["strip-prefix"])),
        ...opt("stripSuffix", str(git?.["strip-suffix"])),
        ...opt("prefix", str(git?.["tag-filter-prefix"])),
        ...opt("contains", str(git?.["tag-filter-contains"])),
      });
    } else if (rm) {
      provider = "release-monitor";
      const base = (process.env.UNDISTRO_RELEASE_MONITOR_URL ?? "https://release-monitoring.org").replace(/\/$/, "");
      source = `${base}/api/v2/versions/?project_id=${encodeURIComponent(String(str(rm.identifier)))}`;
      const names = releaseMonitorVersions(parseJsonInput(await httpText(source), source, "UPDATE_PROVIDER"), source);
      versions = candidateVersions(names, update, {
        ...opt("stripPrefix", str(rm["strip-prefix"])),
        ...opt("stripSuffix", str(rm["strip-suffix"])),
        ...opt("prefix", str(rm["version-filter-prefix"])),
        ...opt("contains", str(rm["version-filter-contains"])),
      });
    } else {
      const step = allSteps(recipe.pipeline).find((s) => s.uses === "fetch");
      const uri = step?.with?.uri;
      if (!uri || !/\$\{\{package\.version\}\}/.test(uri))
        return { ...base, skipped: "no update provider and no fetch step whose uri names ${{package.version}}" };
      provider = "http";
      // The listing is the directory holding the tarball; its file name, with the version as a wildcard, picks the releases.
      const template = uri.split("/").pop() as string;
      const dirUri = substitute(uri.slice(0, uri.length - template.length), vars, `${step?.where}.with.uri`, true);
      source = dirUri;
      const parts = template.split("${{package.version}}").map((p) => escapeRegExp(substitute(p, vars, `${step?.where}.with.uri`, true)));
      const re = new RegExp(`^${parts.join("(.+?)")}$`);
      const names = listingNames(await httpText(dirUri))
        .map((n) => re.exec(n)?.[1])
        .filter((v): v is string => Boolean(v));
      versions = candidateVersions(names, update, {});
    }
    const latest = versions[versions.length - 1];
    return {
      ...base,
      provider,
      source,
      ...(latest ? { latest } : {}),
      ...(tarball ? { tarball } : {}),
      ...(unserved ? { unserved } : {}),
      newer: latest !== undefined && isValidVersion(recipe.package.version) && compareVersions(latest, recipe.package.version) > 0,
    };
  } catch (err) {
    if (!(err instanceof UndistroError)) throw err;
    return { ...base, ...(provider ? { provider } : {}), ...(source ? { source } : {}), error: err.message };
  }
}

/**
 * The newest of `versions` (ascending) newer than `current` whose tarball the pool serves, asked
 * with one HEAD request each, newest first: the versions above it are dropped and named.
 */
async function newestServed(found: DebianSourceVersion[], versions: string[], current: string) {
  const kept = [...versions];
  const unserved: string[] = [];
  while (kept.length) {
    const newest = kept[kept.length - 1] as string;
    if (!isValidVersion(current) || compareVersions(newest, current) <= 0) break;
    const candidates = found.filter((f) => f.upstream === newest && f.tarball);
    for (const f of candidates) if (f.tarball && (await tarballServed(f.tarball.uri))) return { versions: kept, unserved, where: f };
    if (!candidates.length) break;
    unserved.push(newest);
    kept.pop();
  }
  return { versions: kept, unserved, where: undefined };
}

function opt<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** Checks every recipe under `path` (a file or directory), a few at a time. */
export async function checkUpdates(path: string, opts: { concurrency?: number; onResult?: (r: UpdateCheck) => void } = {}): Promise<UpdateCheck[]> {
  const files = findRecipes(path);
  const results: UpdateCheck[] = [];
  await inPool(files, opts.concurrency ?? 4, async (file) => {
    const r = await checkRecipe(file);
    results.push(r);
    opts.onResult?.(r);
  });
  return results.sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
}
