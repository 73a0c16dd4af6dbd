export { type ImageSbomInput, type ImageSbomPackage, imageCycloneDx, imageSpdx } from "./image.js";
export {
  apkPurl,
  type DistroRelease,
  distroRelease,
  formatSpdx,
  installedApkPurl,
  packageSpdx,
  parseOsRelease,
  type SpdxPackageInput,
  validateSpdx,
} from "./spdx.js";
