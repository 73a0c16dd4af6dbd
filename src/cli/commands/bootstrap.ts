import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { loadSigningKey } from "../../apk/index.js";
import {
  type BootstrapEvent,
  type BootstrapReport,
  type Comparison,
  loadStages,
  planBootstrap,
  readStageReport,
  runBootstrap,
  type Stage,
  type StagePlan,
  selectStages,
  stageRepository,
} from "../../bootstrap/index.js";
import { loadRecipe } from "../../recipe/index.js";
import { loadProjectConfig, UndistroError } from "../../util/index.js";
import { counted, duration, EXIT, type Io, printJson, stillRunning } from "../output.js";
import { action, collect, parseDuration } from "./shared.js";

interface BootstrapFlags {
  stagesFile?: string;
  stages: string;
  dryRun?: boolean;
  out?: string;
  signingKey?: string;
  sourceMirror: string[];
  logDir?: string;
  stepTimeout: string;
  keepFailedWorkspace?: boolean;
  jobs: string;
  list?: boolean;
  json?: boolean;
  quiet?: boolean;
}

function progress(io: Io): (e: BootstrapEvent) => void {
  return (e) => {
    if (e.type === "stage") io.err(`== ${e.stage} (${e.index}/${e.total}): ${e.description} — ${counted(e.recipes, "recipe")}\n`);
    else if (e.type === "recipe")
      io.err(
        `[${e.stage}] ${e.recipe} (${e.index}/${e.total})${e.fresh ? ": unchanged, kept" : `: ${e.why ?? "building"}`}${e.earlierMs ? `; took ${duration(e.earlierMs)} before` : ""}\n`,
      );
    else if (e.type === "recipe-done") io.err(`[${e.stage}] ${e.recipe}: ${counted(e.packages, "package")} in ${duration(e.ms)}\n`);
    else if (e.type === "build" && e.event.type === "step-start")
      io.err(`[${e.stage}] [${e.event.package}] (${e.event.index}/${e.event.total}) ${e.event.name}\n`);
    else if (e.type === "build" && e.event.type === "step-progress") io.err(stillRunning(`[${e.stage}] [${e.event.package}]`, e.event.ms, e.event.lastLine));
    else if (e.type === "build" && e.event.type === "step-end" && e.event.ms > 10_000)
      io.err(`[${e.stage}] [${e.event.package}]   done in ${duration(e.event.ms)}\n`);
    else if (e.type === "installable")
      io.err(
        e.uninstallable.length
          ? `[${e.stage}] NOT INSTALLABLE from its repositories: ${e.uninstallable.map((u) => u.package).join(", ")}\n`
          : `[${e.stage}] all ${counted(e.packages, "package")} install from the stage's repositories\n`,
      );
    else if (e.type === "compare")
      io.err(`[${e.stage}] against ${e.against}: ${e.identical} identical${e.different.length ? `, different: ${e.different.join(", ")}` : ""}\n`);
  };
}

/** The error for stages whose packages differ from (or are missing in) the stage they are compared with. */
function notReproduced(report: BootstrapReport): UndistroError | undefined {
  const failed = report.stages.filter((s) => s.comparison && (s.comparison.different.length || s.comparison.missing.length));
  if (!failed.length) return undefined;
  const what = (c: Comparison) => [...c.different.map((d) => d.file), ...c.missing].join(", ");
  return new UndistroError(
    "BOOTSTRAP_NOT_REPRODUCED",
    failed.map((s) => `${s.name} differs from ${s.comparison?.against}: ${s.comparison ? what(s.comparison) : ""}`).join("; "),
    { hint: "the diffoscope reports beside the stage's logs show where; a difference means the toolchain does not reproduce itself" },
  );
}

/** The error for stages whose packages do not install from what the stage offers (its repository, its architecture's earlier ones). */
function notInstallable(report: BootstrapReport): UndistroError | undefined {
  const failed = report.stages.filter((s) => s.uninstallable.length);
  if (!failed.length) return undefined;
  return new UndistroError(
    "BOOTSTRAP_NOT_INSTALLABLE",
    failed.map((s) => `${s.name}: ${s.uninstallable.map((u) => `${u.package} (${u.problems.join("; ")})`).join(", ")}`).join("; "),
    { hint: "add the recipe that makes what is missing to the stage (or to a stage of the same architecture it takes its roots from)" },
  );
}

/** `--dry-run`: per stage, what would be built and why, and what is kept. */
function printPlan(io: Io, plan: StagePlan[], json: boolean): void {
  if (json) {
    printJson(io, plan);
    return;
  }
  for (const s of plan) {
    const after = s.after.length
      ? `; its roots come from ${s.after.join(", ")}, which ${s.after.length === 1 ? "builds" : "build"} first: more may build then`
      : "";
    io.out(`${s.stage}: ${s.build.length} of ${s.build.length + s.kept.length} to build${after}\n`);
    for (const b of s.build) io.out(`  ${b.recipe}: ${b.why}${b.lastMs !== undefined ? ` (took ${duration(b.lastMs)} before)` : ""}\n`);
    if (s.kept.length) io.out(`  kept: ${s.kept.join(", ")}\n`);
  }
}

