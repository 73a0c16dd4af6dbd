export { canonicalJson, type Descriptor, MEDIA, OciLayout, sha256Digest } from "./layout.js";
