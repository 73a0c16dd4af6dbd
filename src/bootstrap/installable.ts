import { resolve } from "node:path";
import { environmentRepositories } from "../build/index.js";
import { loadRepository, openRepositories, resolveIn } from "../solver/index.js";
import { isUndistroError } from "../util/index.js";

/** A package of a stage's repository that does not install from the repositories it is offered with. */
export interface Uninstallable {
  /** name-version */
  package: string;
  /** What the solver found missing or in conflict, one line per problem. */
  problems: string[];
}

/**
 * Whether each package a stage made installs from the stage's repository and the repositories of
 * the same architecture it takes its roots from: what a user of the stage's output has. A build
 * succeeds whatever its package will depend on, so a stage can end with, say, a build-base whose
 * m4 no stage for its architecture makes (the aarch64 stage did): found here, not by the first
 * image or root that asks for it.
 */
export function checkInstallable(repository: string, arch: string, environmentFrom: readonly string[]): { packages: number; uninstallable: Uninstallable[] } {
  const repositories = environmentRepositories(undefined, [repository, ...environmentFrom], arch);
  if (!repositories.includes(resolve(repository))) return { packages: 0, uninstallable: [] };
  const loaded = repositories.map((url) => loadRepository({ url }, arch));
  const set = openRepositories(loaded);
  const found: Uninstallable[] = [];
  const entries = loaded[repositories.indexOf(resolve(repository))]?.entries ?? [];
  for (const entry of entries) {
    try {
      resolveIn(set, [`${entry.name}=${entry.version}`], arch);
    } catch (err) {
      if (!isUndistroError(err) || !err.code.startsWith("SOLVER_")) throw err;
      // The solver's report, without its first line ("unable to select packages").
      const lines = err.message
        .split("\n")
        .slice(1)
        .map((l) => l.trim())
        .filter(Boolean);
      found.push({ package: `${entry.name}-${entry.version}`, problems: lines.length ? lines : [err.message] });
    }
  }
  found.sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
  return { packages: entries.length, uninstallable: found };
}
