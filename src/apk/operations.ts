/**
 * The APK operations the CLI exposes, as library calls that return plain data.
 */
import { type ExtractResult, extractPackage } from "./extract.js";
import { readIndexFile, verifyIndex } from "./index-file.js";
import { ApkKeyring } from "./keys.js";
import { readPackage, type VerifyReport, verifyPackage } from "./package-reader.js";
import type { PackageInfo } from "./pkginfo.js";

export interface PackageDescription {
  file: string;
  fileSize: number;
  checksum: string;
  info: PackageInfo;
  signatures: Array<{ algorithm: string; keyName: string }>;
  dataHashMatches: boolean | null;
  scripts: string[];
  files: Array<{ path: string; type: string; mode: string; uid: number; gid: number; size: number; linkTarget?: string; checksum?: string }>;
}

export function describePackage(path: string): PackageDescription {
  const pkg = readPackage(path);
  return {
    file: path,
    fileSize: pkg.fileSize,
    checksum: pkg.checksum,
    info: pkg.info,
    signatures: pkg.signatures.map((s) => ({ algorithm: s.algorithm, keyName: s.keyName })),
    dataHashMatches: pkg.info.dataHash === undefined ? null : pkg.info.dataHash === pkg.computedDataHash,
    scripts: Object.keys(pkg.scripts).sort(),
    files: pkg.files.map((f) => {
      const out: PackageDescription["files"][number] = {
        path: f.path,
        type: f.type,
        mode: f.mode.toString(8).padStart(4, "0"),
        uid: f.uid,
        gid: f.gid,
        size: f.size,
      };
      if (f.linkTarget !== undefined) out.linkTarget = f.linkTarget;
      if (f.checksum !== undefined) out.checksum = f.checksum;
      return out;
    }),
  };
}

export function verifyPackageFile(path: string, keysDir: string): VerifyReport {
  return verifyPackage(readPackage(path), ApkKeyring.fromDirectory(keysDir));
}

export interface ExtractReport extends ExtractResult {
  file: string;
  destination: string;
  verified: VerifyReport | null;
}

/** Extracts after verifying when a keys directory is given. */
export function extractPackageFile(path: string, destination: string, keysDir?: string): ExtractReport {
  const pkg = readPackage(path);
  const verified = keysDir === undefined ? null : verifyPackage(pkg, ApkKeyring.fromDirectory(keysDir));
  return { file: path, destination, verified, ...extractPackage(pkg, destination) };
}

export interface IndexVerifyReport {
  file: string;
  keyName: string;
  algorithm: string;
  packages: number;
  description: string;
}

export function verifyIndexFile(path: string, keysDir: string): IndexVerifyReport {
  const index = readIndexFile(path);
  const r = verifyIndex(index, ApkKeyring.fromDirectory(keysDir));
  return { file: path, keyName: r.keyName, algorithm: r.algorithm, packages: r.packages, description: index.description };
}
