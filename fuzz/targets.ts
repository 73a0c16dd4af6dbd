/**
 * Fuzz targets: every parser that reads outside input, each called the way undistro calls it on a
 * file, a server's answer or a request. A target receives the bytes and a scratch directory; it
 * returns normally or throws. The engine judges: only UndistroError may escape, and no input may
 * take over a second. Seeds come from ../shared/reference and test/fixtures (real artefacts of
 * apk-tools, apko, melange, Wolfi and Sigstore), so mutation starts from the formats as they are.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import zlib from "node:zlib";
import { DIST } from "./instrument.js";

const REPO = resolve(DIST, "..");
const SHARED = process.env.UNDISTRO_SHARED ?? resolve(REPO, "../shared");
const REFERENCE = join(SHARED, "reference");
const FIXTURES = join(REPO, "test/fixtures");

/** The library as the worker loaded it (from the instrumented tree). */
type LibName =
  | "apk"
  | "oci"
  | "util"
  | "recipe"
  | "image"
  | "solver"
  | "sign"
  | "advisory"
  | "registry"
  | "bootstrap"
  | "sbom"
  | "build"
  | "update"
  | "catalog";
// biome-ignore lint/suspicious/noExplicitAny: each module's exports are used by name below
export type Lib = Record<LibName, any>;

/** Loads undistro's modules from `tree` (dist/src, or the instrumented copy the fuzzer runs). */
export async function loadLibrary(tree: string): Promise<Lib> {
  const names = ["apk", "oci", "util", "recipe", "image", "solver", "sign", "advisory", "registry", "bootstrap", "sbom", "build", "update", "catalog"] as const;
  const mods = await Promise.all(names.map((m) => import(join(tree, m, "index.js"))));
  return Object.fromEntries(names.map((n, i) => [n, mods[i]])) as Lib;
}

export interface TargetContext {
  lib: Lib;
  /** A fresh-enough scratch directory of this worker's (targets clean what they write). */
  scratch: string;
  /** State a target keeps across runs (a server, a key). */
  state: Record<string, unknown>;
}

export interface FuzzTarget {
  name: string;
  description: string;
  seeds(): Buffer[];
  /** Byte strings worth inserting (field names, magic numbers). */
  dictionary: string[];
  /** The format is JSON: half of the mutations change parsed values instead of bytes. */
  json?: boolean;
  run(data: Buffer, ctx: TargetContext): unknown;
  /** Starts what the target needs once per worker (a registry on loopback). */
  setup?(ctx: TargetContext): Promise<void>;
  teardown?(ctx: TargetContext): Promise<void>;
}

/** Files under `dirs` whose name matches, smallest first, at most `max` of at most `maxBytes` each. */
function seedFiles(dirs: string[], match: (name: string) => boolean, max = 40, maxBytes = 128 * 1024): Buffer[] {
  const found: Array<{ path: string; size: number }> = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 12 || !existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(path, depth + 1);
      else if (st.isFile() && st.size <= maxBytes && match(name)) found.push({ path, size: st.size });
    }
  };
  for (const d of dirs) walk(d, 0);
  // Spread over sizes: every k-th file of the sorted list, so one directory does not fill the quota.
  found.sort((a, b) => a.size - b.size || (a.path < b.path ? -1 : 1));
  const step = Math.max(1, Math.floor(found.length / max));
  return found
    .filter((_, i) => i % step === 0)
    .slice(0, max)
    .map((f) => readFileSync(f.path));
}

const ref = (...p: string[]) => join(REFERENCE, ...p);
const text = (data: Buffer) => data.toString("utf8");

/** Writes `data` to a scratch file for the parsers that take a path. */
function scratchFile(ctx: TargetContext, name: string, data: Buffer): string {
  const path = join(ctx.scratch, name);
  writeFileSync(path, data);
  return path;
}

function apkFromTar(data: Buffer, ctx: TargetContext): unknown {
  return ctx.lib.apk.parseTar(data, (off: number) => `fuzz.tar offset ${off}`);
}

