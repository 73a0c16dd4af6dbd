export {
  buildImage,
  formatImageLock,
  IMAGE_BUILD_TYPE,
  IMAGE_TOOL_VERSION,
  type ImageArchResult,
  type ImageBuildOptions,
  type ImageBuildReport,
  type ImageLock,
  keyringFor,
  layerTar,
  lockImage,
  prefetchImageRepositories,
  readImageLock,
  shellSplit,
  UNTRUSTED_WARNING,
} from "./build.js";
export { apkArch, type ImageConfig, type ImagePath, type ImageUser, loadImageConfig, OCI_ARCH } from "./config.js";
export { type InstallOptions, installPackages } from "./install.js";
export { type FsEntry, type FsType, RootFs } from "./rootfs.js";
