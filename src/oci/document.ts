/**
 * OCI JSON documents (manifests, indexes, referrer lists, index.json) read from a registry or a
 * layout: every one is outside input. Parsed here once, with the shape the rest of undistro relies
 * on checked (descriptors carry a well-formed digest and a size), so a hostile or damaged document
 * gets an UndistroError naming where it came from instead of a TypeError deep in a copy or verify.
 */
import { createHash } from "node:crypto";
import { parseJsonInput, UndistroError } from "../util/index.js";

/** The digests undistro reads: sha256 and sha512, lower-case hex of the right length. */
export const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(s: unknown): boolean {
  return typeof s === "string" && DIGEST_RE.test(s);
}

/** `data`'s digest in the algorithm `digest` names (sha256 or sha512). */
export function digestLike(digest: string, data: Uint8Array): string {
  const algorithm = digest.startsWith("sha512:") ? "sha512" : "sha256";
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface OciDocument {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

function bad(where: string, field: string, why: string): UndistroError {
  return new UndistroError("OCI_BAD_DOCUMENT", `${where}: ${field} ${why}`, { hint: "the manifest or index is damaged or was not written by an OCI tool" });
}

function descriptor(value: unknown, where: string, field: string): Descriptor {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad(where, field, "is not a descriptor object");
  const d = value as Record<string, unknown>;
  if (!isDigest(d.digest)) throw bad(where, `${field}.digest`, `${JSON.stringify(String(d.digest)).slice(0, 90)} is not a sha256 or sha512 digest`);
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(where, `${field}.size`, "is not a non-negative integer");
  if (d.mediaType !== undefined && typeof d.mediaType !== "string") throw bad(where, `${field}.mediaType`, "is not a string");
  if (d.artifactType !== undefined && typeof d.artifactType !== "string") throw bad(where, `${field}.artifactType`, "is not a string");
  if (d.platform !== undefined) {
    const p = d.platform as Record<string, unknown> | null;
    if (
      p === null ||
      typeof p !== "object" ||
      typeof p.os !== "string" ||
      typeof p.architecture !== "string" ||
      (p.variant !== undefined && typeof p.variant !== "string")
    )
      throw bad(where, `${field}.platform`, "needs os and architecture strings");
  }
  if (d.annotations !== undefined) stringMap(d.annotations, where, `${field}.annotations`);
  return { ...(d as unknown as Descriptor), mediaType: typeof d.mediaType === "string" ? d.mediaType : "" };
}

function stringMap(value: unknown, where: string, field: string): void {
  if (value === null || typeof value !== "object" || Array.isArray(value) || Object.values(value).some((v) => typeof v !== "string"))
    throw bad(where, field, "is not a map of strings");
}

function descriptors(value: unknown, where: string, field: string): Descriptor[] {
  if (!Array.isArray(value)) throw bad(where, field, "is not an array");
  return value.map((d, i) => descriptor(d, where, `${field}[${i}]`));
}

/** A manifest, index or referrers list, shape-checked; `where` names its source in errors. */
export function parseOciDocument(body: string | Uint8Array, where: string): OciDocument {
  const doc = parseJsonInput(body, where, "OCI_BAD_DOCUMENT");
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw bad(where, "the document", "is not a JSON object");
  const d = doc as Record<string, unknown>;
  if (d.mediaType !== undefined && typeof d.mediaType !== "string") throw bad(where, "mediaType", "is not a string");
  if (d.artifactType !== undefined && typeof d.artifactType !== "string") throw bad(where, "artifactType", "is not a string");
  const out = d as OciDocument;
  if (d.manifests !== undefined) out.manifests = descriptors(d.manifests, where, "manifests");
  if (d.layers !== undefined) out.layers = descriptors(d.layers, where, "layers");
  if (d.config !== undefined) out.config = descriptor(d.config, where, "config");
  if (d.subject !== undefined) out.subject = descriptor(d.subject, where, "subject");
  if (d.annotations !== undefined) stringMap(d.annotations, where, "annotations");
  return out;
}
