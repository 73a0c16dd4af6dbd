import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ApkKeyring } from "../../apk/index.js";
import { endpoint } from "../../oci/index.js";
import { attestImage, Keyring, loadCosignPrivateKey, PREDICATE_TYPES, type Requirement, signImage, verifyImage } from "../../sign/index.js";
import { UndistroError } from "../../util/index.js";
import { EXIT, type Io, printJson } from "../output.js";
import { action, collect, keyPassword } from "./shared.js";

function target(spec: string) {
  const creds = process.env.UNDISTRO_REGISTRY_USER
    ? { username: process.env.UNDISTRO_REGISTRY_USER, password: process.env.UNDISTRO_REGISTRY_PASSWORD ?? "" }
    : {};
  return endpoint(spec, creds);
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
    .command("verify <image>")
    .description("verify an image's signatures offline with a public key; exits non-zero naming what failed")
    .option("--key <file>", "public key (PEM) the signatures must verify with")
    .option("--keyring <path>", "trusted keys: files or directories holding cosign and APK public keys (repeatable)", collect, [])
    .option("--require <kinds>", "what must be present and valid: signature, provenance, sbom (comma-separated)", "signature")
    .option("--repository <dir>", "APK repository: check every package the provenance names against the keyring's APK keys (or --apk-keys)")
    .option("--apk-keys <dir>", "APK public keys the packages must be signed with")
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (image: string, f: { key?: string; keyring: string[]; require: string; repository?: string; apkKeys?: string; json?: boolean }) => {
        const ring = Keyring.load([...(f.key ? [f.key] : []), ...f.keyring]);
        const imageKeys = ring.imageKeys();
        if (!imageKeys.length) {
          throw new UndistroError("USAGE", "no image key: give --key FILE.pub or --keyring with a cosign public key", {
            hint: ring.entries.length ? `the keyring holds only APK keys: ${ring.entries.map((e) => e.name).join(", ")}` : undefined,
          });
        }
        const apkRing = f.apkKeys ? ApkKeyring.fromDirectory(f.apkKeys) : ring.apkKeyring();
        if (f.repository && apkRing.size === 0) throw new UndistroError("USAGE", "--repository needs APK keys: an RSA .pub in --keyring, or --apk-keys DIR");
        const require = f.require
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean) as Requirement[];
        const r = await verifyImage(target(image), imageKeys, { require, ...(f.repository ? { repository: f.repository, apkKeys: apkRing } : {}) });
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