export const TARGETS: FuzzTarget[] = [
  {
    name: "tar",
    description: "ustar/PAX/GNU tar headers and entries",
    seeds: () => seedFiles([ref("apk-tools"), ref("melange")], (n) => n.endsWith(".apk"), 20).map((b) => Buffer.from(gunzipLast(b))),
    dictionary: ["ustar\u000000", "ustar  \u0000", "x", "L", "K", "g", " size=", " path=", " linkpath=", " uid=", "APK-TOOLS.checksum.SHA1="],
    run: apkFromTar,
  },
  {
    name: "gzip",
    description: "gzip members as APK splits them (header flags, CRC, ISIZE)",
    seeds: () => seedFiles([ref("apk-tools"), ref("apko/internal/cli/testdata/packages")], (n) => n.endsWith(".apk") || n.endsWith(".tar.gz"), 20),
    dictionary: ["\x1f\x8b\x08\x00", "\x1f\x8b\x08\x04", "\x1f\x8b\x08\x08", "\x1f\x8b\x08\x1e"],
    run: (data, ctx) => ctx.lib.apk.splitGzipMembers(data, (i: number, off: number) => `fuzz member ${i} at ${off}`, { maxBytes: 64 * 1024 * 1024 }),
  },
  {
    name: "apk",
    description: ".apk files: members, signature, control, .PKGINFO, data tar; extracted into a scratch root",
    seeds: () => seedFiles([ref("apk-tools"), ref("melange"), ref("apko")], (n) => n.endsWith(".apk"), 30, 64 * 1024),
    dictionary: [".SIGN.RSA.", ".SIGN.RSA256.", ".PKGINFO", "pkgname = ", "datahash = ", "../", "/etc/"],
    run: (data, ctx) => {
      const pkg = ctx.lib.apk.parsePackage(data, "fuzz.apk");
      const root = join(ctx.scratch, "root");
      const canary = join(ctx.scratch, "canary");
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root, { recursive: true });
      mkdirSync(canary, { recursive: true });
      let failure: unknown;
      try {
        ctx.lib.apk.extractPackage(pkg, root);
      } catch (err) {
        failure = err;
      }
      // Nothing may land beside the root, whether the extraction failed or not.
      const beside = readdirSync(ctx.scratch).filter((n) => n !== "root" && n !== "canary");
      if (readdirSync(canary).length > 0 || beside.length > 0)
        throw new Error(`extract wrote outside its root: ${[...readdirSync(canary), ...beside].join(", ")}`);
      rmSync(root, { recursive: true, force: true });
      if (failure !== undefined) throw failure;
    },
  },
  {
    name: "pkginfo",
    description: ".PKGINFO text",
    seeds: () => [
      Buffer.from(
        "pkgname = hello\npkgver = 2.12-r0\narch = x86_64\nsize = 10\ndepend = so:libc.musl-x86_64.so.1\nprovides = cmd:hello=2.12-r0\ndatahash = 00\n",
      ),
    ],
    dictionary: ["pkgname = ", "pkgver = ", "depend = ", "provides = ", "install_if = ", "replaces = ", "triggers = ", "size = ", "builddate = ", "# "],
    run: (data, ctx) => ctx.lib.apk.parsePkgInfo(text(data), "fuzz/.PKGINFO"),
  },
  {
    name: "apkindex",
    description: "APKINDEX text and APKINDEX.tar.gz archives",
    seeds: () => [
      ...seedFiles([ref("apko/internal/cli/testdata"), ref("apk-tools")], (n) => n === "APKINDEX" || n === "APKINDEX.tar.gz", 20),
      ...seedFiles([ref("apk-tools/solver")], (n) => n.endsWith(".repo"), 20, 16 * 1024),
    ],
    dictionary: ["P:", "V:", "A:", "C:Q1", "D:", "p:", "i:", "k:", "S:", "I:", "t:", "\n\n"],
    run: (data, ctx) => (data[0] === 0x1f ? ctx.lib.apk.parseIndexArchive(data, "fuzz/APKINDEX.tar.gz") : ctx.lib.apk.parseIndex(text(data), "fuzz/APKINDEX")),
  },
  {
    name: "dependency",
    description: "dependency atoms (name, version constraints, tags, provides)",
    seeds: () => [Buffer.from("so:libc.musl-x86_64.so.1\nfoo>=1.2-r3\n!bar<2\nbaz@edge\ncmd:sh\npc:zlib~1.3\nqux><Q1abc=\nfoo=~1.2")],
    dictionary: [">=", "<=", "~", "=~", "><", "!", "@", "so:", "cmd:", "pc:", "-r", "_rc"],
    run: (data, ctx) => {
      for (const line of text(data).split("\n")) {
        try {
          ctx.lib.apk.parseDependency(line, "fuzz", true);
        } catch (err) {
          if (!(err instanceof ctx.lib.util.UndistroError)) throw err;
        }
        ctx.lib.apk.parseDependency(line, "fuzz", false);
      }
    },
  },
  {
    name: "version",
    description: "apk version strings, compared pairwise",
    seeds: () => [Buffer.from(readFileSync(ref("apk-tools/version.data"), "utf8").split("\n").slice(0, 200).join("\n"))],
    dictionary: ["_alpha", "_beta", "_pre", "_rc", "_p", "_cvs", "_svn", "_git", "_hg", "-r", ".", "a", "9999999999999999999"],
    run: (data, ctx) => {
      const lines = text(data).split("\n");
      for (let i = 0; i + 1 < lines.length; i++) {
        const [a, b] = [lines[i] as string, lines[i + 1] as string];
        ctx.lib.apk.isValidVersion(a);
        const ab = ctx.lib.apk.compareVersions(a, b);
        const ba = ctx.lib.apk.compareVersions(b, a);
        if (ab !== -ba) throw new Error(`compareVersions is not antisymmetric on ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
      }
    },
  },
  {
    name: "recipe",
    description: "melange recipe YAML",
    seeds: () => seedFiles([join(REPO, "distro/packages"), ref("wolfi-os")], (n) => n.endsWith(".yaml"), 40, 8 * 1024),
    dictionary: [
      "${{package.version}}",
      "${{vars.",
      "${{range.",
      "var-transforms:",
      "subpackages:",
      "range:",
      "pipeline:",
      "uses: ",
      "runs: ",
      "with:",
      "&a",
      "*a",
      "<<: *a",
      "!!binary",
    ],
    run: (data, ctx) => ctx.lib.recipe.parseRecipe(text(data), "fuzz.yaml"),
  },
  {
    name: "build-record",
    json: true,
    description: "a package's .undistro-build.json, read by rebuild-check from whoever made the .apk",
    seeds: () => [
      Buffer.from(
        JSON.stringify({
          _type: "https://undistro.dev/build-record/v1",
          builder: { name: "undistro", version: "0.1.0" },
          recipe: { path: "distro/packages/hello.yaml", sha256: "a".repeat(64) },
          settings: { arch: "x86_64", buildArch: "x86_64", sourceDateEpoch: 1700000000, distro: "undistro", hermetic: false },
          sources: [{ uri: "https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz", sha256: "b".repeat(64) }],
          environment: { packages: [{ name: "musl", version: "1.2.5-r0", arch: "x86_64" }], hostProvided: ["build-base"] },
          host: [{ name: "gcc-12", version: "12.2.0-14", arch: "amd64" }],
          steps: [
            { package: "hello", where: "pipeline[0]", name: "uses fetch", kind: "fetch", with: { uri: "https://x/y.tar.gz" } },
            { package: "hello", where: "pipeline[1]", name: "configure", kind: "run", script: "./configure", env: { CC: "gcc" } },
          ],
        }),
      ),
    ],
    dictionary: ['"_type":', '"sha256":', '"steps":', '"env":', '"with":', '"hermetic":', '"sourceDateEpoch":', "null", "[]", "{}", "-1", "1e400"],
    run: (data, ctx) => {
      const record = ctx.lib.build.parseBuildRecord(data, "fuzz.apk");
      // What parses must format back to a record that parses to the same thing.
      const again = ctx.lib.build.parseBuildRecord(Buffer.from(ctx.lib.build.formatBuildRecord(record)), "again");
      if (JSON.stringify(ctx.lib.util.sortedJson(again)) !== JSON.stringify(ctx.lib.util.sortedJson(record))) throw new Error("record does not round-trip");
      return record;
    },
  },
  {
    name: "resume-state",
    json: true,
    description: "a failed build's resume.json, read back from its kept directory by build --resume",
    seeds: () => [
      Buffer.from(
        JSON.stringify({
          recipe: "/r/gcc.yaml",
          package: "gcc",
          arch: "x86_64",
          environment: ["busybox-1.37.0-r1:Q1a=", "sysroot:aarch64:musl-1.2.5-r0:Q1m="],
          failedAt: 1,
          failedStep: "gcc: pipeline[1] (build)",
          stepDigests: ["a".repeat(64)],
          steps: [{ package: "gcc", where: "pipeline[0]", name: "unpack", kind: "run", script: "tar xf x" }],
          sources: [{ uri: "https://x/y.tar.gz", path: "/c/y", fileName: "y.tar.gz", sha256: "b".repeat(64), from: "mirror" }],
        }),
      ),
    ],
    dictionary: ['"failedAt":', '"stepDigests":', '"environment":', '"sources":', "null", "[]", "{}", "-1", "1e400"],
    run: (data, ctx) => ctx.lib.build.parseResumeState(text(data), ctx.scratch),
  },
  {
    name: "stages",
    description: "bootstrap stages file (distro/bootstrap/stages.yaml)",
    seeds: () => seedFiles([join(REPO, "distro/bootstrap"), join(FIXTURES, "bootstrap")], (n) => n === "stages.yaml"),
    dictionary: ["stages:", "environment-from:", "environment-append:", "compare-with:", "hermetic: true", "recipes:", "self", "../packages"],
    // Recipe paths resolve against the repository's distro/bootstrap, as the real file's do.
    run: (data, ctx) => ctx.lib.bootstrap.parseStages(text(data), join(REPO, "distro/bootstrap/stages.yaml")),
  },
  {
    name: "image-config",
    description: "apko image configs (read from a file, includes resolved beside it)",
    seeds: () => [...seedFiles([join(REPO, "distro/images"), ref("apko")], (n) => n.endsWith(".yaml") && !n.includes("lock"), 30, 8 * 1024)],
    dictionary: ["contents:", "keyring:", "repositories:", "packages:", "accounts:", "run-as:", "entrypoint:", "paths:", "include: ", "archs:", "layering:"],
    run: (data, ctx) => ctx.lib.image.loadImageConfig(scratchFile(ctx, "image.yaml", data)),
  },
  {
    name: "lock",
    json: true,
    description: "resolve lock files and image lock files",
    seeds: () => {
      const pkg = {
        name: "busybox",
        version: "1.37.0-r0",
        arch: "x86_64",
        checksum: `Q1${"A".repeat(27)}=`,
        size: 1,
        installedSize: 2,
        repository: "/r",
        url: "/r/x86_64/busybox-1.37.0-r0.apk",
      };
      return [
        Buffer.from(
          JSON.stringify({ lockVersion: 1, arch: "x86_64", world: ["busybox"], repositories: [{ url: "/r", sha256: "0".repeat(64) }], packages: [pkg] }),
        ),
        Buffer.from(
          JSON.stringify({
            lockVersion: 1,
            config: { name: "c.yaml", sha256: "0" },
            keyring: [],
            repositories: ["/r"],
            world: ["busybox"],
            packages: { x86_64: [{ ...pkg, depends: ["so:libc.musl-x86_64.so.1"] }] },
          }),
        ),
        ...seedFiles([ref("apko/internal/cli/testdata")], (n) => n.endsWith(".lock.json"), 4),
      ];
    },
    dictionary: ['"lockVersion":', '"packages":', '"checksum":', '"arch":', '"url":', "null", "[]", "{}"],
    run: (data, ctx) => {
      // Both readers see every input; an UndistroError from the first must not hide the second.
      try {
        ctx.lib.solver.parseLock(text(data), "fuzz.lock");
      } catch (err) {
        if (!(err instanceof ctx.lib.util.UndistroError)) throw err;
      }
      ctx.lib.image.readImageLock(scratchFile(ctx, "image.lock.json", data));
    },
  },
  {
    name: "oci",
    json: true,
    description: "OCI manifests, indexes, referrer lists and index.json",
    seeds: () => seedFiles([ref("apko"), ref("sigstore")], (n) => n === "index.json" || n.endsWith("manifest.json"), 20, 32 * 1024),
    dictionary: ['"manifests":', '"layers":', '"config":', '"subject":', '"digest":"sha256:', '"size":', '"platform":', '"mediaType":'],
    run: (data, ctx) => ctx.lib.oci.parseOciDocument(data, "fuzz manifest"),
  },
  {
    name: "registry",
    description: "requests to undistro's registry on loopback: method, path, headers (auth included) and body",
    seeds: () => [
      Buffer.from("GET /v2/\n\n"),
      Buffer.from("GET /v2/library/x/tags/list?n=2&last=a\nAuthorization: Basic YWxpY2U6d29uZGVybGFuZA==\n\n"),
      Buffer.from(
        `PUT /v2/a/b/manifests/v1\nContent-Type: application/vnd.oci.image.manifest.v1+json\n\n{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:${"0".repeat(64)}","size":0},"layers":[]}`,
      ),
      Buffer.from("POST /v2/a/blobs/uploads/?mount=sha256:00&from=b\n\n"),
      Buffer.from("GET /token?scope=repository:team/*:push&service=undistro\nAuthorization: Bearer x.y\n\n"),
      Buffer.from(`GET /v2/a/referrers/sha256:${"0".repeat(64)}?artifactType=x\n\n`),
    ],
    dictionary: [
      "/v2/",
      "/blobs/",
      "/uploads/",
      "/manifests/",
      "/tags/list",
      "/referrers/",
      "sha256:",
      "?digest=",
      "Authorization: ",
      "Basic ",
      "Bearer ",
      "Range: bytes=",
      "Content-Range: ",
      "%",
      "../",
    ],
    setup: async (ctx) => {
      const dir = join(ctx.scratch, "registry");
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const hash = ctx.lib.registry.hashPassword("wonderland");
      writeFileSync(
        join(dir, "config.yaml"),
        `anonymous: pull\nusers:\n  alice:\n    password: "${hash}"\n    access:\n      - repository: "team/*"\n        actions: [pull, push]\n`,
      );
      ctx.state.registry = await new ctx.lib.registry.RegistryServer({ root: join(dir, "root"), config: join(dir, "config.yaml") }).listen();
    },
    teardown: async (ctx) => {
      await (ctx.state.registry as { close(): Promise<void> } | undefined)?.close();
    },
    run: async (data, ctx) => {
      const reg = ctx.state.registry as { url: string };
      const raw = data.toString("latin1");
      const headEnd = raw.indexOf("\n\n");
      const head = (headEnd < 0 ? raw : raw.slice(0, headEnd)).split("\n");
      const [method = "GET", path = "/"] = (head[0] ?? "").split(" ");
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const c = line.indexOf(": ");
        if (c > 0) headers[line.slice(0, c)] = line.slice(c + 2);
      }
      const body = headEnd < 0 ? undefined : data.subarray(Buffer.byteLength(raw.slice(0, headEnd + 2), "latin1"));
      const { request } = await import("node:http");
      // A request Node's client refuses to send (bad method or header characters) is no input to the server.
      let req: ReturnType<typeof request>;
      try {
        req = request(`${reg.url}${path.startsWith("/") ? path : `/${path}`}`, { method, headers });
      } catch {
        return;
      }
      const status = await new Promise<number>((resolveStatus) => {
        req.on("response", (res) => {
          res.resume();
          res.on("end", () => resolveStatus(res.statusCode ?? 0));
        });
        req.on("error", () => resolveStatus(-1));
        req.end(body?.length ? body : undefined);
      });
      if (status >= 500) throw new Error(`registry answered ${status} to ${JSON.stringify(head[0]?.slice(0, 200))}`);
    },
  },
  {
    name: "cosign-key",
    description: "cosign / sigstore encrypted private keys (PEM, scrypt parameters, secretbox)",
    seeds: () => seedFiles([ref("sigstore")], (n) => n.endsWith(".key"), 20, 8 * 1024),
    dictionary: [
      "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----",
      "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----",
      '"kdf":',
      '"N":',
      '"r":',
      '"p":',
      '"salt":',
      '"nonce":',
    ],
    run: (data, ctx) => ctx.lib.sign.decryptCosignKey(text(data), "", "fuzz.key"),
  },
  {
    name: "pem",
    description: "trusted public key files (one PEM public key)",
    seeds: () => seedFiles([ref("sigstore"), ref("apko"), ref("melange")], (n) => n.endsWith(".pub"), 20, 8 * 1024),
    dictionary: ["-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----", "-----BEGIN RSA PUBLIC KEY-----", "PRIVATE KEY-----", "\r\n"],
    run: (data, ctx) => ctx.lib.apk.readPublicKeyFile(scratchFile(ctx, "key.pub", data)),
  },
  {
    name: "dsse",
    json: true,
    description: "DSSE envelopes and Sigstore bundles (verified against a fixed key)",
    seeds: () => seedFiles([ref("sigstore")], (n) => n.endsWith(".sigstore.json") || n.endsWith(".intoto.jsonl") || n.includes("dsse"), 30, 32 * 1024),
    dictionary: ['"payloadType":', '"payload":', '"signatures":', '"keyid":', '"sig":', '"dsseEnvelope":', '"mediaType":', "application/vnd.in-toto+json"],
    setup: async (ctx) => {
      const { generateKeyPairSync } = await import("node:crypto");
      ctx.state.key = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    },
    run: (data, ctx) => {
      let doc: unknown;
      try {
        doc = JSON.parse(text(data));
      } catch {
        return;
      }
      const key = [ctx.state.key];
      ctx.lib.sign.openBundle(doc, key);
      ctx.lib.sign.checkStatementEnvelope(doc, key, `sha256:${"0".repeat(64)}`);
      if (doc && typeof doc === "object" && typeof (doc as { payload?: unknown }).payload === "string")
        ctx.lib.sign.parseSimpleSigning(Buffer.from((doc as { payload: string }).payload, "base64"), "fuzz payload");
    },
  },
  {
    name: "advisory",
    description: "Wolfi advisory documents (schema 2)",
    seeds: () => seedFiles([ref("wolfi-advisories"), join(REPO, "distro/advisories")], (n) => n.endsWith(".advisories.yaml"), 40, 8 * 1024),
    dictionary: ["advisories:", "events:", "type: fixed", "fixed-version:", "aliases:", "timestamp: ", "schema-version: 2.0.2", "false-positive-determination"],
    run: (data, ctx) => ctx.lib.advisory.parseAdvisoryDocument(text(data), "fuzz.advisories.yaml", { now: new Date("2026-12-01T00:00:00Z") }),
  },
  {
    name: "osv",
    json: true,
    description: "OSV records",
    seeds: () => seedFiles([join(FIXTURES, "osv")], (n) => n.endsWith(".json"), 20),
    dictionary: ['"affected":', '"ranges":', '"events":', '"introduced":', '"fixed":', '"last_affected":', '"severity":', "CVSS:3.1/", "CVSS:4.0/"],
    run: (data, ctx) => ctx.lib.advisory.parseOsv(text(data), "fuzz.json"),
  },
  {
    name: "secdb",
    json: true,
    description: "Alpine-format security databases (secfixes)",
    seeds: () => [
      Buffer.from(
        JSON.stringify({
          apkurl: "{{urlprefix}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
          archs: ["x86_64"],
          reponame: "undistro",
          urlprefix: "https://x",
          packages: [{ pkg: { name: "zlib", secfixes: { "1.2.12-r0": ["CVE-2022-37434"], "0": ["CVE-2023-1"] } } }],
        }),
      ),
    ],
    dictionary: ['"packages":', '"secfixes":', '"pkg":', '"name":', "CVE-"],
    run: (data, ctx) => ctx.lib.advisory.parseSecdb(text(data), "fuzz.json"),
  },
  {
    name: "debian-sources",
    description: "Debian Sources indexes (the debian update provider), and the upstream version of each entry",
    seeds: () => [
      Buffer.from(
        "Package: zlib\nBinary: zlib1g, zlib1g-dev\nVersion: 1:1.3.dfsg+really1.3.1-1\nChecksums-Sha256:\n " +
          `${"a".repeat(64)} 1234 zlib_1.3.dfsg+really1.3.1.orig.tar.gz\n ${"b".repeat(64)} 99 zlib_1.3.dfsg+really1.3.1-1.debian.tar.xz\n` +
          "Directory: pool/main/z/zlib\n\nPackage: zlib\nVersion: 2:1.4~rc1+dfsg-0.1\nDirectory: pool/main/z/zlib\n",
      ),
    ],
    dictionary: ["Package:", "Version:", "Checksums-Sha256:", "Directory:", "\n ", "\n\n", ":", "~", "+dfsg", "+really", "-"],
    run: (data, ctx) => {
      const entries: Map<string, Array<Record<string, string>>> = ctx.lib.update.sourcesEntries(text(data), new Set(["zlib"]));
      for (const fields of entries.get("zlib") ?? []) if (fields.Version) ctx.lib.update.upstreamOf(fields.Version);
      return entries;
    },
  },
  {
    name: "update-report",
    json: true,
    description: "the update-check report given to catalog build --updates",
    seeds: () => [
      Buffer.from(
        JSON.stringify([
          { package: "zlib", recipe: "zlib.yaml", current: "1.3.1", latest: "1.3.2", newer: true, provider: "debian", source: "debian:zlib (trixie)" },
          { package: "hello", recipe: "hello.yaml", current: "2.12.3", newer: false, unserved: ["2.13"], skipped: "no update section" },
        ]),
      ),
    ],
    dictionary: ['"package":', '"current":', '"latest":', '"newer":', '"provider":', '"error":'],
    run: (data, ctx) => {
      const file = join(ctx.scratch, "updates.json");
      writeFileSync(file, data);
      return ctx.lib.catalog.readUpdates(file);
    },
  },
  {
    name: "rebuild-history",
    description: "the daily rebuild's history (REPO/rebuild-history.jsonl), read by the catalogue",
    seeds: () => [
      Buffer.from(
        `${JSON.stringify({
          at: "2026-12-01T00:00:00Z",
          arch: "x86_64",
          changed: [{ package: "zlib", from: "1.3.1-r0", to: "1.3.2-r0" }],
          dependents: [{ package: "busybox", to: "1.37.0-r1" }],
          built: [{ package: "zlib" }],
          images: [{ name: "base", from: "sha256:aa", digest: "sha256:bb" }],
        })}\n{"damaged"\n`,
      ),
    ],
    dictionary: ['"at":', '"changed":', '"dependents":', '"built":', '"images":', '"digest":', "\n"],
    run: (data, ctx) => {
      mkdirSync(join(ctx.scratch, "repo"), { recursive: true });
      writeFileSync(join(ctx.scratch, "repo/rebuild-history.jsonl"), data);
      return ctx.lib.catalog.readRebuildHistory(join(ctx.scratch, "repo"));
    },
  },
  {
    name: "os-release",
    description: "an image's os-release, read for the purls of its packages",
    seeds: () => [Buffer.from('ID=undistro\nNAME="undistro \\"base\\""\nVERSION_ID=\'0.1\'\n# comment\nPRETTY_NAME="a $b"\n')],
    dictionary: ["ID=", "VERSION_ID=", '"', "'", "\\", "\n", "=", "#"],
    run: (data, ctx) => {
      const release = ctx.lib.sbom.distroRelease(text(data));
      if (!release) return undefined;
      const purl: string = ctx.lib.sbom.installedApkPurl(release, { name: "zlib-dev", version: "1.3-r0", arch: "x86_64", origin: "zlib" });
      // The purl must stay one purl: its namespace and qualifiers escaped, whatever os-release holds.
      if (!/^pkg:apk\/[^/?#@]+\/zlib-dev@1\.3-r0\?arch=x86_64&distro=[^&?#/]+&upstream=zlib$/.test(purl)) throw new Error(`malformed purl ${purl}`);
      return purl;
    },
  },
  {
    name: "sbom",
    json: true,
    description: "SPDX and CycloneDX SBOMs given to scan",
    seeds: () =>
      seedFiles(
        [ref("apko"), ref("melange"), FIXTURES],
        (n) => n.endsWith(".spdx.json") || n.endsWith(".cdx.json") || n.endsWith("cyclonedx.json"),
        20,
        64 * 1024,
      ),
    dictionary: [
      '"spdxVersion":',
      '"packages":',
      '"externalRefs":',
      '"referenceLocator":',
      "pkg:apk/",
      '"bomFormat":"CycloneDX"',
      '"components":',
      '"purl":',
      "%",
    ],
    run: async (data, ctx) => ctx.lib.advisory.installedPackages(scratchFile(ctx, "sbom.json", data)),
  },
];

/** The last gzip member of an .apk (its data tar), inflated, as a tar seed. */
function gunzipLast(apk: Buffer): Buffer {
  let last = 0;
  for (let i = apk.length - 10; i > 0; i--) {
    if (apk[i] === 0x1f && apk[i + 1] === 0x8b && apk[i + 2] === 8) {
      last = i;
      break;
    }
  }
  try {
    return zlib.gunzipSync(apk.subarray(last));
  } catch {
    return apk;
  }
}
