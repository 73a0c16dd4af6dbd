import type { Command } from "commander";
import { buildImage, formatImageLock, lockImage, prefetchImageRepositories, UNTRUSTED_WARNING } from "../../image/index.js";
import { installPackages } from "../../image/install.js";
import { hostArch, UndistroError, writeFileAtomic } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action, collect } from "./shared.js";

export function registerImage(program: Command, io: Io): void {
  const image = program.command("image").description("build reproducible OCI images from apko-format configs");
  image
    .command("build <config>")
    .description("build an OCI image layout (and optionally a tar) with SBOMs")
    .option("--out <dir>", "OCI image layout directory to write")
    .option("--tar <file>", "also write the layout as one tar")
    .option("--lock <file>", "build exactly the packages in this lock (no index is read)")
    .option("--arch <arch>", "architecture (repeatable; default: the config's archs)", collect, [])
    .option("--allow-untrusted", "build from a config with no keyring, verifying NO signature (testing only; warned on stderr)")
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (config: string, f: { out?: string; tar?: string; lock?: string; arch: string[]; allowUntrusted?: boolean; json?: boolean }) => {
        if (!f.out) throw new UndistroError("USAGE", "image build needs --out DIR");
        const opts: Parameters<typeof buildImage>[1] = { outDir: f.out, archs: f.arch, allowUntrusted: f.allowUntrusted ?? false };
        if (f.tar) opts.tarFile = f.tar;
        if (f.lock) opts.lockFile = f.lock;
        const r = await buildImage(config, opts);
        if (r.unverified) io.err(`${UNTRUSTED_WARNING}\n`);
        if (f.json) printJson(io, r);
        else {
          for (const a of r.archs) io.out(`${a.arch}: ${a.manifest.digest} (${a.packages.length} packages, layer ${a.layer.size} bytes)\n`);
          io.out(`index ${r.index.digest} → ${r.outDir}${r.tarFile ? ` and ${r.tarFile}` : ""}\n`);
        }
      }),
    );
  image
    .command("lock <config>")
    .description("resolve the config's packages for each architecture and write a lock")
    .option("--out <file>", "lock file (default: CONFIG with .lock.json)")
    .option("--arch <arch>", "architecture (repeatable)", collect, [])
    .option("--allow-untrusted", "lock from a config with no keyring, verifying NO index signature (testing only; warned on stderr)")
    .option("--json", "print the lock to stdout")
    .action(
      action(io, async (config: string, f: { out?: string; arch: string[]; allowUntrusted?: boolean; json?: boolean }) => {
        await prefetchImageRepositories(config, f.arch);
        const lock = lockImage(config, f.arch, { allowUntrusted: f.allowUntrusted ?? false });
        if (lock.keyring.length === 0) io.err(`${UNTRUSTED_WARNING}\n`);
        const out = f.out ?? `${config.replace(/\.ya?ml$/, "")}.lock.json`;
        writeFileAtomic(out, Buffer.from(formatImageLock(lock)));
        if (f.json) printJson(io, lock);
        else
          io.out(
            `wrote ${out}: ${Object.entries(lock.packages)
              .map(([a, p]) => `${a} ${p.length} packages`)
              .join(", ")}\n`,
          );
      }),
    );

  program
    .command("install <packages...>")
    .description("install packages into a root directory as apk would (files, installed database, world, keys)")
    .requiredOption("--root <dir>", "the root to install into")
    .option("-X, --repository <url>", "repository (repeatable)", collect, [])
    .option("--keyring <key.pub>", "trusted public key (repeatable)", collect, [])
    .option("--arch <arch>", "architecture", hostArch())
    .option("--json", "print as JSON")
    .action(
      action(io, async (packages: string[], f: { root: string; repository: string[]; keyring: string[]; arch: string; json?: boolean }) => {
        const r = await installPackages({ root: f.root, repositories: f.repository, keyring: f.keyring, arch: f.arch, world: packages });
        if (f.json) printJson(io, r);
        else {
          for (const [i, p] of r.packages.entries()) io.out(`(${i + 1}/${r.packages.length}) Installing ${p.name} (${p.version})\n`);
          io.out(`OK: ${r.packages.length} packages in ${f.root}\n`);
        }
      }),
    );
}
