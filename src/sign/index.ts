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
