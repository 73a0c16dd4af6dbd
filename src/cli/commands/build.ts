import { existsSync, statSync } from "node:fs";
import type { Command } from "commander";
import { loadSigningKey } from "../../apk/index.js";
import { addToMirror, type BuildEvent, buildGraph, buildRecipe, formatPlanDot, formatPlanText, hostArch, planGraph } from "../../build/index.js";
import { loadCosignPrivateKey } from "../../sign/index.js";
import { loadProjectConfig, UndistroError } from "../../util/index.js";
import { counted, duration, type Io, printJson, stillRunning } from "../output.js";
import { action, collect, keyPassword, parseDuration } from "./shared.js";

interface BuildFlags {
  out?: string;
  signingKey?: string;
  attestKey?: string;
  sourceMirror: string[];
  arch: string;
  pipelineDir: string[];
  logDir?: string;
  keepWorkspace?: boolean;
  keepFailedWorkspace?: boolean;
  resume?: string;
  stepTimeout: string;
  hermetic?: boolean;
  repositoryAppend: string[];
  jobs: string;
  plan?: string | boolean;
  json?: boolean;
}

export function registerBuild(program: Command, io: Io): void {
  program
    .command("build [recipe-or-dir]")
    .description("build a melange-format recipe (or a directory of them, in dependency order) in a bubblewrap sandbox into signed .apk files with SBOMs")
    .option("-j, --jobs <n>", "with a directory: recipes built at once", "1")
    .option("--plan [format]", "with a directory: print the build order (text, or dot) and stop")
    .option("--out <dir>", "repository directory (packages land in DIR/<arch>/); default: undistro.yaml's repository")
    .option("--signing-key <key.rsa>", "RSA key to sign packages and the index; default: undistro.yaml's signing-key")
    .option("--attest-key <cosign.key>", "sign each package's SLSA provenance (DSSE) with this cosign key (password in $UNDISTRO_PASSWORD)")
    .option("--source-mirror <dir>", "source mirror consulted before any download (repeatable); default: undistro.yaml's source-mirror", collect, [])
    .option("--arch <arch>", "target architecture", hostArch())
    .option("--pipeline-dir <dir>", "extra pipeline definitions (repeatable; they override built-ins)", collect, [])
    .option("--log-dir <dir>", "keep full build logs here")
    .option("--keep-workspace", "do not delete the build workspace (debugging)")
    .option("--keep-failed-workspace", "keep the workspace of a build that fails (the error names it)")
    .option(
      "--resume <dir>",
      "a failed build's kept directory (the error's hint names it): run again from the failed step; the steps before it are skipped only if unchanged, in the same root",
    )
    .option("--step-timeout <duration>", "kill a build step that runs longer than this (30m, 6h, …)", "6h")
    .option("--hermetic", "run every step in a root made only of the recipe's environment packages from the repository (nothing of the host)")
    .option("--repository-append <dir>", "another repository for environment packages, after --out's (repeatable; as melange's)", collect, [])
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (recipeArg: string | undefined, f: BuildFlags) => {
        const project = loadProjectConfig();
        const recipe = recipeArg ?? project.packages;
        const isDir = statSync(recipe, { throwIfNoEntry: false })?.isDirectory() ?? false;
        if (f.plan !== undefined) {
          if (!isDir) throw new UndistroError("USAGE", "--plan takes a directory of recipes");
          const plan = planGraph(recipe, f.arch);
          if (f.json) printJson(io, plan);
          else io.out(f.plan === "dot" ? formatPlanDot(plan) : formatPlanText(plan));
          return;
        }
        const out = f.out ?? project.repository;
        const signingKey = f.signingKey ?? (project.signingKey && existsSync(project.signingKey) ? project.signingKey : undefined);
        if (!signingKey) {
          throw new UndistroError("USAGE", "build needs a signing key: --signing-key KEY.rsa, or signing-key in undistro.yaml", {
            hint: project.signingKey
              ? `${project.signingKey} (from ${project.file}) does not exist: make it with \`undistro keygen --apk ${project.signingKey.replace(/\.rsa$/, "")}\``
              : "make one with `undistro keygen --apk NAME`",
          });
        }
        const onEvent = (e: BuildEvent) => {
          if (f.json) return;
          if (e.type === "step-start") io.err(`[${e.package}] (${e.index}/${e.total}) ${e.name}\n`);
          else if (e.type === "step-progress") io.err(stillRunning(`[${e.package}]`, e.ms, e.lastLine));
          else if (e.type === "step-end" && e.ms > 2000) io.err(`[${e.package}]   done in ${duration(e.ms)}\n`);
          else if (e.type === "source") io.err(`source ${e.uri} (from ${e.from})\n`);
          else if (e.type === "skip") io.err(`skipped: ${e.reason}\n`);
          else if (e.type === "stale") io.err(`building ${e.recipe}: ${e.reason}\n`);
          else if (e.type === "resume")
            io.err(`resumed from ${e.from}: ${counted(e.skipped, "step")} before it ran in the failed build (${e.dir}); for a release, build from the start\n`);
        };
        const opts: Parameters<typeof buildRecipe>[1] = {
          outDir: out,
          signingKey: loadSigningKey(signingKey),
          arch: f.arch,
          sourceMirrors: f.sourceMirror.length ? f.sourceMirror : project.sourceMirrors,
          distro: project.distro,
          ...(project.cacheDir ? { cacheDir: project.cacheDir } : {}),
          pipelineDirs: f.pipelineDir,
          keepWorkspace: f.keepWorkspace ?? false,
          keepFailedWorkspace: f.keepFailedWorkspace ?? false,
          stepTimeoutMs: parseDuration(f.stepTimeout, "--step-timeout"),
          hermetic: f.hermetic ?? false,
          repositoryAppend: f.repositoryAppend,
          onEvent,
        };
        if (f.logDir) opts.logDir = f.logDir;
        if (f.resume) {
          if (isDir) throw new UndistroError("USAGE", "--resume takes the one recipe the failed build was of, not a directory");
          opts.resume = f.resume;
        }
        if (f.attestKey) opts.attestKey = loadCosignPrivateKey(f.attestKey, await keyPassword(io));
        if (isDir) {
          const jobs = Number(f.jobs);
          if (!Number.isInteger(jobs) || jobs < 1) throw new UndistroError("USAGE", `--jobs ${f.jobs}: a whole number ≥ 1`);
          const g = await buildGraph(recipe, { ...opts, jobs });
          if (f.json) printJson(io, g);
          else {
            for (const r of g.built) for (const p of r.packages) io.out(`built ${p.file}\n`);
            io.out(`${g.built.length} recipes built, ${g.skipped.length} unchanged (${g.skipped.join(", ") || "none"})\n`);
          }
          return;
        }
        const report = await buildRecipe(recipe, opts);
        if (f.json) printJson(io, report);
        else {
          for (const p of report.packages)
            io.out(`built ${p.file} (${p.size} bytes, ${p.checksum})\n  depends: ${p.depends.join(" ") || "-"}\n  provides: ${p.provides.join(" ") || "-"}\n`);
          io.out(`${counted(report.packages.length, "package")} in ${(report.durationMs / 1000).toFixed(1)} s; log ${report.logFile}\n`);
        }
      }),
    );

  const source = program.command("source").description("source mirrors");
  source
    .command("add <files...>")
    .description("add files to a source mirror, stored by sha256 (recipes find them by their expected-sha256)")
    .requiredOption("--mirror <dir>", "mirror directory")
    .option("--json", "print as JSON")
    .action(
      action(io, async (files: string[], f: { mirror: string; json?: boolean }) => {
        const added = addToMirror(files, f.mirror);
        if (f.json) printJson(io, added);
        else for (const a of added) io.out(`${a.sha256}  ${a.file}\n`);
      }),
    );
}
