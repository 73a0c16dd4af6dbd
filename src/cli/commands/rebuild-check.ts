import type { KeyObject } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import type { Command } from "commander";
import { IMAGE_BUILD_TYPE } from "../../image/index.js";
import { type Endpoint, endpoint } from "../../oci/index.js";
import {
  type AppliedVariation,
  type ImageCheckOptions,
  type ImageVerdict,
  imageRecord,
  keyFingerprint,
  layoutDirectory,
  type PackageVerdict,
  packagePredicate,
  parseVariations,
  type RebuildPredicate,
  rebuildCheck,
  rebuildCheckImage,
  rebuildImageFrom,
  repositoryPackages,
  VARIATION_NAMES,
  writePackageVerdict,
} from "../../reproduce/index.js";
import { attestImage, Keyring, loadCosignPrivateKey, PREDICATE_TYPES, verifiedStatements } from "../../sign/index.js";
import { UndistroError } from "../../util/index.js";
import { EXIT, type Io, printJson } from "../output.js";
import { VERSION } from "../version.js";

import { action, collect, keyPassword, registryCredentials } from "./shared.js";

interface RebuildCheckFlags {
  keyring: string[];
  repository: string[];
  sourceMirror: string[];
  vary: string;
  reportDir?: string;
  recipeDir?: string;
  logDir?: string;
  attestKey?: string;
  rebuilder?: string;
  verdicts?: string;
  config?: string;
  json?: boolean;
}

const STATUS_WORDS: Record<PackageVerdict["status"], string> = {
  reproduced: "reproduced",
  differs: "DIFFERS",
  "not-self-consistent": "DOES NOT MATCH ITS RECORDS",
  "no-record": "NO RECORD",
  "rebuild-failed": "REBUILD FAILED",
};

function targetsToFiles(targets: string[]): string[] {
  return targets.flatMap((t) => {
    if (!existsSync(t)) throw new UndistroError("USAGE", `${t}: no such file or directory`, { hint: "give .apk files or a repository directory" });
    return statSync(t).isDirectory() ? repositoryPackages(t) : [t];
  });
}

function variationsFrom(flag: string) {
  if (flag === "all") return [...VARIATION_NAMES];
  if (flag === "none") return [];
  return parseVariations(
    flag
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
    "--vary",
  );
}

