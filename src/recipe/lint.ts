import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fsError, UndistroError } from "../util/index.js";
import { loadRecipe, RecipeInvalidError } from "./load.js";

export interface LintResult {
  file: string;
  valid: boolean;
  errors: string[];
  warnings: string[];
}

export interface LintReport {
  valid: number;
  invalid: number;
  results: LintResult[];
}

/** Recipe files under `path`: *.yaml / *.yml, skipping pipeline definitions (`pipelines/`) and dot-directories. */
export function findRecipes(path: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    throw fsError(err, "read", path);
  }
  if (st.isFile()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".")) continue;
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) {
        if (name !== "pipelines") walk(p);
      } else if (/\.ya?ml$/.test(name)) out.push(p);
    }
  };
  walk(path);
  return out;
}

export function lintRecipes(paths: string[]): LintReport {
  const results: LintResult[] = [];
  for (const p of paths) {
    for (const file of findRecipes(p)) {
      try {
        const r = loadRecipe(file);
        results.push({ file, valid: true, errors: [], warnings: r.warnings.map((x) => `${x.path}${x.line ? ` (line ${x.line})` : ""}: ${x.message}`) });
      } catch (err) {
        if (err instanceof RecipeInvalidError) {
          results.push({ file, valid: false, errors: err.problems.map((x) => `${x.path}${x.line ? ` (line ${x.line})` : ""}: ${x.message}`), warnings: [] });
        } else if (err instanceof UndistroError) {
          results.push({ file, valid: false, errors: [err.message.replace(`${file}`, "").replace(/^[:\s]+/, "")], warnings: [] });
        } else throw err;
      }
    }
  }
  const valid = results.filter((r) => r.valid).length;
  return { valid, invalid: results.length - valid, results };
}
