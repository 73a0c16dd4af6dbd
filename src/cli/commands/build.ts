import { statSync } from "node:fs";
import type { Command } from "commander";
import { loadSigningKey } from "../../apk/index.js";
import { addToMirror, type BuildEvent, buildGraph, buildRecipe, formatPlanDot, formatPlanText, hostArch, planGraph } from "../../build/index.js";
import { loadCosignPrivateKey } from "../../sign/index.js";
import { UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action, collect, keyPassword } from "./shared.js";

interface BuildFlags {
  out?: string;
  signingKey?: string;
  attestKey?: string;
  sourceMirror: string[];
  arch: string;
  pipelineDir: string[];
  logDir?: string;
  keepWorkspace?: boolean;
  jobs: string;
  plan?: string | boolean;
  json?: boolean;
}

export function registerBuild(program: Command, io: Io): void {
  program
    .command("build <recipe-or-dir>")
    .description("build a melange-format recipe (or a directory of them, in dependency order) in a bubblewrap sandbox into signed .apk files with SBOMs")
    .option("-j, --jobs <n>", "with a directory: recipes built at once", "1")
    .option("--plan [format]", "with a directory: print the build order (text, or dot) and stop")
    .option("--out <dir>", "repository directory (packages land in DIR/<arch>/)")
    .option("--signing-key <key.rsa>", "RSA key to sign packages and the index")
    .option("--attest-key <cosign.key>", "sign each package's SLSA provenance (DSSE) with this cosign key (password in $UNDISTRO_PASSWORD)")
    .option("--source-mirror <dir>", "source mirror consulted before any download (repeatable)", collect, [])
    .option("--arch <arch>", "target architecture", hostArch())
    .option("--pipeline-dir <dir>", "extra pipeline definitions (repeatable; they override built-ins)", collect, [])
    .option("--log-dir <dir>", "keep full build logs here")
    .option("--keep-workspace", "do not delete the build workspace (debugging)")
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (recipe: string, f: BuildFlags) => {
        const isDir = statSync(recipe, { throwIfNoEntry: false })?.isDirectory() ?? false;
        if (f.plan !== undefined) {
          if (!isDir) throw new UndistroError("USAGE", "--plan takes a directory of recipes");
          const plan = planGraph(recipe, f.arch);
          if (f.json) printJson(io, plan);
          else io.out(f.plan === "dot" ? formatPlanDot(plan) : formatPlanText(plan));
          return;
        }
        if (!f.out) throw new UndistroError("USAGE", "build needs --out DIR");
        if (!f.signingKey) throw new UndistroError("USAGE", "build needs --signing-key KEY.rsa", { hint: "make one with `undistro keygen --apk NAME`" });
        const onEvent = (e: BuildEvent) => {
          if (f.json) return;
          if (e.type === "step-start") io.err(`[${e.package}] (${e.index}/${e.total}) ${e.name}\n`);
          else if (e.type === "step-end" && e.ms > 2000) io.err(`[${e.package}]   done in ${(e.ms / 1000).toFixed(1)} s\n`);
          else if (e.type === "source") io.err(`source ${e.uri} (from ${e.from})\n`);
          else if (e.type === "skip") io.err(`skipped: ${e.reason}\n`);
        };
        const opts: Parameters<typeof buildRecipe>[1] = {
          outDir: f.out,
          signingKey: loadSigningKey(f.signingKey),
          arch: f.arch,
          sourceMirrors: f.sourceMirror,
          pipelineDirs: f.pipelineDir,
          keepWorkspace: f.keepWorkspace ?? false,
          onEvent,
        };
        if (f.logDir) opts.logDir = f.logDir;
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
          io.out(`${report.packages.length} packages in ${(report.durationMs / 1000).toFixed(1)} s; log ${report.logFile}\n`);
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
