/**
 * OCI image layouts on disk (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
 * content-addressed blobs written atomically, index.json, oci-layout; and export as a tar.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { END_OF_ARCHIVE, encodeEntry } from "../apk/index.js";
import { fsError, UndistroError, writeFileAtomic } from "../util/index.js";
import { type Descriptor, digestLike, isDigest, parseOciDocument } from "./document.js";

export const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

export interface Platform {
  os?: string;
  architecture?: string;
  variant?: string;
}

/** "linux/arm64/v8" from a descriptor's platform. */
export function platformName(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** Whether a platform is the one named "os/arch[/variant]" (no variant in the name matches any variant). */
export function platformMatches(p: Platform, name: string): boolean {
  const [os, arch, variant] = name.split("/");
  return p.os === os && p.architecture === arch && (!variant || p.variant === variant);
}

export type { Descriptor };

export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/**
 * JSON for OCI documents: insertion order as built (the documents below are built in a fixed
 * order), no whitespace, so the bytes and thus digests are stable.
 */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

export class OciLayout {
  constructor(readonly dir: string) {}

  init(): void {
    mkdirSync(join(this.dir, "blobs", "sha256"), { recursive: true });
    const marker = join(this.dir, "oci-layout");
    if (!existsSync(marker)) writeFileAtomic(marker, Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  }

  /** blobs/ALGORITHM/HEX, for sha256 and sha512 digests only: any other text could name a path outside blobs/. */
  blobPath(digest: string): string {
    if (!isDigest(digest)) throw new UndistroError("OCI_BAD_DIGEST", `${this.dir}: ${JSON.stringify(digest.slice(0, 140))} is not a sha256 or sha512 digest`);
    const [algo, hex] = digest.split(":") as [string, string];
    return join(this.dir, "blobs", algo, hex);
  }

  /** Stores a blob (idempotent) and returns its descriptor. */
  writeBlob(data: Uint8Array, mediaType: string): Descriptor {
    const digest = sha256Digest(data);
    const path = this.blobPath(digest);
    if (!existsSync(path)) writeFileAtomic(path, data);
    return { mediaType, digest, size: data.length };
  }

  readBlob(digest: string): Buffer {
    const path = this.blobPath(digest);
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (err) {
      throw fsError(err, "read blob", path);
    }
    if (digestLike(digest, data) !== digest) throw new UndistroError("OCI_BLOB_CORRUPT", `${this.dir}: blob ${digest} does not match its digest`);
    return data;
  }

  writeIndex(index: Record<string, unknown>): void {
    writeFileAtomic(join(this.dir, "index.json"), canonicalJson(index));
  }

  readIndex(): { schemaVersion: number; mediaType?: string; manifests: Descriptor[]; annotations?: Record<string, string> } {
    const file = join(this.dir, "index.json");
    let text: Buffer;
    try {
      text = readFileSync(file);
    } catch (err) {
      throw fsError(err, "read", file);
    }
    const doc = parseOciDocument(text, file);
    return { ...doc, schemaVersion: Number(doc.schemaVersion ?? 2), manifests: doc.manifests ?? [] };
  }

  /** The layout as one tar (what `docker load`-style tools and `skopeo oci-archive:` read). */
  toTar(mtime: number): Buffer {
    const files: string[] = [];
    const walk = (rel: string) => {
      for (const n of readdirSync(join(this.dir, rel)).sort()) {
        const p = rel ? `${rel}/${n}` : n;
        if (statSync(join(this.dir, p)).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk("");
    const parts: Buffer[] = [];
    const dirs = new Set<string>();
    for (const f of files.sort()) {
      const segs = f.split("/");
      for (let i = 1; i < segs.length; i++) {
        const d = segs.slice(0, i).join("/");
        if (dirs.has(d)) continue;
        dirs.add(d);
        parts.push(
          ...encodeEntry({ name: `${d}/`, type: "directory", mode: 0o755, uid: 0, gid: 0, uname: "", gname: "", mtime, size: 0, linkname: "", pax: {} }),
        );
      }
      const data = readFileSync(join(this.dir, f));
      parts.push(
        ...encodeEntry({ name: f, type: "file", mode: 0o644, uid: 0, gid: 0, uname: "", gname: "", mtime, size: data.length, linkname: "", pax: {} }, data),
      );
    }
    parts.push(END_OF_ARCHIVE);
    return Buffer.concat(parts);
  }
}
