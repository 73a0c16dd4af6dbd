export { type AttestResult, attestationTag, attestImage, checkPredicate, checkStatementEnvelope, DSSE_MEDIA_TYPE, PREDICATE_TYPES } from "./attest.js";
export {
  BUNDLE_MEDIA_TYPE,
  bundleStatement,
  COSIGN_SIGN_PREDICATE,
  IN_TOTO_PAYLOAD_TYPE,
  keyHint,
  openBundle,
  type SigstoreBundle,
  type Statement,
  statementFor,
} from "./bundle.js";
export {
  COSIGN_PEM,
  type CosignKeyFiles,
  decryptCosignKey,
  encryptCosignKey,
  generateCosignKey,
  loadCosignPrivateKey,
  publicKeyPem,
  SIGSTORE_PEM,
} from "./cosign-key.js";
export { attachBundle, dockerReference, imageDigest, type SignResult, signatureTag, signImage } from "./image.js";
export { Keyring, type KeyringEntry, type KeyUse, type SkippedKeyFile } from "./keyring.js";
export {
  COSIGN_SIGNATURE_ANNOTATION,
  type DsseEnvelope,
  goJson,
  pae,
  parseSimpleSigning,
  SIMPLE_SIGNING_MEDIA_TYPE,
  signBytes,
  signDsse,
  simpleSigningPayload,
  type TrustedKeys,
  verifyBytes,
  verifyDsse,
} from "./payload.js";
export { REQUIREMENTS, type Requirement, rebuildVerdictMatches, type VerifyCheck, type VerifyResult, verifiedStatements, verifyImage } from "./verify.js";
