import { Command, CommanderError } from "commander";
import { ExitCode } from "./commands/shared.js";
import { EXIT, type Io, processIo } from "./output.js";

import { VERSION } from "./version.js";

export { VERSION };

type Register = (program: Command, io: Io) => void;

/**
 * Each command module and the top-level commands it registers. A run loads only the module of the
 * command it names (`undistro install` never loads the registry or the builder); help, a bare
 * `undistro` and an unknown command load them all. test/cli/lazy.test.ts keeps this table true.
 */
export const COMMAND_MODULES: ReadonlyArray<{ commands: readonly string[]; load: () => Promise<Register> }> = [
  { commands: ["keygen"], load: async () => (await import("./commands/keygen.js")).registerKeygen },
  { commands: ["apk"], load: async () => (await import("./commands/apk.js")).registerApk },
  { commands: ["index"], load: async () => (await import("./commands/index-cmd.js")).registerIndex },
  { commands: ["resolve", "lock", "dev"], load: async () => (await import("./commands/solver.js")).registerSolver },
  { commands: ["recipe"], load: async () => (await import("./commands/recipe.js")).registerRecipe },
  { commands: ["build", "source"], load: async () => (await import("./commands/build.js")).registerBuild },
  { commands: ["bootstrap"], load: async () => (await import("./commands/bootstrap.js")).registerBootstrap },
  { commands: ["image", "install"], load: async () => (await import("./commands/image.js")).registerImage },
  { commands: ["registry"], load: async () => (await import("./commands/registry.js")).registerRegistry },
  { commands: ["copy", "push", "pull"], load: async () => (await import("./commands/copy.js")).registerCopy },
  { commands: ["sign", "attest", "verify", "keys"], load: async () => (await import("./commands/sign.js")).registerSign },
  { commands: ["advisory", "vex", "scan"], load: async () => (await import("./commands/advisory.js")).registerAdvisory },
  { commands: ["update"], load: async () => (await import("./commands/update.js")).registerUpdate },
  { commands: ["rebuild"], load: async () => (await import("./commands/rebuild.js")).registerRebuild },
  { commands: ["catalog"], load: async () => (await import("./commands/catalog.js")).registerCatalog },
  { commands: ["rebuild-check"], load: async () => (await import("./commands/rebuild-check.js")).registerRebuildCheck },
];

/** The command modules a run of `argv` needs: none for --version, one for a known command, else all. */
export function modulesFor(argv: readonly string[]): typeof COMMAND_MODULES {
  const first = argv[0];
  if (first === "--version" || first === "-V") return [];
  const one = COMMAND_MODULES.find((m) => first !== undefined && m.commands.includes(first));
  return one ? [one] : COMMAND_MODULES;
}

export async function buildProgram(io: Io, argv: readonly string[] = []): Promise<Command> {
  const program = new Command("undistro")
    .description("undistro: APK packages, signed indexes and images, from source, reproducibly")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError()
    .enablePositionalOptions();
  for (const m of modulesFor(argv)) (await m.load())(program, io);
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    for (const sub of cmd.commands) sub.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  }
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it in-process. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = await buildProgram(io, argv);
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
