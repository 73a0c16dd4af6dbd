export {
  type CopyOptions,
  type CopyResult,
  copyImage,
  describeEndpoint,
  type Endpoint,
  endpoint,
  endpointRef,
  fallbackTag,
  type ImageRef,
  listReferrers,
  type Node as ManifestNode,
  parseRef,
  pushArtifact,
  RegistryClient,
  readBlob,
  readManifest,
} from "./client.js";
export { gzipLayer, PARALLEL_CHUNK, PARALLEL_THRESHOLD } from "./compress.js";
export { DIGEST_RE, digestLike, isDigest, type OciDocument, parseOciDocument } from "./document.js";
export { canonicalJson, type Descriptor, MEDIA, OciLayout, type Platform, platformMatches, platformName, sha256Digest } from "./layout.js";
