import type { Command } from "commander";
import { indexDirectory, isSignatureAlgorithm, loadSigningKey, overlappingProvides, verifyIndexFile } from "../../apk/index.js";
import { sourceDateEpoch, UndistroError } from "../../util/index.js";
import { type Io, printJson, progress } from "../output.js";
import { action } from "./shared.js";

interface IndexFlags {
  signingKey?: string;
  keysDir?: string;
  description?: string;
  signatureAlgorithm: string;
  json?: boolean;
}

/**
 * `undistro index DIR --signing-key K` writes DIR/APKINDEX.tar.gz; `undistro index verify FILE
 * --keys-dir D` checks one. One command with a verb argument, so both spellings the docs use work.
 */
export function registerIndex(program: Command, io: Io): void {
  program
    .command("index <dir-or-verb> [file]")
    .description("write DIR/APKINDEX.tar.gz from DIR/*.apk, or `index verify FILE --keys-dir DIR`")
    .option("--signing-key <key.rsa>", "RSA private key to sign the index")
    .option("--signature-algorithm <alg>", "RSA256 or RSA", "RSA256")
    .option("--description <text>", "repository description (DESCRIPTION entry)")
    .option("--keys-dir <dir>", "with verify: trusted public keys")
    .option("--json", "print as JSON")
    .action(
      action(io, async (first: string, file: string | undefined, f: IndexFlags) => {
        if (first === "verify") {
          if (file === undefined)
            throw new UndistroError("USAGE", "index verify needs FILE", { hint: "undistro index verify repo/x86_64/APKINDEX.tar.gz --keys-dir keys/" });
          if (f.keysDir === undefined) throw new UndistroError("USAGE", "index verify needs --keys-dir DIR");
          const r = verifyIndexFile(file, f.keysDir);
          if (f.json) printJson(io, { ok: true, ...r });
          else io.out(`${file}: OK, ${r.packages} packages, signed ${r.algorithm} by ${r.keyName}\n`);
          return;
        }
        if (file !== undefined) throw new UndistroError("USAGE", `unexpected argument ${file}`, { hint: "undistro index DIR --signing-key KEY.rsa" });
        if (!isSignatureAlgorithm(f.signatureAlgorithm)) throw new UndistroError("USAGE", `--signature-algorithm ${f.signatureAlgorithm}: use RSA256 or RSA`);
        if (f.signingKey === undefined) {
          throw new UndistroError("USAGE", "index needs --signing-key KEY.rsa", {
            hint: "an unsigned index is only usable with --allow-untrusted; make a key with `undistro keygen --apk NAME`",
          });
        }
        const p = progress(io, "indexing");
        let n = 0;
        const opts: Parameters<typeof indexDirectory>[1] = {
          signingKey: loadSigningKey(f.signingKey),
          signatureAlgorithm: f.signatureAlgorithm,
          sourceDateEpoch: sourceDateEpoch(),
        };
        if (f.description !== undefined) opts.description = f.description;
        const r = indexDirectory(first, opts, (pkg) => p.tick(++n, n, pkg));
        p.done();
        const overlaps = overlappingProvides(r.entries);
        const warnings = overlaps.map((o) => `${o.provide} is provided with a version by ${o.packages.join(" and ")}: apk will never install them together`);
        for (const w of warnings) io.err(`warning: ${w}\n`);
        if (f.json)
          printJson(io, {
            file: r.path,
            packages: r.packages,
            warnings,
            entries: r.entries.map((e) => ({ name: e.name, version: e.version, arch: e.arch, checksum: e.checksum })),
          });
        else io.out(`wrote ${r.path}: ${r.packages} packages\n`);
      }),
    );
}
