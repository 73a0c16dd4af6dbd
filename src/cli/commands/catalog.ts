import type { Command } from "commander";
import { buildCatalog, serveCatalog } from "../../catalog/index.js";
import { loadProjectConfig, UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action } from "./shared.js";

export function registerCatalog(program: Command, io: Io): void {
  const catalog = program.command("catalog").description("the catalogue: web pages for packages, their SBOMs, build records, verdicts and advisories");
  catalog
    .command("build")
    .description("write the catalogue as a static site (any web server or CDN can host it; no network needed to read it)")
    .requiredOption("--out <dir>", "where the site is written")
    .option("--repository <dir>", "package repository with ARCH/APKINDEX.tar.gz (default: undistro.yaml's repository)")
    .option("--advisories <dir>", "advisories (default: undistro.yaml's advisories)")
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (f: { out: string; repository?: string; advisories?: string; json?: boolean }) => {
        const project = loadProjectConfig();
        const advisories = f.advisories ?? project.advisories;
        const r = buildCatalog({ repository: f.repository ?? project.repository, out: f.out, ...(advisories ? { advisories } : {}) });
        if (f.json) printJson(io, r);
        else
          io.out(
            `catalogue: ${r.packages} packages, ${r.pages} pages, ${r.searchEntries} search entries in ${r.out} (open ${r.out}/index.html through a web server)\n`,
          );
      }),
    );
  catalog
    .command("serve")
    .description("serve the catalogue live from the repository (rebuilt when an index changes); Ctrl-C stops it")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8080")
    .option("--repository <dir>", "package repository (default: undistro.yaml's repository)")
    .option("--advisories <dir>", "advisories (default: undistro.yaml's advisories)")
    .action(
      action(io, async (f: { listen: string; repository?: string; advisories?: string }) => {
        const project = loadProjectConfig();
        const at = f.listen.lastIndexOf(":");
        const port = Number(f.listen.slice(at + 1));
        if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new UndistroError("USAGE", `--listen ${f.listen}: give HOST:PORT`);
        const advisories = f.advisories ?? project.advisories;
        const running = await serveCatalog({
          repository: f.repository ?? project.repository,
          host: f.listen.slice(0, at).replace(/^\[|\]$/g, "") || "127.0.0.1",
          port,
          ...(advisories ? { advisories } : {}),
        });
        io.err(`undistro catalogue on ${running.url}\n`);
        await new Promise<void>((done) => {
          for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => running.close().then(done));
        });
      }),
    );
}
