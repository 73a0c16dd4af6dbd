import type { Command } from "commander";
import { bumpRecipe, checkUpdates } from "../../update/index.js";
import { loadProjectConfig } from "../../util/index.js";
import { EXIT, type Io, printJson, progress } from "../output.js";
import { action } from "./shared.js";

export function registerUpdate(program: Command, io: Io): void {
  const update = program.command("update").description("upstream release detection and recipe bumps");
  update
    .command("check [path]")
    .description("list recipes (a file or directory; default: undistro.yaml's packages) whose upstream has a newer release")
    .option("--all", "also list packages that are current, skipped or failed")
    .option("--json", "print every result as JSON")
    .action(
      action(io, async (path: string | undefined, f: { all?: boolean; json?: boolean }) => {
        const bar = progress(io, "checking");
        let n = 0;
        const results = await checkUpdates(path ?? loadProjectConfig().packages, { onResult: (r) => bar.tick(++n, n, r.package) });
        bar.done();
        if (f.json) printJson(io, results);
        else {
          for (const r of results) {
            if (r.newer) io.out(`${r.package} ${r.current} → ${r.latest}  (${r.provider} ${r.source})\n`);
            else if (r.error) io.err(`${r.package}: ${r.error}\n`);
            else if (f.all) io.out(`${r.package} ${r.current}: ${r.skipped ?? `current (${r.provider} ${r.source})`}\n`);
            if (r.unserved?.length) io.err(`${r.package}: listed in Debian's Sources but not served by its pool (skipped): ${r.unserved.join(", ")}\n`);
          }
          const newer = results.filter((r) => r.newer).length;
          const failed = results.filter((r) => r.error).length;
          io.err(`${newer} newer, ${results.length - newer - failed} current or skipped, ${failed} failed, of ${results.length} recipes\n`);
        }
        return results.some((r) => r.error) ? EXIT.failed : EXIT.ok;
      }),
    );
  update
    .command("bump <recipe> <version>")
    .description("set a recipe's version (epoch back to 0) and re-pin its sources: downloads and hashes them, keeps comments and formatting")
    .option("--json", "print the result as JSON")
    .action(
      action(io, async (recipe: string, version: string, f: { json?: boolean }) => {
        const r = await bumpRecipe(recipe, version);
        if (f.json) printJson(io, r);
        else {
          io.out(`${r.package}: ${r.from.version}-r${r.from.epoch} → ${r.to.version}-r${r.to.epoch} in ${r.recipe}\n`);
          for (const p of r.pins) io.out(`  ${p.step} ${p.field}: ${p.value}${p.uri ? ` (${p.uri})` : ""}\n`);
        }
      }),
    );
}
