export { apkArch, type ImageConfig, type ImagePath, type ImageUser, loadImageConfig, OCI_ARCH } from "./config.js";
