/**
 * A registry client: the distribution API with the bearer-token dance, and push / pull / copy
 * between registries and image layouts (with `--all` for indexes and referrers brought along;
 * against a registry without the referrers API, the `sha256-<hex>` tag-schema fallback index is
 * read and maintained, as the OCI spec describes).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UndistroError } from "../util/index.js";
import { digestLike, isDigest, parseOciDocument } from "./document.js";
import { type Descriptor, MEDIA, OciLayout, platformMatches, platformName, sha256Digest } from "./layout.js";

export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** "host[:port]/repo[:tag][@digest]" */
export function parseRef(ref: string): ImageRef {
  const at = ref.indexOf("@");
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const rest = at >= 0 ? ref.slice(0, at) : ref;
  const slash = rest.indexOf("/");
  if (slash < 0) throw new UndistroError("OCI_BAD_REFERENCE", `${ref}: expected HOST/REPOSITORY[:TAG][@DIGEST]`);
  const registry = rest.slice(0, slash);
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(":");
  if (colon > 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
  }
  const r: ImageRef = { registry, repository };
  if (tag) r.tag = tag;
  if (digest) r.digest = digest;
  if (!r.tag && !r.digest) r.tag = "latest";
  return r;
}

const ACCEPT = [
  MEDIA.index,
  MEDIA.manifest,
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

export class RegistryClient {
  private tokens = new Map<string, string>();
  readonly base: string;

  constructor(
    registry: string,
    private readonly opts: { username?: string; password?: string; insecure?: boolean } = {},
  ) {
    this.base = /^https?:\/\//.test(registry) ? registry : `${opts.insecure || /^(localhost|127\.|\[::1\])/.test(registry) ? "http" : "https"}://${registry}`;
  }

  /** fetch with the auth challenge answered (Basic, or a bearer token from the realm) once. */
  async request(path: string, init: RequestInit & { scope?: string } = {}): Promise<Response> {
    const url = `${this.base}${path}`;
    const headers = new Headers(init.headers);
    const token = init.scope ? this.tokens.get(init.scope) : undefined;
    if (token) headers.set("Authorization", token);
    let res = await this.fetchOrExplain(url, { ...init, headers });
    if (res.status !== 401) return res;
    const challenge = res.headers.get("www-authenticate") ?? "";
    await res.body?.cancel();
    const auth = await this.answer(challenge);
    if (!auth) return res;
    if (init.scope) this.tokens.set(init.scope, auth);
    headers.set("Authorization", auth);
    res = await this.fetchOrExplain(url, { ...init, headers });
    return res;
  }

  /** fetch, with a connection failure (refused, unknown host, TLS) turned into an error that names the registry. */
  private async fetchOrExplain(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new UndistroError("REGISTRY_UNREACHABLE", `cannot reach the registry at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, {
        hint: "check the host and port, that the registry is running, and --insecure for plain HTTP",
        cause: err,
      });
    }
  }

  private async answer(challenge: string): Promise<string | undefined> {
    const basic = this.opts.username !== undefined ? `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password ?? ""}`).toString("base64")}` : undefined;
    if (/^basic/i.test(challenge)) return basic;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!params.realm) return undefined;
    const q = new URLSearchParams();
    if (params.service) q.set("service", params.service);
    if (params.scope) q.set("scope", params.scope);
    const r = await fetch(`${params.realm}?${q}`, { headers: basic ? { Authorization: basic } : {} });
    if (!r.ok)
      throw new UndistroError("OCI_AUTH_FAILED", `${this.base}: token request to ${params.realm} failed with HTTP ${r.status}`, {
        hint: "check the credentials",
      });
    const body = (await r.json()) as { token?: string; access_token?: string };
    const t = body.token ?? body.access_token;
    return t ? `Bearer ${t}` : undefined;
  }

  private async check(res: Response, what: string): Promise<Response> {
    if (res.ok) return res;
    let detail = "";
    try {
      detail = JSON.stringify(((await res.json()) as { errors?: unknown }).errors ?? "");
    } catch {
      // not JSON
    }
    throw new UndistroError("OCI_REGISTRY_ERROR", `${this.base}: ${what}: HTTP ${res.status} ${detail}`);
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const r = await this.request(`/v2/${repo}/blobs/${digest}`, { method: "HEAD", scope: `repository:${repo}:pull` });
    return r.status === 200;
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    if (!isDigest(digest))
      throw new UndistroError("OCI_BAD_DIGEST", `${this.base}/${repo}: ${JSON.stringify(digest.slice(0, 140))} is not a sha256 or sha512 digest`);
    const r = await this.check(await this.request(`/v2/${repo}/blobs/${digest}`, { scope: `repository:${repo}:pull` }), `GET blob ${digest}`);
    const data = Buffer.from(await r.arrayBuffer());
    // Every blob is checked, whatever its algorithm (a digest we cannot check is refused before the request).
    if (digestLike(digest, data) !== digest)
      throw new UndistroError("OCI_BLOB_CORRUPT", `${this.base}/${repo}: blob ${digest} arrived with digest ${digestLike(digest, data)}`);
    return data;
  }

  async putBlob(repo: string, data: Buffer, digest = sha256Digest(data)): Promise<void> {
    if (await this.hasBlob(repo, digest)) return;
    const scope = `repository:${repo}:pull,push`;
    const start = await this.check(await this.request(`/v2/${repo}/blobs/uploads/`, { method: "POST", scope }), "start upload");
    const loc = start.headers.get("location") ?? "";
    const target = new URL(loc, this.base);
    target.searchParams.set("digest", digest);
    await this.check(
      await this.request(`${target.pathname}${target.search}`, { method: "PUT", body: data, headers: { "Content-Type": "application/octet-stream" }, scope }),
      `upload ${digest}`,
    );
  }

  async getManifest(repo: string, ref: string): Promise<{ body: Buffer; mediaType: string; digest: string } | undefined> {
    const r = await this.request(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT }, scope: `repository:${repo}:pull` });
    if (r.status === 404) return undefined;
    await this.check(r, `GET manifest ${ref}`);
    const body = Buffer.from(await r.arrayBuffer());
    const digest = sha256Digest(body);
    if (isDigest(ref) && digestLike(ref, body) !== ref)
      throw new UndistroError("OCI_MANIFEST_CORRUPT", `${this.base}/${repo}: manifest ${ref} arrived with digest ${digestLike(ref, body)}`);
    return { body, mediaType: (r.headers.get("content-type") ?? "").split(";")[0] ?? "", digest };
  }

  async putManifest(repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
    const r = await this.check(
      await this.request(`/v2/${repo}/manifests/${ref}`, {
        method: "PUT",
        body,
        headers: { "Content-Type": mediaType },
        scope: `repository:${repo}:pull,push`,
      }),
      `PUT manifest ${ref}`,
    );
    return r.headers.get("docker-content-digest") ?? sha256Digest(body);
  }

  /** Referrers of a digest: the API when the registry has it, else the tag-schema fallback index. */
  async referrers(repo: string, digest: string): Promise<Descriptor[]> {
    const r = await this.request(`/v2/${repo}/referrers/${digest}`, { headers: { Accept: MEDIA.index }, scope: `repository:${repo}:pull` });
    if (r.status === 200 && (r.headers.get("content-type") ?? "").startsWith(MEDIA.index))
      return (parseOciDocument(Buffer.from(await r.arrayBuffer()), `${this.base}/${repo}: referrers of ${digest}`).manifests ?? []) as Descriptor[];
    await r.body?.cancel();
    const fallback = await this.getManifest(repo, fallbackTag(digest));
    return fallback ? ((parseOciDocument(fallback.body, `${this.base}/${repo}:${fallbackTag(digest)}`).manifests ?? []) as Descriptor[]) : [];
  }

  private referrersApi = new Map<string, boolean>();

  /** Whether the registry answers the referrers API (distribution 2.8 does not); asked once per repository. */
  async supportsReferrers(repo: string): Promise<boolean> {
    const known = this.referrersApi.get(repo);
    if (known !== undefined) return known;
    const r = await this.request(`/v2/${repo}/referrers/sha256:${"0".repeat(64)}`, { headers: { Accept: MEDIA.index }, scope: `repository:${repo}:pull` });
    await r.body?.cancel();
    this.referrersApi.set(repo, r.status === 200);
    return r.status === 200;
  }

  /**
   * Records referrers of `subject` for a registry without the referrers API: merges them into the
   * tag-schema fallback index (`sha256-<hex>`). A registry with the API indexes pushes itself.
   */
  async addReferrers(repo: string, subject: string, referrers: Descriptor[]): Promise<void> {
    if (await this.supportsReferrers(repo)) return;
    const existing = await this.referrers(repo, subject);
    const added = referrers.filter((d) => !existing.some((m) => m.digest === d.digest));
    if (added.length === 0) return;
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [...existing, ...added] }));
    await this.putManifest(repo, fallbackTag(subject), index, MEDIA.index);
  }
}

