import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { ApkKeyring, readPackage, verifyPackage } from "../../apk/index.js";
import { endpoint } from "../../oci/index.js";
import { countPackageVerdicts, parseRebuiltRequirement } from "../../reproduce/index.js";
import { attestImage, Keyring, loadCosignPrivateKey, PREDICATE_TYPES, type Requirement, signImage, verifyImage } from "../../sign/index.js";
import { UndistroError } from "../../util/index.js";
import { EXIT, type Io, printJson } from "../output.js";
import { action, collect, keyPassword, registryCredentials } from "./shared.js";

function target(spec: string) {
  return endpoint(spec, registryCredentials());
}

interface VerifyFlags {
  key?: string;
  keyring: string[];
  require: string;
  repository: string[];
  apkKeys?: string;
  verdicts?: string;
  json?: boolean;
}

/**
 * `verify X.apk`: the package's APK signature (with the keyring's APK keys) and, with rebuilt:N,
 * N matching rebuild verdicts beside the repository, each signed by a different trusted cosign key.
 */
function verifyPackageFile(io: Io, file: string, ring: Keyring, require: Requirement[], rebuilders: number | undefined, f: VerifyFlags): number | undefined {
  const unsupported = require.filter((r) => r !== "signature");
  if (unsupported.length) throw new UndistroError("USAGE", `--require ${unsupported.join(",")}: an .apk is checked for signature and rebuilt:N`);
  const checks: { what: string; ok: boolean; reason: string }[] = [];
  if (require.includes("signature")) {
    try {
      const r = verifyPackage(readPackage(file), ring.apkKeyring());
      checks.push({ what: "signature", ok: true, reason: `signed by ${r.keyName}; datahash and ${r.filesChecked} file checksums hold` });
    } catch (err) {
      if (!(err instanceof UndistroError)) throw err;
      checks.push({ what: "signature", ok: false, reason: err.message });
    }
  }
  if (rebuilders !== undefined) {
    const keys = ring.entries.filter((e) => e.use === "image");
    const count = countPackageVerdicts(file, keys, ...(f.verdicts ? [f.verdicts] : []));
    const n = count.matching.length;
    const rejected = count.rejected.map((r) => `${r.file}: ${r.reason}`).join("; ");
    checks.push({
      what: `rebuilt:${rebuilders}`,
      ok: n >= rebuilders,
      reason: `${n} of ${keys.length} trusted key${keys.length === 1 ? "" : "s"} signed a matching rebuild verdict${rejected ? `; not counted: ${rejected}` : ""}`,
    });
  }
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  if (f.json) printJson(io, { package: file, ok, checks });
  else {
    io.out(`${file}\n`);
    for (const c of checks) io.out(`  ${c.ok ? "ok    " : "FAILED"} ${c.what}: ${c.reason}\n`);
  }
  if (ok) return undefined;
  const failed = checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.reason}`);
  if (!f.json) io.err(`error[VERIFY_FAILED]: ${file}: ${failed.join("; ") || "nothing checked"}\n`);
  return EXIT.failed;
}

export function registerSign(program: Command, io: Io): void {
  program
    .command("sign <image>")
    .description("sign an image (HOST/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]) in cosign's format: a sha256-<hex>.sig manifest beside it")
    .requiredOption("--key <file>", "cosign private key (password in $UNDISTRO_PASSWORD or $COSIGN_PASSWORD)")
    .option("--reference <repo>", "docker-reference claim (default: the image's repository)")
    .option("--json", "print the result as JSON")
    .action(
      action(io, async (image: string, f: { key: string; reference?: string; json?: boolean }) => {
        const key = loadCosignPrivateKey(f.key, await keyPassword(io));
        const r = await signImage(target(image), key, f.reference ? { reference: f.reference } : {});
        if (f.json) printJson(io, r);
        else io.out(`signed ${r.image}@${r.digest} → ${r.signatureTag} (${r.signatures} signature${r.signatures === 1 ? "" : "s"})\n`);
      }),
    );
  program
    .command("attest <image>")
    .description("attach a signed in-toto attestation (DSSE) to an image, as a cosign .att layer and a Sigstore bundle referrer")
    .requiredOption("--key <file>", "cosign private key (password in $UNDISTRO_PASSWORD or $COSIGN_PASSWORD)")
    .requiredOption("--predicate <file>", "predicate JSON")
    .option("--type <type>", `${Object.keys(PREDICATE_TYPES).join(", ")} or a predicate type URI`, "custom")
    .option("--platform <os/arch>", "attest one platform's manifest of a multi-platform image (an SBOM of that platform)")
    .option("--json", "print the result as JSON")
    .action(
      action(io, async (image: string, f: { key: string; predicate: string; type: string; platform?: string; json?: boolean }) => {
        const predicateType = PREDICATE_TYPES[f.type] ?? (/^[a-z]+:\/\//.test(f.type) ? f.type : undefined);
        if (!predicateType) throw new UndistroError("USAGE", `--type ${f.type}: use ${Object.keys(PREDICATE_TYPES).join(", ")} or a URI`);
        let predicate: unknown;
        try {
          predicate = JSON.parse(readFileSync(f.predicate, "utf8"));
        } catch (err) {
          throw new UndistroError("ATTEST_PREDICATE", `${f.predicate}: ${(err as Error).message}`);
        }
        const key = loadCosignPrivateKey(f.key, await keyPassword(io));
        const r = await attestImage(target(image), key, predicateType, predicate, f.platform ? { platform: f.platform } : {});
        if (f.json) printJson(io, r);
        else io.out(`attested ${r.image}@${r.digest}: ${r.predicateType} → ${r.attestationTag} and referrer ${r.bundleManifest}\n`);
      }),
    );
  program
    .command("verify <target>")
    .description("verify an image's (or an .apk's) signatures and attestations offline with public keys; exits non-zero naming what failed")
    .option("--key <file>", "public key (PEM) the signatures must verify with")
    .option("--keyring <path>", "trusted keys: files or directories holding cosign and APK public keys (repeatable)", collect, [])
    .option(
      "--require <kinds>",
      "what must be present and valid: signature, provenance, sbom, rebuilt:N (N matching rebuild verdicts from N different trusted keys); comma-separated",
      "signature",
    )
    .option("--verdicts <dir>", "an .apk's rebuild verdicts (default: REPO/rebuilds/ARCH/ beside it)")
    .option(
      "--repository <dir>",
      "APK repository: check every package the provenance names against the keyring's APK keys (or --apk-keys); repeatable, for an image made from several",
      collect,
      [],
    )
    .option("--apk-keys <dir>", "APK public keys the packages must be signed with")
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (image: string, f: VerifyFlags) => {
        const ring = Keyring.load([...(f.key ? [f.key] : []), ...f.keyring]);
        const wanted = f.require
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean);
        const rebuilders = wanted.map(parseRebuiltRequirement).find((n) => n !== undefined);
        const require = wanted.filter((w) => parseRebuiltRequirement(w) === undefined) as Requirement[];
        if (image.endsWith(".apk") && existsSync(image)) return verifyPackageFile(io, image, ring, require, rebuilders, f);
        const imageKeys = ring.imageKeys();
        if (!imageKeys.length) {
          throw new UndistroError("USAGE", "no image key: give --key FILE.pub or --keyring with a cosign public key", {
            hint: ring.entries.length ? `the keyring holds only APK keys: ${ring.entries.map((e) => e.name).join(", ")}` : undefined,
          });
        }
        const apkRing = f.apkKeys ? ApkKeyring.fromDirectory(f.apkKeys) : ring.apkKeyring();
        if (f.repository.length && apkRing.size === 0)
          throw new UndistroError("USAGE", "--repository needs APK keys: an RSA .pub in --keyring, or --apk-keys DIR");
        const r = await verifyImage(target(image), imageKeys, {
          require,
          ...(f.repository.length ? { repositories: f.repository, apkKeys: apkRing } : {}),
          ...(rebuilders !== undefined ? { rebuilders } : {}),
        });
        if (f.json) printJson(io, r);
        else {
          io.out(`${r.image}@${r.digest}\n`);
          for (const c of r.checks) {
            const what = c.kind === "attestation" ? `attestation ${c.predicateType ?? ""}` : c.kind;
            io.out(
              `  ${c.ok ? "ok    " : "FAILED"} ${what}${c.form === "image" ? "" : ` [${c.form}]`} ${c.layer}${c.platform ? ` (${c.platform})` : ""}: ${c.reason}${c.reference ? ` (docker-reference ${c.reference})` : ""}\n`,
            );
          }
          for (const [k, v] of Object.entries(r.requirements)) io.out(`  ${v ? "ok    " : "FAILED"} required ${k}${v ? "" : ": none valid"}\n`);
        }
        if (!r.ok) {
          const failed = [
            ...r.checks.filter((c) => !c.ok).map((c) => `${c.kind} ${c.layer}: ${c.reason}`),
            ...Object.entries(r.requirements)
              .filter(([, v]) => !v)
              .map(([k]) => `required ${k} missing`),
          ];
          if (!f.json) io.err(`error[VERIFY_FAILED]: ${r.image}@${r.digest}: ${failed.length ? failed.join("; ") : "nothing attached"}\n`);
          return EXIT.failed;
        }
      }),
    );
  program
    .command("keys <paths...>")
    .description("list the public keys in files or directories: what each verifies (apk packages or images), algorithm, cosign key hint")
    .option("--json", "print the keyring as JSON")
    .action(
      action(io, async (paths: string[], f: { json?: boolean }) => {
        const ring = Keyring.load(paths);
        const rows = ring.entries.map(({ key: _k, ...e }) => e);
        if (f.json) printJson(io, { keys: rows, skipped: ring.skipped });
        else {
          for (const e of rows) io.out(`${e.use === "apk" ? "apk  " : "image"}  ${e.algorithm.padEnd(12)}  ${e.name}  ${e.hint}\n`);
          for (const s of ring.skipped) io.err(`skipped ${s.path}: ${s.reason}\n`);
        }
      }),
    );
}
