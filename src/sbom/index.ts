export { type ImageSbomInput, type ImageSbomPackage, imageCycloneDx, imageSpdx } from "./image.js";
export { apkPurl, formatSpdx, packageSpdx, type SpdxPackageInput, validateSpdx } from "./spdx.js";