export function fallbackTag(digest: string): string {
  return digest.replace(":", "-");
}

/** Where images come from and go: a registry repository, or an OCI layout directory. */
export type Endpoint = { kind: "registry"; client: RegistryClient; ref: ImageRef } | { kind: "layout"; layout: OciLayout; tag: string };

export function endpoint(spec: string, opts: { username?: string; password?: string; insecure?: boolean } = {}): Endpoint {
  if (spec.startsWith("oci:")) {
    const rest = spec.slice(4);
    const colon = rest.lastIndexOf(":");
    const dir = colon > 0 && !rest.slice(colon).includes("/") ? rest.slice(0, colon) : rest;
    const tag = colon > 0 && !rest.slice(colon).includes("/") ? rest.slice(colon + 1) : "latest";
    return { kind: "layout", layout: new OciLayout(dir), tag };
  }
  const s = spec.replace(/^docker:\/\//, "");
  const ref = parseRef(s);
  return { kind: "registry", client: new RegistryClient(ref.registry, opts), ref };
}

export interface Node {
  digest: string;
  mediaType: string;
  body: Buffer;
}

/** A manifest by tag or digest from a registry or a layout (undefined when absent). */
export async function readManifest(ep: Endpoint, ref: string): Promise<Node | undefined> {
  if (ep.kind === "registry") {
    const m = await ep.client.getManifest(ep.ref.repository, ref);
    return m ? { digest: m.digest, mediaType: m.mediaType, body: m.body } : undefined;
  }
  let digest = ref;
  if (!ref.includes(":")) {
    if (!existsSync(join(ep.layout.dir, "index.json"))) return undefined;
    const idx = ep.layout.readIndex();
    const d = idx.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === ref) ?? cosignLayoutEntry(idx.manifests, ref);
    if (!d) return undefined;
    digest = d.digest;
  }
  if (!existsSync(ep.layout.blobPath(digest))) return undefined;
  const body = ep.layout.readBlob(digest);
  const mediaType = parseOciDocument(body, `oci:${ep.layout.dir} manifest ${digest}`).mediaType ?? MEDIA.manifest;
  return { digest, mediaType, body };
}

