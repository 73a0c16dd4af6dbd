import type { Command } from "commander";
import { loadOsvDatabase } from "../../advisory/index.js";
import { buildCatalog, type CatalogBuildOptions, readUpdates, serveCatalog } from "../../catalog/index.js";
import { Keyring } from "../../sign/index.js";
import { loadProjectConfig, UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action, collect } from "./shared.js";

interface SourceFlags {
  repository?: string;
  repositoryAppend: string[];
  advisories?: string;
  image: string[];
  keyring: string[];
  db?: string;
  updates?: string;
}

/** What both subcommands read: the repository, the advisories, the images, their keys and the OSV records. */
function sources(f: SourceFlags, io: Io): Omit<CatalogBuildOptions, "out"> {
  const project = loadProjectConfig();
  const advisories = f.advisories ?? project.advisories;
  const imageKeys = f.keyring.length ? Keyring.load(f.keyring).imageKeys() : [];
  if (f.image.length && !imageKeys.length)
    io.err("catalog: WARNING: no trusted image key (--keyring): the image pages say their signatures were NOT checked\n");
  return {
    repository: f.repository ?? project.repository,
    ...(f.repositoryAppend.length ? { repositoryAppend: f.repositoryAppend } : {}),
    ...(advisories ? { advisories } : {}),
    images: f.image,
    ...(imageKeys.length ? { imageKeys } : {}),
    ...(f.db ? { osv: loadOsvDatabase(f.db) } : {}),
    ...(f.updates ? { updates: readUpdates(f.updates) } : {}),
  };
}

function sourceOptions(cmd: Command): Command {
  return cmd
    .option("--repository <dir>", "package repository with ARCH/APKINDEX.tar.gz (default: undistro.yaml's repository)")
    .option(
      "--repository-append <dir>",
      "another repository shown after it, e.g. a bootstrap stage's (repeatable; a package in both is the first's)",
      collect,
      [],
    )
    .option("--advisories <dir>", "advisories (default: undistro.yaml's advisories)")
    .option("--image <[name=]oci:dir>", "an image layout to show, every tagged version in it (repeatable)", collect, [])
    .option("--keyring <path>", "trusted cosign public keys the image pages verify signatures and attestations with (repeatable)", collect, [])
    .option("--db <osv-dir>", "OSV records: the image pages' vulnerability summaries, with the advisories applied")
    .option("--updates <file>", "what `undistro update check --json` printed: each package's newest upstream release beside its version");
}

export function registerCatalog(program: Command, io: Io): void {
  const catalog = program.command("catalog").description("the catalogue: web pages for packages, their SBOMs, build records, verdicts and advisories");
  sourceOptions(
    catalog
      .command("build")
      .description("write the catalogue as a static site (any web server or CDN can host it; no network needed to read it)")
      .requiredOption("--out <dir>", "where the site is written"),
  )
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (f: SourceFlags & { out: string; json?: boolean }) => {
        const r = await buildCatalog({ ...sources(f, io), out: f.out });
        if (f.json) printJson(io, r);
        else
          io.out(
            `catalogue: ${r.packages} packages, ${r.images} images, ${r.pages} pages, ${r.searchEntries} search entries in ${r.out} (open ${r.out}/index.html through a web server)\n`,
          );
      }),
    );
  sourceOptions(
    catalog
      .command("serve")
      .description("serve the catalogue live from the repository and image layouts (rebuilt when an index changes); Ctrl-C stops it")
      .option("--listen <host:port>", "address to listen on", "127.0.0.1:8080"),
  ).action(
    action(io, async (f: SourceFlags & { listen: string }) => {
      const at = f.listen.lastIndexOf(":");
      const port = Number(f.listen.slice(at + 1));
      if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new UndistroError("USAGE", `--listen ${f.listen}: give HOST:PORT`);
      const running = await serveCatalog({
        ...sources(f, io),
        host: f.listen.slice(0, at).replace(/^\[|\]$/g, "") || "127.0.0.1",
        port,
      });
      io.err(`undistro catalogue on ${running.url}\n`);
      await new Promise<void>((done) => {
        for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => running.close().then(done));
      });
    }),
  );
}