export function registerRebuildCheck(program: Command, io: Io): void {
  program
    .command("rebuild-check <targets...>")
    .description(
      "rebuild packages (.apk files or a repository directory) from the records they carry, under varied conditions, and compare bit for bit; a difference exits non-zero with a diffoscope report",
    )
    .option("--keyring <path>", "APK public keys (files or directories) the packages and their build environment must be signed with (repeatable)", collect, [])
    .option("--repository <dir>", "where environment packages come from (repeatable; default: each package's own repository)", collect, [])
    .option("--source-mirror <dir>", "source mirror (repeatable)", collect, [])
    .option("--vary <list>", `conditions varied on the rebuild: all, none, or some of ${VARIATION_NAMES.join(",")}`, "all")
    .option("--report-dir <dir>", "where diffoscope reports are written (default: a new temporary directory)")
    .option("--recipe-dir <dir>", "the recipes' directory, for recipes that read files beside them (patches)")
    .option("--log-dir <dir>", "rebuild logs")
    .option("--attest-key <cosign.key>", "sign a verdict per package with this cosign key (password in $UNDISTRO_PASSWORD), beside the repository")
    .option("--rebuilder <id>", "who rebuilt, as the verdicts name it (default: the key's fingerprint)")
    .option("--verdicts <dir>", "write verdicts here instead of REPO/rebuilds/ARCH/")
    .option("--config <file>", "an image's config (default: the path its provenance records; it must have the recorded sha256)")
    .option("--json", "print the verdicts as JSON")
    .action(
      action(io, async (targets: string[], f: RebuildCheckFlags) => {
        const ring = Keyring.load(f.keyring);
        const apkKeys = ring.entries.filter((e) => e.use === "apk");
        const one = targets.length === 1 ? (targets[0] ?? "") : undefined;
        const layout = one === undefined ? undefined : layoutDirectory(one);
        const options = imageOptions(
          io,
          apkKeys.map((e) => e.path),
          f,
        );
        if (layout) return checkImage(io, endpoint(`oci:${layout}`), () => rebuildCheckImage(layout, options), f);
        if (one !== undefined && !existsSync(one) && /^[^/\s]+[.:][^/\s]*\/[^\s]+$/.test(one)) {
          const ep = endpoint(one, registryCredentials());
          return checkImage(io, ep, () => registryImage(ep, one, ring, options), f);
        }
        const files = targetsToFiles(targets);
        if (!apkKeys.length) io.err("warning: no --keyring: package signatures are NOT checked and the build environment cannot be installed\n");
        const result = await rebuildCheck(files, {
          keyring: ring.apkKeyring(),
          keyFiles: apkKeys.map((e) => e.path),
          ...(f.repository.length ? { repositories: f.repository } : {}),
          ...(f.sourceMirror.length ? { sourceMirrors: f.sourceMirror } : {}),
          variations: variationsFrom(f.vary),
          ...(f.reportDir ? { reportDir: f.reportDir } : {}),
          ...(f.recipeDir ? { recipeDir: f.recipeDir } : {}),
          ...(f.logDir ? { logDir: f.logDir } : {}),
          onProgress: (m) => io.err(`${m}\n`),
        });
        const verdictFiles = f.attestKey ? signVerdicts(result, loadCosignPrivateKey(f.attestKey, await keyPassword(io)), f) : [];
        if (f.json) printJson(io, { ...result, verdictFiles });
        else {
          printTable(io, result);
          for (const file of verdictFiles) io.out(`verdict: ${file}\n`);
        }
        return result.reproduced === result.total ? undefined : EXIT.failed;
      }),
    );
}

function printTable(io: Io, result: Awaited<ReturnType<typeof rebuildCheck>>): void {
  const label = (p: PackageVerdict) => (p.version ? `${p.name}-${p.version}` : p.name);
  const width = Math.max(7, ...result.packages.map((p) => label(p).length));
  io.out(`${"package".padEnd(width)}  verdict\n`);
  for (const p of result.packages) {
    io.out(`${label(p).padEnd(width)}  ${STATUS_WORDS[p.status]}${p.reason ? `: ${p.reason}` : ""}\n`);
    for (const d of p.differences ?? []) io.out(`${" ".repeat(width)}    ${d.path}: ${d.what}\n`);
    if (p.report) io.out(`${" ".repeat(width)}    diffoscope: ${p.report.text}${p.report.html ? ` (HTML: ${p.report.html})` : ""}\n`);
    for (const n of p.notes) io.out(`${" ".repeat(width)}    note: ${n}\n`);
  }
  const share = result.total ? ((100 * result.reproduced) / result.total).toFixed(1) : "0.0";
  io.out(`reproduced ${result.reproduced} of ${result.total} (${share} %)\n`);
  io.out(result.variations.length ? "variations:\n" : "variations: none (--vary none)\n");
  for (const v of result.variations) io.out(`  ${v.applied ? "varied    " : "NOT varied"} ${v.name}: ${v.value}${v.reason ? ` (${v.reason})` : ""}\n`);
}

/** One signed verdict per package that was rebuilt (matched or not); none for those never rebuilt. */
function signVerdicts(result: Awaited<ReturnType<typeof rebuildCheck>>, key: KeyObject, f: RebuildCheckFlags): string[] {
  const id = f.rebuilder ?? `key:sha256:${keyFingerprint(key)}`;
  return result.packages
    .filter((p) => p.status === "reproduced" || p.status === "differs")
    .map((p) => writePackageVerdict(p.file, p.sha256, packagePredicate(p, result.variations, id, p.inputs ?? {}), key, ...(f.verdicts ? [f.verdicts] : [])));
}