export async function readBlob(ep: Endpoint, digest: string): Promise<Buffer> {
  return ep.kind === "registry" ? ep.client.getBlob(ep.ref.repository, digest) : ep.layout.readBlob(digest);
}

async function writeBlob(ep: Endpoint, data: Buffer, digest: string, mediaType: string): Promise<void> {
  if (ep.kind === "registry") await ep.client.putBlob(ep.ref.repository, data, digest);
  else ep.layout.writeBlob(data, mediaType);
}

async function writeManifest(ep: Endpoint, node: Node, tag?: string): Promise<void> {
  if (ep.kind === "registry") await ep.client.putManifest(ep.ref.repository, tag ?? node.digest, node.body, node.mediaType);
  else ep.layout.writeBlob(node.body, node.mediaType);
}

export interface CopyOptions {
  /** Copy only this platform ("linux/amd64", "linux/arm64/v8") out of an index; default: every platform. */
  platform?: string;
  /** Bring referrers (signatures, SBOMs, attestations) along. */
  referrers?: boolean;
  onItem?: (what: string) => void;
}

export interface CopyResult {
  digest: string;
  manifests: number;
  blobs: number;
  referrers: number;
}

/** Copies an image (and with `all` an index and everything below it) from one endpoint to another. */
export async function copyImage(src: Endpoint, dst: Endpoint, opts: CopyOptions = {}): Promise<CopyResult> {
  if (dst.kind === "layout") dst.layout.init();
  const srcRef = src.kind === "registry" ? (src.ref.digest ?? src.ref.tag ?? "latest") : src.tag;
  let root = await readManifest(src, srcRef);
  if (!root) throw new UndistroError("OCI_NOT_FOUND", `${describeEndpoint(src)}: no image ${srcRef}`);
  if (opts.platform) root = await selectPlatform(src, root, opts.platform);
  const result: CopyResult = { digest: root.digest, manifests: 0, blobs: 0, referrers: 0 };
  const seen = new Set<string>();
  const copyNode = async (node: Node): Promise<void> => {
    if (seen.has(node.digest)) return;
    seen.add(node.digest);
    const doc = parseOciDocument(node.body, `${describeEndpoint(src)} manifest ${node.digest}`);
    if (doc.manifests) {
      for (const d of doc.manifests) {
        const child = await readManifest(src, d.digest);
        if (!child) throw new UndistroError("OCI_NOT_FOUND", `${describeEndpoint(src)}: manifest ${d.digest} listed in ${node.digest} is missing`);
        await copyNode(child);
      }
    } else {
      for (const d of [doc.config, ...(doc.layers ?? [])]) {
        if (!d) continue;
        const exists = dst.kind === "registry" ? await dst.client.hasBlob(dst.ref.repository, d.digest) : existsSync(dst.layout.blobPath(d.digest));
        if (!exists) {
          await writeBlob(dst, await readBlob(src, d.digest), d.digest, d.mediaType);
          result.blobs++;
          opts.onItem?.(`blob ${d.digest}`);
        }
      }
    }
    await writeManifest(dst, node);
    result.manifests++;
    if (opts.referrers) await copyReferrers(node.digest);
  };
  const copyReferrers = async (subject: string): Promise<void> => {
    // cosign's tag-based companions (signatures, attestations, SBOMs) travel too.
    for (const suffix of COSIGN_TAG_SUFFIXES) {
      const tag = `${fallbackTag(subject)}${suffix}`;
      const node = await readManifest(src, tag);
      if (!node) continue;
      await copyNode(node);
      await tagManifest(dst, node, tag);
      result.referrers++;
    }
    const list = src.kind === "registry" ? await src.client.referrers(src.ref.repository, subject) : layoutReferrers(src, subject);
    if (list.length === 0) return;
    for (const d of list) {
      const child = await readManifest(src, d.digest);
      if (child) {
        await copyNode(child);
        result.referrers++;
      }
    }
    if (dst.kind === "registry") await dst.client.addReferrers(dst.ref.repository, subject, list);
  };
  await copyNode(root);
  const tag = dst.kind === "registry" ? dst.ref.tag : dst.tag;
  if (tag) await tagManifest(dst, root, tag);
  return result;
}

