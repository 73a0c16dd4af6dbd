import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { endpoint } from "../../oci/index.js";
import { loadCosignPrivateKey, signImage, verifyImageSignatures } from "../../sign/index.js";
import { UndistroError } from "../../util/index.js";
import { EXIT, type Io, printJson } from "../output.js";
import { action } from "./shared.js";

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
        const key = loadCosignPrivateKey(f.key, process.env.UNDISTRO_PASSWORD ?? process.env.COSIGN_PASSWORD ?? "");
        const r = await signImage(target(image), key, f.reference ? { reference: f.reference } : {});
        if (f.json) printJson(io, r);
        else io.out(`signed ${r.image}@${r.digest} → ${r.signatureTag} (${r.signatures} signature${r.signatures === 1 ? "" : "s"})\n`);
      }),
    );
  program
    .command("verify <image>")
    .description("verify an image's signatures offline with a public key; exits non-zero naming what failed")
    .requiredOption("--key <file>", "public key (PEM)")
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (image: string, f: { key: string; json?: boolean }) => {
        let pub: ReturnType<typeof createPublicKey>;
        try {
          pub = createPublicKey(readFileSync(f.key, "utf8"));
        } catch {
          throw new UndistroError("KEY_FORMAT", `${f.key}: not a public key (PEM) undistro can read`);
        }
        const r = await verifyImageSignatures(target(image), pub);
        if (f.json) printJson(io, r);
        else {
          io.out(`${r.image}@${r.digest}\n`);
          if (r.signatures.length === 0) io.out("  signature: none found\n");
          for (const s of r.signatures)
            io.out(
              `  ${s.form === "bundle" ? "bundle   " : "signature"} ${s.layer}: ${s.ok ? "ok" : "FAILED"}: ${s.reason}${s.reference ? ` (docker-reference ${s.reference})` : ""}\n`,
            );
        }
        if (!r.ok) {
          if (!f.json) io.err(`error[VERIFY_FAILED]: ${r.image}: no valid signature for ${r.digest}\n`);
          return EXIT.failed;
        }
      }),
    );
}
