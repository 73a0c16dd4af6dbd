/**
 * The `debian` update provider: the newest upstream version of a Debian source package across the
 * suites a recipe names, from the archive's own Sources indexes, with the orig tarball's name and
 * sha256. The chain of trust is apt's: the suite's InRelease is checked with gpgv against the
 * Debian archive keyring, the Sources.gz it lists is checked against the sha256 InRelease gives,
 * and only then read. A check that cannot verify fails; nothing here skips verification.
 *
 *   update:
 *     debian:
 *       source: zlib                      # the source package (default: the package's name)
 *       suites: [trixie, forky, sid]      # default: stable, testing, unstable
 *
 * $UNDISTRO_DEBIAN_URL points at another archive (a mirror, a test server) and
 * $UNDISTRO_DEBIAN_KEYRING at the keyring its InRelease files are signed with.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { isValidVersion } from "../apk/index.js";
import { UndistroError } from "../util/index.js";

export const DEFAULT_SUITES = ["stable", "testing", "unstable"];
const DEFAULT_ARCHIVE = "http://deb.debian.org/debian";
const DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
/** An InRelease is a few hundred KB; Sources.gz of a suite tens of MB, unpacked about four times that. */
const MAX_INRELEASE = 8 << 20;
const MAX_SOURCES_GZ = 64 << 20;
const MAX_SOURCES = 512 << 20;

export interface DebianSourceVersion {
  suite: string;
  /** Debian's version (epoch and revision included). */
  debianVersion: string;
  /** The upstream release it packages, as an apk version (repack markers removed). */
  upstream: string;
  /** The upstream tarball: the orig tarball, or the whole source of a Debian-native package. */
  tarball?: { name: string; sha256: string; size: number; uri: string };
}

function fail(message: string, hint?: string): never {
  throw new UndistroError("UPDATE_PROVIDER", message, hint ? { hint } : {});
}