const COSIGN_TAG_SUFFIXES = [".sig", ".att", ".sbom"];

/** Points a tag at a manifest already stored at the endpoint. */
async function tagManifest(ep: Endpoint, node: Node, tag: string): Promise<void> {
  if (ep.kind === "registry") {
    await ep.client.putManifest(ep.ref.repository, tag, node.body, node.mediaType);
    return;
  }
  ep.layout.init();
  const idx = existsSync(join(ep.layout.dir, "index.json"))
    ? ep.layout.readIndex()
    : { schemaVersion: 2, mediaType: MEDIA.index, manifests: [] as Descriptor[] };
  const others = idx.manifests.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== tag);
  const found = cosignCompanion(tag);
  // Only a companion of an image at the top of the layout: cosign's form cannot name any other.
  const companion = found && others.some((m) => m.digest === found.subject) ? found : undefined;
  const desc: Descriptor = {
    mediaType: node.mediaType,
    digest: node.digest,
    size: node.body.length,
    annotations: { "org.opencontainers.image.ref.name": tag, ...(companion ? { [COSIGN_KIND]: companion.kind } : {}) },
  };
  const manifests = companion ? others.map((m) => markCosignSubject(m, companion.subject)) : others;
  ep.layout.writeIndex({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [...manifests, desc] });
}

/*
 * cosign's own layouts (`cosign save`, `cosign verify --local-image`) hold one image: index.json names it,
 * its signatures and its attestations by a `kind` annotation instead of tags. undistro writes that
 * annotation beside its tags when it signs or attests an image at the top of a layout, and reads a layout
 * cosign saved through it.
 */
const COSIGN_KIND = "kind";
const COSIGN_KINDS = { sig: "dev.cosignproject.cosign/sigs", att: "dev.cosignproject.cosign/atts" } as const;
const COSIGN_IMAGE_KINDS = new Set(["dev.cosignproject.cosign/image", "dev.cosignproject.cosign/imageIndex"]);

/** The image a `sha256-<hex>.sig|.att` tag belongs to, and the layout kind of such a manifest. */
function cosignCompanion(tag: string): { subject: string; kind: string } | undefined {
  const m = /^sha256-([0-9a-f]{64})\.(sig|att)$/.exec(tag);
  return m ? { subject: `sha256:${m[1]}`, kind: COSIGN_KINDS[m[2] as "sig" | "att"] } : undefined;
}

function markCosignSubject(entry: Descriptor, subject: string): Descriptor {
  if (entry.digest !== subject || entry.annotations?.[COSIGN_KIND]) return entry;
  const kind = entry.mediaType === MEDIA.index ? "dev.cosignproject.cosign/imageIndex" : "dev.cosignproject.cosign/image";
  return { ...entry, annotations: { ...entry.annotations, [COSIGN_KIND]: kind } };
}

