export {
  type PackageStatus,
  type PackageVerdict,
  type RebuildCheckOptions,
  type RebuildCheckResult,
  rebuildCheck,
  repositoryPackages,
} from "./check.js";
export { compareMembers, diffoscopeAvailable, diffoscopeReport, type EntryDifference } from "./compare.js";
export {
  type ImageCheckOptions,
  type ImageRecord,
  type ImageVerdict,
  imageRecord,
  layoutDirectory,
  readImageRecord,
  rebuildCheckImage,
  rebuildImageFrom,
} from "./image.js";
export { type AppliedVariation, parseVariations, planVariations, VARIATION_NAMES, type VariationName } from "./variations.js";
export {
  countPackageVerdicts,
  keyFingerprint,
  packagePredicate,
  parseRebuiltRequirement,
  REBUILD_PREDICATE_TYPE,
  type RebuildCount,
  type RebuildPredicate,
  verdictDirectory,
  verdictMatches,
  writePackageVerdict,
} from "./verdict.js";
