import { Command, CommanderError } from "commander";
import { registerAdvisory } from "./commands/advisory.js";
import { registerApk } from "./commands/apk.js";
import { registerBootstrap } from "./commands/bootstrap.js";
import { registerBuild } from "./commands/build.js";
import { registerCopy } from "./commands/copy.js";
import { registerImage } from "./commands/image.js";
import { registerIndex } from "./commands/index-cmd.js";
import { registerKeygen } from "./commands/keygen.js";
import { registerRebuild } from "./commands/rebuild.js";
import { registerRecipe } from "./commands/recipe.js";
import { registerRegistry } from "./commands/registry.js";
import { ExitCode } from "./commands/shared.js";
import { registerSign } from "./commands/sign.js";
import { registerSolver } from "./commands/solver.js";
import { registerUpdate } from "./commands/update.js";
import { EXIT, type Io, processIo } from "./output.js";

import { VERSION } from "./version.js";

export { VERSION };

export function buildProgram(io: Io): Command {
  const program = new Command("undistro")
    .description("undistro: APK packages, signed indexes and (soon) images, from source, reproducibly")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError()
    .enablePositionalOptions();
  registerKeygen(program, io);
  registerApk(program, io);
  registerIndex(program, io);
  registerSolver(program, io);
  registerRecipe(program, io);
  registerBuild(program, io);
  registerBootstrap(program, io);
  registerImage(program, io);
  registerRegistry(program, io);
  registerCopy(program, io);
  registerSign(program, io);
  registerAdvisory(program, io);
  registerUpdate(program, io);
  registerRebuild(program, io);
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    for (const sub of cmd.commands) sub.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  }
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it in-process. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof ExitCode) return err.code;
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return EXIT.ok;
      return EXIT.usage;
    }
    io.err(`error[INTERNAL]: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.internal;
  }
}