/** In a layout cosign saved: the image for any tag, or its signatures / attestations for their tag.
 * Only entries without a tag count: an entry undistro wrote is found by its tag or not at all. */
function cosignLayoutEntry(entries: Descriptor[], tag: string): Descriptor | undefined {
  const untagged = entries.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] === undefined);
  const image = untagged.find((m) => COSIGN_IMAGE_KINDS.has(m.annotations?.[COSIGN_KIND] ?? ""));
  if (!image) return undefined;
  const companion = cosignCompanion(tag);
  if (!companion) return image;
  return companion.subject === image.digest ? untagged.find((m) => m.annotations?.[COSIGN_KIND] === companion.kind) : undefined;
}

/** Descends through (nested) indexes to the manifest for one platform. */
async function selectPlatform(src: Endpoint, node: Node, platform: string): Promise<Node> {
  const seen: string[] = [];
  const walk = async (n: Node): Promise<Node | undefined> => {
    const doc = parseOciDocument(n.body, `${describeEndpoint(src)} manifest ${n.digest}`);
    if (!doc.manifests) return n;
    for (const d of doc.manifests) {
      const p = d.platform;
      if (p) seen.push(platformName(p));
      const matches = !p || platformMatches(p, platform);
      if (!matches) continue;
      const child = await readManifest(src, d.digest);
      const found = child ? await walk(child) : undefined;
      if (found) return found;
    }
    return undefined;
  };
  const found = await walk(node);
  if (!found)
    throw new UndistroError("OCI_NO_PLATFORM", `${describeEndpoint(src)}: no manifest for ${platform}`, {
      hint: `available: ${[...new Set(seen)].sort().join(", ") || "none"}`,
    });
  return found;
}

/** Referrers inside a layout: manifests whose subject is the digest. */
function layoutReferrers(ep: Extract<Endpoint, { kind: "layout" }>, subject: string): Descriptor[] {
  const out: Descriptor[] = [];
  const dir = join(ep.layout.dir, "blobs", "sha256");
  if (!existsSync(dir)) return out;
  for (const hex of readdirSync(dir)) {
    const p = join(dir, hex);
    const buf = readFileSync(p);
    if (buf.length > 4 * 1024 * 1024 || buf[0] !== 0x7b) continue;
    try {
      const doc = JSON.parse(buf.toString("utf8")) as { subject?: { digest: string }; mediaType?: string; artifactType?: string };
      if (doc.subject?.digest === subject)
        out.push({
          mediaType: doc.mediaType ?? MEDIA.manifest,
          digest: `sha256:${hex}`,
          size: buf.length,
          ...(doc.artifactType ? { artifactType: doc.artifactType } : {}),
        });
    } catch {
      // not JSON
    }
  }
  return out;
}

/** The endpoint's own reference: its digest, else its tag. */
export function endpointRef(ep: Endpoint): string {
  return ep.kind === "registry" ? (ep.ref.digest ?? ep.ref.tag ?? "latest") : ep.tag;
}

/** Stores blobs and a manifest at an endpoint; tagged when `tag` is given (a layout names it in index.json). */
export async function pushArtifact(
  ep: Endpoint,
  blobs: { data: Buffer; mediaType: string }[],
  manifest: Buffer,
  mediaType: string,
  tag?: string,
): Promise<string> {
  const digest = sha256Digest(manifest);
  if (ep.kind === "layout") ep.layout.init();
  for (const b of blobs) await writeBlob(ep, b.data, sha256Digest(b.data), b.mediaType);
  const node = { digest, mediaType, body: manifest };
  await writeManifest(ep, node, tag);
  if (ep.kind === "layout" && tag) await tagManifest(ep, node, tag);
  const doc = parseOciDocument(manifest, `manifest ${digest}`);
  if (doc.subject && ep.kind === "registry") {
    const self: Descriptor = { mediaType, digest, size: manifest.length, ...(doc.artifactType ? { artifactType: doc.artifactType } : {}) };
    await ep.client.addReferrers(ep.ref.repository, doc.subject.digest, [self]);
  }
  return digest;
}

/** Referrers of a digest at an endpoint (registry API or fallback tag, or a scan of a layout). */
export async function listReferrers(ep: Endpoint, digest: string): Promise<Descriptor[]> {
  return ep.kind === "registry" ? ep.client.referrers(ep.ref.repository, digest) : layoutReferrers(ep, digest);
}

export function describeEndpoint(ep: Endpoint): string {
  return ep.kind === "registry" ? `${ep.client.base}/${ep.ref.repository}` : `oci:${ep.layout.dir}`;
}