async function fetchBounded(url: string, max: number): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    fail(`cannot fetch ${url}: ${cause?.code ?? (err as Error).message}`);
  }
  if (!res.ok) fail(`${url}: HTTP ${res.status}`);
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > max) fail(`${url}: ${declared} bytes, more than the ${max} a Debian index may have`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += (chunk as Uint8Array).length;
    if (total > max) fail(`${url}: more than the ${max} bytes a Debian index may have`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

/** The signed text of a clearsigned InRelease, as gpgv verified it (never the unverified bytes). */
function verifiedRelease(inRelease: Buffer, keyring: string, url: string): string {
  const dir = mkdtempSync(join(tmpdir(), "undistro-inrelease-"));
  try {
    writeFileSync(join(dir, "InRelease"), inRelease);
    const r = spawnSync("gpgv", ["--quiet", "--keyring", keyring, "--output", join(dir, "signed"), join(dir, "InRelease")], { encoding: "utf8" });
    if (r.error) fail(`cannot run gpgv to check ${url}: ${r.error.message}`, "install gpgv (scripts/setup.sh does)");
    if (r.status !== 0) fail(`${url}: its signature does not verify with ${keyring}: ${(r.stderr || "").trim().split("\n").slice(-2).join(" ")}`);
    return readFileSync(join(dir, "signed"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The sha256 and size InRelease gives for one of its files. */
function releaseEntry(release: string, path: string, url: string): { sha256: string; size: number } {
  const section = /^SHA256:\n((?:[ \t].*\n?)*)/m.exec(release)?.[1] ?? "";
  for (const line of section.split("\n")) {
    const [sha256, size, name] = line.trim().split(/\s+/);
    if (name === path && sha256 && /^[0-9a-f]{64}$/.test(sha256)) return { sha256, size: Number(size) };
  }
  return fail(`${url}: lists no SHA256 for ${path}`);
}

/** Upstream version of a Debian version: no epoch, no revision, no repack marker; `X+reallyY` is Y. */
export function upstreamOf(debianVersion: string): string | undefined {
  let v = debianVersion.replace(/^\d+:/, "");
  const dash = v.lastIndexOf("-");
  if (dash > 0) v = v.slice(0, dash);
  const really = /\+really(.+)$/.exec(v);
  if (really) v = really[1] as string;
  v = v.replace(/[.+~](dfsg|ds|repack)\d*$/i, "");
  // A Debian-native package has no revision: its stable updates and NMUs mark the version itself.
  v = v.replace(/([+~]deb\d+u\d+|\+nmu\d+)$/, "");
  return isValidVersion(v) ? v : undefined;
}

/** Paragraphs of a Sources file for the wanted source packages only (a suite has tens of thousands). */
export function sourcesEntries(text: string, wanted: ReadonlySet<string>): Map<string, Array<Record<string, string>>> {
  const out = new Map<string, Array<Record<string, string>>>();
  for (const para of text.split(/\n\n+/)) {
    const name = /^Package:\s*(\S+)/m.exec(para)?.[1];
    if (!name || !wanted.has(name)) continue;
    const fields: Record<string, string> = {};
    let key = "";
    for (const line of para.split("\n")) {
      if (/^\s/.test(line) && key) fields[key] += `\n${line.trim()}`;
      else {
        const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
        if (!m) continue;
        key = m[1] as string;
        fields[key] = m[2] as string;
      }
    }
    out.set(name, [...(out.get(name) ?? []), fields]);
  }
  return out;
}

function tarballOf(fields: Record<string, string>, archive: string): DebianSourceVersion["tarball"] {
  const files = (fields["Checksums-Sha256"] ?? "")
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length === 3 && /^[0-9a-f]{64}$/.test(p[0] as string))
    .map(([sha256, size, name]) => ({ sha256: sha256 as string, size: Number(size), name: name as string }));
  const orig =
    files.find((f) => /\.orig\.tar\.[a-z0-9]+$/.test(f.name)) ?? files.find((f) => /\.tar\.[a-z0-9]+$/.test(f.name) && !/\.debian\.tar\./.test(f.name));
  if (!orig || !fields.Directory || /(^|\/)\.\.(\/|$)/.test(fields.Directory)) return undefined;
  return { ...orig, uri: `${archive}/${fields.Directory}/${orig.name}` };
}

/** One suite's verified Sources, parsed for the wanted packages; kept for the process (a check of many recipes reads each suite once). */
const suiteCache = new Map<string, Promise<Map<string, Array<Record<string, string>>>>>();

async function suiteSources(archive: string, suite: string, keyring: string, wanted: ReadonlySet<string>): Promise<Map<string, Array<Record<string, string>>>> {
  const key = `${archive}\0${suite}\0${keyring}\0${[...wanted].sort().join(",")}`;
  let p = suiteCache.get(key);
  if (!p) {
    p = (async () => {
      const releaseUrl = `${archive}/dists/${suite}/InRelease`;
      const release = verifiedRelease(await fetchBounded(releaseUrl, MAX_INRELEASE), keyring, releaseUrl);
      const expected = releaseEntry(release, "main/source/Sources.gz", releaseUrl);
      const url = `${archive}/dists/${suite}/main/source/Sources.gz`;
      const gz = await fetchBounded(url, MAX_SOURCES_GZ);
      const got = createHash("sha256").update(gz).digest("hex");
      if (got !== expected.sha256) fail(`${url}: sha256 ${got}, but the signed InRelease says ${expected.sha256}`);
      let text: string;
      try {
        text = gunzipSync(gz, { maxOutputLength: MAX_SOURCES }).toString("utf8");
      } catch (err) {
        fail(`${url}: not a gzip file of at most ${MAX_SOURCES} bytes (${(err as Error).message})`);
      }
      return sourcesEntries(text, wanted);
    })();
    suiteCache.set(key, p);
    p.catch(() => suiteCache.delete(key));
  }
  return p;
}

/**
 * Whether the archive serves a tarball: false on 404 or 410 (the Sources index may list a version
 * whose files the pool or its mirror does not have), true on success; anything else is an error.
 */
export async function tarballServed(uri: string): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch(uri, { method: "HEAD", redirect: "follow" });
  } catch (err) {
    fail(`${uri}: ${(err as Error).message}`, "is the Debian archive reachable? (UNDISTRO_DEBIAN_URL)");
  }
  if (res.status === 404 || res.status === 410) return false;
  if (!res.ok) fail(`${uri}: HTTP ${res.status}`);
  return true;
}

/** Every version of `source` the suites carry, with its upstream version and tarball. */
export async function debianVersions(source: string, suites: readonly string[]): Promise<DebianSourceVersion[]> {
  const archive = (process.env.UNDISTRO_DEBIAN_URL ?? DEFAULT_ARCHIVE).replace(/\/$/, "");
  const keyring = process.env.UNDISTRO_DEBIAN_KEYRING ?? DEFAULT_KEYRING;
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(source)) fail(`update.debian.source ${JSON.stringify(source)} is not a Debian source package name`);
  const out: DebianSourceVersion[] = [];
  for (const suite of suites) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(suite)) fail(`update.debian.suites: ${JSON.stringify(suite)} is not a suite name`);
    const entries = (await suiteSources(archive, suite, keyring, new Set([source]))).get(source) ?? [];
    for (const fields of entries) {
      const debianVersion = fields.Version;
      const upstream = debianVersion ? upstreamOf(debianVersion) : undefined;
      if (!debianVersion || !upstream) continue;
      const tarball = tarballOf(fields, archive);
      out.push({ suite, debianVersion, upstream, ...(tarball ? { tarball } : {}) });
    }
  }
  return out;
}
