import { dirname, join } from "node:path";
import type { Command } from "commander";
import { loadSigningKey } from "../../apk/index.js";
import { formatRebuildPlan, planRebuild, runRebuild } from "../../rebuild/index.js";
import { loadCosignPrivateKey } from "../../sign/index.js";
import { loadProjectConfig, UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action, collect, keyPassword } from "./shared.js";

interface RebuildFlags {
  since?: string;
  plan?: boolean;
  packages?: string;
  images?: string;
  advisories?: string;
  repository?: string;
  imagesOut?: string;
  signingKey?: string;
  keyring: string[];
  cosignKey?: string;
  push?: string;
  insecure?: boolean;
  arch?: string;
  jobs: string;
  sourceMirror: string[];
  logDir?: string;
  hermetic?: boolean;
  repositoryAppend: string[];
  json?: boolean;
}

export function registerRebuild(program: Command, io: Io): void {
  program
    .command("rebuild")
    .description(
      "the daily job: rebuild what changed upstream or in the recipes, their reverse dependencies (epochs raised) and the images containing them; re-sign, re-attest, push",
    )
    .option("--since <ref>", "also count recipes and advisories changed since this git ref")
    .option("--plan", "print what would be rebuilt, and do nothing")
    .option("--packages <dir>", "recipes (default: undistro.yaml's packages)")
    .option("--images <dir>", "image configs (default: undistro.yaml's images)")
    .option("--advisories <dir>", "advisories (default: undistro.yaml's advisories)")
    .option("--repository <dir>", "package repository with <arch>/APKINDEX.tar.gz (default: undistro.yaml's repository)")
    .option("--images-out <dir>", "image layouts, one directory per image (default: images/ beside the repository)")
    .option("--signing-key <key.rsa>", "APK signing key for packages and index (default: undistro.yaml's signing-key)")
    .option("--keyring <key.rsa.pub>", "APK public key images trust (repeatable; default: the signing key's .pub)", collect, [])
    .option("--cosign-key <cosign.key>", "sign and attest images and package provenance (password in $UNDISTRO_PASSWORD)")
    .option("--push <registry/namespace>", "copy rebuilt images, signatures and attestations to <registry/namespace>/<image>:latest")
    .option("--insecure", "plain HTTP to the registry")
    .option("--arch <arch>", "architecture (default: the host's)")
    .option("-j, --jobs <n>", "parallel package builds", "1")
    .option("--source-mirror <dir>", "source mirror (repeatable)", collect, [])
    .option("--log-dir <dir>", "build logs")
    .option("--hermetic", "build every step in a root made only of the recipe's environment packages (as build --hermetic)")
    .option("--repository-append <dir>", "another repository for environment packages, after --repository's (repeatable; a bootstrap stage's)", collect, [])
    .option("--json", "print the plan or the result as JSON")
    .action(
      action(io, async (f: RebuildFlags) => {
        const project = loadProjectConfig();
        const signingKeyFile = f.signingKey ?? project.signingKey;
        const keyring = f.keyring.length ? f.keyring : signingKeyFile ? [`${signingKeyFile}.pub`] : [];
        const repository = f.repository ?? project.repository;
        const inputs = {
          packagesDir: f.packages ?? project.packages,
          imagesDir: f.images ?? project.images,
          advisoriesDir: f.advisories ?? project.advisories,
          repository,
          keyring,
          ...(f.arch ? { arch: f.arch } : {}),
          ...(f.since ? { since: f.since } : {}),
        };
        if (f.plan) {
          const plan = planRebuild(inputs);
          if (f.json) printJson(io, plan);
          else io.out(formatRebuildPlan(plan));
          return;
        }
        if (!signingKeyFile) throw new UndistroError("USAGE", "rebuild needs --signing-key KEY.rsa or signing-key in undistro.yaml (or --plan)");
        const result = await runRebuild({
          ...inputs,
          imagesOut: f.imagesOut ?? join(dirname(repository), "images"),
          signingKey: loadSigningKey(signingKeyFile),
          distro: project.distro,
          ...(f.cosignKey ? { cosignKey: loadCosignPrivateKey(f.cosignKey, await keyPassword(io)) } : {}),
          ...(f.push ? { push: f.push } : {}),
          ...(f.insecure ? { insecure: true } : {}),
          ...(process.env.UNDISTRO_REGISTRY_USER
            ? { registryCredentials: { username: process.env.UNDISTRO_REGISTRY_USER, password: process.env.UNDISTRO_REGISTRY_PASSWORD ?? "" } }
            : {}),
          jobs: Number(f.jobs) || 1,
          sourceMirrors: f.sourceMirror.length ? f.sourceMirror : project.sourceMirrors,
          ...(project.cacheDir ? { cacheDir: project.cacheDir } : {}),
          ...(f.logDir ? { logDir: f.logDir } : {}),
          ...(f.hermetic ? { hermetic: true } : {}),
          repositoryAppend: f.repositoryAppend,
          onEvent: (e) => {
            if (e.type === "rebuild") io.err(`${e.message}\n`);
            else if (e.type === "package") io.err(`built ${e.file}\n`);
          },
        });
        if (f.json) printJson(io, result);
        else {
          io.out(formatRebuildPlan(result.plan));
          io.out(`rebuilt ${result.built.length} recipe(s): ${result.built.map((b) => b.package).join(", ") || "-"}\n`);
          for (const i of result.images) {
            io.out(
              `image ${i.name} ${i.digest}${i.signed ? `, signed, attested (${i.attestations.join(", ")})` : ""}${i.pushed ? `, pushed to ${i.pushed}` : ""}\n`,
            );
          }
        }
      }),
    );
}
