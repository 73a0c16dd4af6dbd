export { type AuthConfig, hashPassword, RegistryAuth, verifyPassword } from "./auth.js";
export { collectGarbage, type GcOptions, type GcReport } from "./gc.js";
export { MAX_MANIFEST, NAME_RE, type RegistryOptions, RegistryServer, type RunningRegistry, TAG_RE } from "./server.js";
export { DIGEST_RE, RegistryStorage } from "./storage.js";
