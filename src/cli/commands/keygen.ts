import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Command } from "commander";
import { generateApkKey } from "../../apk/index.js";
import { generateCosignKey } from "../../sign/index.js";
import { UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action, keyPassword } from "./shared.js";

export function registerKeygen(program: Command, io: Io): void {
  program
    .command("keygen")
    .description(
      "generate a signing key: --apk NAME writes NAME.rsa (0600) and NAME.rsa.pub as melange keygen does; --cosign NAME writes NAME.key and NAME.pub as cosign generate-key-pair does",
    )
    .option("--apk <name>", "RSA key pair for signing APK packages and indexes")
    .option("--cosign <name>", "ECDSA P-256 pair for image signatures, private key encrypted with $UNDISTRO_PASSWORD (or $COSIGN_PASSWORD)")
    .option("--bits <n>", "RSA modulus size", "4096")
    .option("--force", "overwrite an existing key")
    .option("--json", "print the result as JSON")
    .action(
      action(io, async (opts: { apk?: string; cosign?: string; bits: string; force?: boolean; json?: boolean }) => {
        // The key's folder is made as needed (out/keys/ on a fresh checkout), as melange keygen does not.
        for (const name of [opts.cosign, opts.apk]) if (name !== undefined) mkdirSync(dirname(name), { recursive: true });
        if (opts.cosign !== undefined) {
          const password = await keyPassword(io, { confirm: true });
          const key = generateCosignKey(opts.cosign, password, { force: opts.force ?? false });
          if (opts.json) printJson(io, key);
          else io.out(`wrote ${key.privateKeyPath} (encrypted, mode 0600)\nwrote ${key.publicKeyPath}\n`);
          if (opts.apk === undefined) return;
        }
        if (opts.apk === undefined) throw new UndistroError("USAGE", "keygen needs --apk NAME or --cosign NAME", { hint: "undistro keygen --apk mykey" });
        const bits = Number(opts.bits);
        if (!Number.isInteger(bits) || bits < 2048) throw new UndistroError("USAGE", `--bits ${opts.bits}: use at least 2048`);
        const key = generateApkKey(opts.apk, { bits, force: opts.force ?? false });
        if (opts.json) printJson(io, key);
        else io.out(`wrote ${key.privateKeyPath} (private, mode 0600)\nwrote ${key.publicKeyPath} (install as /etc/apk/keys/${key.keyName})\n`);
      }),
    );
}
