/**
 * Signed rebuild verdicts: an in-toto statement of undistro's predicate type (docs/rebuild-check.md)
 * saying who rebuilt what from which inputs, under which variations, and whether the result
 * matched. Signed with the rebuilder's cosign key (DSSE). Packages keep theirs beside the
 * repository (REPO/rebuilds/ARCH/NAME.apk.KEYID.intoto.jsonl), images as attestations (cosign's
 * `.att` and an OCI 1.1 referrer). `verify --require rebuilt:N` counts matching verdicts by
 * distinct trusted keys: N independent rebuilders, StageX's rule.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { BUILDER_VERSION } from "../build/index.js";
import {
  checkStatementEnvelope,
  type DsseEnvelope,
  IN_TOTO_PAYLOAD_TYPE,
  type KeyringEntry,
  PREDICATE_TYPES,
  rebuildVerdictMatches,
  signDsse,
  statementFor,
} from "../sign/index.js";
import { UndistroError, writeFileAtomic } from "../util/index.js";
import type { PackageVerdict } from "./check.js";
import type { AppliedVariation } from "./variations.js";

export const REBUILD_PREDICATE_TYPE = PREDICATE_TYPES.rebuild as string;

export interface RebuildPredicate {
  rebuilder: { id: string; builder: string };
  artifact: { kind: "apk" | "image"; name: string; version?: string };
  /** What the rebuild was made from: the records the artefact carries, by digest. */
  inputs: Record<string, unknown>;
  comparison: string;
  expected: { sha256: string };
  obtained?: { sha256: string };
  match: boolean;
  variations: AppliedVariation[];
  differences?: { path: string; what: string }[];
}

/** hex SHA-256 of a key's SPKI DER: the same fingerprint `undistro keys` prints. */
export function keyFingerprint(key: KeyObject): string {
  return createHash("sha256")
    .update(createPublicKey(key).export({ format: "der", type: "spki" }))
    .digest("hex");
}

/** Where a package's verdicts live: REPO/rebuilds/ARCH/, beside REPO/ARCH/NAME.apk. */
export function verdictDirectory(apkFile: string): string {
  const archDir = dirname(apkFile);
  return join(dirname(archDir), "rebuilds", basename(archDir));
}

export function packagePredicate(v: PackageVerdict, variations: AppliedVariation[], rebuilderId: string, inputs: Record<string, unknown>): RebuildPredicate {
  return {
    rebuilder: { id: rebuilderId, builder: `undistro ${BUILDER_VERSION}` },
    artifact: { kind: "apk", name: v.name, version: v.version },
    inputs,
    comparison: "the package's control and data gzip members, byte for byte (the signature member excluded: it is the signer's, not the build's)",
    expected: { sha256: v.expected },
    ...(v.obtained ? { obtained: { sha256: v.obtained } } : {}),
    match: v.status === "reproduced",
    variations,
    ...(v.differences?.length ? { differences: v.differences } : {}),
  };
}

/** Signs a package's verdict and writes it beside the repository; returns the file. */
export function writePackageVerdict(apkFile: string, apkSha256: string, predicate: RebuildPredicate, key: KeyObject, dir = verdictDirectory(apkFile)): string {
  const statement = statementFor(`sha256:${apkSha256}`, REBUILD_PREDICATE_TYPE, predicate, basename(apkFile));
  const envelope = signDsse(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), key);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${basename(apkFile)}.${keyFingerprint(key).slice(0, 16)}.intoto.jsonl`);
  writeFileAtomic(file, Buffer.from(`${JSON.stringify(envelope)}\n`));
  return file;
}

export interface RebuildCount {
  /** Distinct trusted keys with a verdict that verifies, is about this artefact and says it matched. */
  matching: string[];
  /** Verdicts that were read and did not count, with why. */
  rejected: { file: string; reason: string }[];
}

/** A verdict counts when its predicate says the rebuild matched what was expected (the rule `verify` applies to images). */
export const verdictMatches = rebuildVerdictMatches;

/** The package verdicts in `dir` that trusted keys signed over this exact .apk, by key. */
export function countPackageVerdicts(apkFile: string, keys: KeyringEntry[], dir = verdictDirectory(apkFile)): RebuildCount {
  const digest = `sha256:${createHash("sha256").update(readFileSync(apkFile)).digest("hex")}`;
  const out: RebuildCount = { matching: [], rejected: [] };
  if (!existsSync(dir)) return out;
  const prefix = `${basename(apkFile)}.`;
  for (const name of readdirSync(dir).sort()) {
    if (!name.startsWith(prefix) || !name.endsWith(".intoto.jsonl")) continue;
    const file = join(dir, name);
    let env: DsseEnvelope;
    try {
      env = JSON.parse(readFileSync(file, "utf8").slice(0, 8 << 20)) as DsseEnvelope;
    } catch {
      out.rejected.push({ file, reason: "not a JSON DSSE envelope" });
      continue;
    }
    const signer = keys.find((k) => checkStatementEnvelope(env, k.key, digest).statement);
    if (!signer) {
      out.rejected.push({
        file,
        reason:
          checkStatementEnvelope(
            env,
            keys.map((k) => k.key),
            digest,
          ).error ?? "no trusted key signed it",
      });
      continue;
    }
    const st = checkStatementEnvelope(env, signer.key, digest).statement;
    if (st?.predicateType !== REBUILD_PREDICATE_TYPE)
      out.rejected.push({ file, reason: `predicate type ${st?.predicateType} is not ${REBUILD_PREDICATE_TYPE}` });
    else if (!verdictMatches(st.predicate)) out.rejected.push({ file, reason: "the rebuild did not match" });
    else if (!out.matching.includes(signer.fingerprint)) out.matching.push(signer.fingerprint);
  }
  return out;
}

/** "rebuilt:N" → N (at least 1). */
export function parseRebuiltRequirement(text: string): number | undefined {
  const m = /^rebuilt(?::(\d+))?$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1] ?? "1");
  if (!Number.isSafeInteger(n) || n < 1) throw new UndistroError("USAGE", `--require ${text}: the number of rebuilders must be 1 or more`);
  return n;
}