/** The stages and their recipes, with what each recipe's latest build in that stage took under OUT. */
function listStages(io: Io, stages: Stage[], out: string, json: boolean): void {
  const listed = stages.map((s) => {
    const times = readStageReport(stageRepository(out, s.name))?.buildTimes ?? {};
    return {
      ...s,
      recipes: s.recipes.map((file) => {
        const lastMs = times[loadRecipe(file).package.name];
        return { file, ...(lastMs !== undefined ? { lastMs } : {}) };
      }),
    };
  });
  if (json) {
    printJson(io, listed);
    return;
  }
  for (const s of listed) {
    io.out(`${s.name}${s.hermetic ? " (hermetic)" : ""}: ${s.description}\n`);
    for (const r of s.recipes) io.out(`  ${r.file}${r.lastMs !== undefined ? `  (${duration(r.lastMs)} last time)` : ""}\n`);
  }
}

export function registerBootstrap(program: Command, io: Io): void {
  program
    .command("bootstrap")
    .description(
      "from the host's compiler to a self-hosted distro: the stages of distro/bootstrap/stages.yaml (cross toolchain, native toolchain, hermetic rebuild, fixpoint)",
    )
    .option("--stages <list>", "which stages: all, a name, 0-2, stage0,stage1", "all")
    .option("--stages-file <file>", "the stages file; default: distro/bootstrap/stages.yaml beside undistro.yaml")
    .option("--out <dir>", "stage repositories go to DIR/<stage>/<arch>/; default: out/bootstrap beside undistro.yaml")
    .option("--signing-key <key.rsa>", "RSA key to sign packages and indexes; default: undistro.yaml's signing-key")
    .option("--source-mirror <dir>", "source mirror (repeatable); default: undistro.yaml's", collect, [])
    .option("--log-dir <dir>", "build logs (and diffoscope reports); default: DIR/logs")
    .option("--step-timeout <duration>", "kill a build step that runs longer than this", "6h")
    .option("-j, --jobs <n>", "recipes built at once in a stage whose recipes do not build from each other (the longest first, by earlier runs' times)", "1")
    .option("--keep-failed-workspace", "keep the workspace of a recipe whose build fails (the error names it; a GCC tree is gigabytes)")
    .option("--list", "print the stages and their recipes, build nothing")
    .option("--dry-run", "print what a run would build now, and why (the recipe, its root package by package, …), build nothing")
    .option("--json", "print the report as JSON on stdout (progress still goes to stderr)")
    .option("--quiet", "no progress on stderr")
    .action(
      action(io, async (f: BootstrapFlags) => {
        const project = loadProjectConfig();
        const stagesFile = f.stagesFile ?? join(project.dir, "distro/bootstrap/stages.yaml");
        const stages = selectStages(loadStages(stagesFile), f.stages);
        const out = f.out ?? join(project.dir, "out/bootstrap");
        if (f.list) {
          listStages(io, stages, out, f.json === true);
          return;
        }
        if (f.dryRun) {
          printPlan(io, planBootstrap({ out, stages, ...(project.cacheDir ? { cacheDir: project.cacheDir } : {}) }), f.json === true);
          return;
        }
        const signingKey = f.signingKey ?? (project.signingKey && existsSync(project.signingKey) ? project.signingKey : undefined);
        if (!signingKey) throw new UndistroError("USAGE", "bootstrap needs a signing key: --signing-key KEY.rsa, or signing-key in undistro.yaml");
        const jobs = Number(f.jobs);
        if (!Number.isInteger(jobs) || jobs < 1) throw new UndistroError("USAGE", `--jobs ${f.jobs}: a whole number ≥ 1`);
        const report = await runBootstrap({
          out,
          jobs,
          stages,
          signingKey: loadSigningKey(signingKey),
          sourceMirrors: f.sourceMirror.length ? f.sourceMirror : project.sourceMirrors,
          distro: project.distro,
          ...(project.cacheDir ? { cacheDir: project.cacheDir } : {}),
          logDir: f.logDir ?? join(out, "logs"),
          stepTimeoutMs: parseDuration(f.stepTimeout, "--step-timeout"),
          keepFailedWorkspace: f.keepFailedWorkspace ?? false,
          // Progress goes to stderr whatever stdout carries: a bootstrap runs for hours.
          ...(f.quiet ? {} : { onEvent: progress(io) }),
        });
        const failure = notReproduced(report) ?? notInstallable(report);
        if (f.json) {
          // One JSON document: the report, with the failure in it when the fixpoint does not hold or a package does not install.
          printJson(io, failure ? { ...report, error: failure.toJSON() } : report);
          return failure ? EXIT.failed : EXIT.ok;
        }
        for (const s of report.stages) {
          io.out(`${s.name}: ${s.built.length} built, ${s.fresh.length} unchanged, ${duration(s.ms)} → ${s.repository}\n`);
          for (const file of s.superseded) io.out(`  removed (superseded)  ${file}\n`);
          for (const u of s.uninstallable) io.out(`  NOT INSTALLABLE  ${u.package}: ${u.problems.join("; ")}\n`);
          if (!s.comparison) continue;
          for (const p of s.comparison.identical) io.out(`  identical  ${p.sha256}  ${p.file}\n`);
          for (const p of s.comparison.different) io.out(`  DIFFERENT  ${p.sha256} ≠ ${p.againstSha256}  ${p.file}${p.report ? ` (${p.report})` : ""}\n`);
          for (const p of s.comparison.missing) io.out(`  MISSING in ${s.comparison.against}  ${p}\n`);
        }
        if (failure) throw failure;
        return EXIT.ok;
      }),
    );
}
