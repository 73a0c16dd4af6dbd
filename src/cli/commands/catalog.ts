import type { Command } from "commander";
import { buildCatalog } from "../../catalog/index.js";
import { loadProjectConfig } from "../../util/index.js";
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
}
