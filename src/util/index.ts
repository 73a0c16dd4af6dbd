export { defaultCacheDir } from "./cache.js";
export { sha1, sha1Hex, sha256Hex } from "./digest.js";
export { sourceDateEpoch } from "./epoch.js";
export { fsError, isUndistroError, UndistroError } from "./errors.js";
export { writeFileAtomic } from "./fs.js";
export { parseJsonInput, sortedJson } from "./json.js";
export { loadProjectConfig, PROJECT_FILE, type ProjectConfig } from "./project.js";
export { seededRandom } from "./random.js";
export { adaptGoSchema, readSchema, schemaPath } from "./schema.js";
