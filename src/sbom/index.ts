export { apkPurl, formatSpdx, packageSpdx, type SpdxPackageInput, validateSpdx } from "./spdx.js";
