export { gzipLayer, PARALLEL_CHUNK, PARALLEL_THRESHOLD } from "./compress.js";
export { canonicalJson, type Descriptor, MEDIA, OciLayout, sha256Digest } from "./layout.js";
