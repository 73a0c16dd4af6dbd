export {
  type CopyOptions,
  type CopyResult,
  copyImage,
  describeEndpoint,
  type Endpoint,
  endpoint,
  fallbackTag,
  type ImageRef,
  parseRef,
  RegistryClient,
} from "./client.js";
export { gzipLayer, PARALLEL_CHUNK, PARALLEL_THRESHOLD } from "./compress.js";
export { canonicalJson, type Descriptor, MEDIA, OciLayout, sha256Digest } from "./layout.js";