function imageOptions(io: Io, keyFiles: string[], f: RebuildCheckFlags): ImageCheckOptions {
  return {
    keyFiles,
    variations: variationsFrom(f.vary),
    ...(f.config ? { config: f.config } : {}),
    ...(f.reportDir ? { reportDir: f.reportDir } : {}),
    onProgress: (m) => io.err(`${m}\n`),
  };
}

/**
 * An image in a registry: its record is the SLSA provenance attached to it, read only when a
 * trusted key signed it (the rebuild trusts nothing else it reads; the comparison needs no trust).
 */
async function registryImage(ep: Endpoint, ref: string, ring: Keyring, options: ImageCheckOptions) {
  const keys = ring.imageKeys();
  if (!keys.length) {
    throw new UndistroError(
      "USAGE",
      `${ref}: the image's provenance is read from its attestations: give --keyring with the cosign public key that signed them`,
    );
  }
  const { digest, statements } = await verifiedStatements(ep, keys);
  const provenance = statements.find(
    // biome-ignore lint/suspicious/noExplicitAny: a predicate is JSON, inspected field by field
    (st) => st.predicateType === PREDICATE_TYPES.slsaprovenance1 && (st.predicate as any)?.buildDefinition?.buildType === IMAGE_BUILD_TYPE,
  );
  if (!provenance) {
    throw new UndistroError("REPRO_NO_RECORD", `${ref}@${digest}: no SLSA provenance of an undistro image build, signed by a trusted key, is attached`, {
      hint: "attest the image's provenance.json (undistro attest --type slsaprovenance1), or rebuild-check the layout it was built into",
    });
  }
  return rebuildImageFrom(imageRecord(provenance.predicate, `${ref} provenance`), digest, ref, options);
}

/** rebuild-check of an image; with --attest-key the verdict is attached to the image (.att and referrer). */
async function checkImage(
  io: Io,
  ep: Endpoint,
  check: () => Promise<{ image: ImageVerdict; variations: AppliedVariation[] }>,
  f: RebuildCheckFlags,
): Promise<number | undefined> {
  const { image, variations } = await check();
  let attestation: string | undefined;
  if (f.attestKey && image.status !== "rebuild-failed") {
    const key = loadCosignPrivateKey(f.attestKey, await keyPassword(io));
    const predicate: RebuildPredicate = {
      rebuilder: { id: f.rebuilder ?? `key:sha256:${keyFingerprint(key)}`, builder: `undistro ${VERSION}` },
      artifact: { kind: "image", name: image.tag },
      inputs: image.inputs,
      comparison: "the image index digest (every manifest, config and layer below it)",
      expected: { sha256: image.expected.replace(/^sha256:/, "") },
      ...(image.obtained ? { obtained: { sha256: image.obtained.replace(/^sha256:/, "") } } : {}),
      match: image.status === "reproduced",
      variations,
      ...(image.differences?.length ? { differences: image.differences } : {}),
    };
    attestation = (await attestImage(ep, key, PREDICATE_TYPES.rebuild as string, predicate)).attestationTag;
  }
  if (f.json) printJson(io, { image, variations, ...(attestation ? { attestation } : {}) });
  else {
    io.out(
      `${image.layout} (${image.tag}): ${image.status === "reproduced" ? "reproduced" : image.status.toUpperCase()}${image.reason ? `: ${image.reason}` : ""}\n`,
    );
    io.out(`  expected ${image.expected}\n  obtained ${image.obtained ?? "-"}\n`);
    for (const d of image.differences ?? []) io.out(`    ${d.path}: ${d.what}\n`);
    if (image.report) io.out(`  diffoscope: ${image.report.text}${image.report.html ? ` (HTML: ${image.report.html})` : ""}\n`);
    for (const v of variations) io.out(`  ${v.applied ? "varied    " : "NOT varied"} ${v.name}: ${v.value}${v.reason ? ` (${v.reason})` : ""}\n`);
    if (attestation) io.out(`verdict attached: ${attestation} and an OCI referrer\n`);
  }
  return image.status === "reproduced" ? undefined : EXIT.failed;
}
