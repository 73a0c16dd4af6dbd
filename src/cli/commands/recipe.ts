import type { Command } from "commander";
import { lintRecipes } from "../../recipe/index.js";
import { EXIT, type Io, printJson } from "../output.js";
import { action } from "./shared.js";

export function registerRecipe(program: Command, io: Io): void {
  const recipe = program.command("recipe").description("work with melange-format recipes");
  recipe
    .command("lint <paths...>")
    .description("validate recipes (files or directories): counts of valid and invalid, with reasons")
    .option("--json", 'print {"valid": N, "invalid": N, "results": [{"file", "valid", "errors"}]}')
    .action(
      action(io, async (paths: string[], f: { json?: boolean }) => {
        const report = lintRecipes(paths);
        if (f.json) printJson(io, report);
        else {
          for (const r of report.results) {
            if (!r.valid) io.out(`${r.file}: invalid\n${r.errors.map((e) => `  ${e}\n`).join("")}`);
            else if (r.warnings.length) io.out(`${r.file}: valid, with warnings\n${r.warnings.map((e) => `  ${e}\n`).join("")}`);
          }
          io.out(`${report.valid} valid, ${report.invalid} invalid\n`);
        }
        return report.invalid === 0 ? EXIT.ok : EXIT.failed;
      }),
    );
}
