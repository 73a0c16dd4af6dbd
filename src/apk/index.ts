export { checksumIdentity, sameChecksum } from "./checksum.js";
export { type Dependency, formatDependency, parseDependencies, parseDependency, type VersionOp, versionSatisfies } from "./dependency.js";
export { type ExtractResult, extractPackage } from "./extract.js";
export { type GzipLimits, type GzipMember, gunzipBounded, maxUnpackedBytes, splitGzipMembers } from "./gzip.js";
export {
  type ApkIndex,
  type BuildIndexOptions,
  controlChecksum,
  encodeIndexArchive,
  formatIndex,
  formatIndexEntry,
  type IndexEntry,
  indexDirectory,
  indexEntryFromPackage,
  isSafeFileComponent,
  overlappingProvides,
  parseIndex,
  parseIndexArchive,
  readIndexFile,
  repositoryArchitectures,
  verifyIndex,
} from "./index-file.js";
export {
  ApkKeyring,
  type ApkSigningKey,
  type GeneratedKey,
  generateApkKey,
  isSignatureAlgorithm,
  loadSigningKey,
  type PublicKeyFile,
  readPublicKeyFile,
  type SignatureAlgorithm,
  signBytes,
} from "./keys.js";
export {
  describePackage,
  type ExtractReport,
  extractPackageFile,
  type IndexVerifyReport,
  type PackageDescription,
  verifyIndexFile,
  verifyPackageFile,
} from "./operations.js";
export {
  type ApkPackage,
  type PackageFile,
  type PackageSignature,
  parsePackage,
  readPackage,
  safeRelativePath,
  type VerifyReport,
  verifyFileChecksums,
  verifyPackage,
} from "./package-reader.js";
export { type CreatedPackage, type CreatePackageOptions, createPackage, normaliseMode, SCRIPT_NAMES, type ScriptName, writePackage } from "./package-writer.js";
export { emptyPackageInfo, formatPkgInfo, MAX_FIELD_LENGTH, type PackageInfo, parsePkgInfo } from "./pkginfo.js";
export { END_OF_ARCHIVE, encodeEntry, parseTar, type TarEntry, type TarHeader } from "./tar.js";
export { compareVersions, compareVersionsFuzzy, isValidVersion } from "./version.js";
