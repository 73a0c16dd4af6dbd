/**
 * CLI start-up against its floor, measured in the same run: `node -e 0` (the runtime alone), then
 * `undistro --version` (no command module loaded) and `undistro keygen --help` (one command module).
 * Printed as ratios so the figure means the same on any machine.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

function medianMs(args: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: "ignore" });
    if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

export function benchStartup(repoRoot: string, runs = 15): void {
  const bin = join(repoRoot, "bin/undistro");
  const floor = medianMs(["-e", "0"], runs);
  const version = medianMs([bin, "--version"], runs);
  const keygen = medianMs([bin, "keygen", "--help"], runs);
  const help = medianMs([bin, "--help"], runs);
  const ratio = (x: number) => (x / floor).toFixed(2);
  console.log(
    `startup (median of ${runs}): node -e 0 ${floor.toFixed(0)} ms; undistro --version ${version.toFixed(0)} ms (${ratio(version)}×); keygen --help ${keygen.toFixed(0)} ms (${ratio(keygen)}×); --help, every command ${help.toFixed(0)} ms (${ratio(help)}×)`,
  );
}
