/**
 * `undistro install` against a floor measured in the same run on the same packages: Debian's `tar`
 * extracting each package and `openssl` checking each package's signature (one process of each per
 * package, as a shell script doing the job by hand would). Two sets: a synthetic 300-package
 * repository, and the base set the main job built (out/repo) when it is there.
 * Printed as ratios, so the figure means the same on any machine.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptyPackageInfo, generateApkKey, indexDirectory, loadSigningKey, parseIndexArchive, splitGzipMembers, writePackage } from "../src/apk/index.js";

function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], ...(cwd ? { cwd } : {}) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr?.toString().trim()}`);
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** 300 packages of 12 files each (2–6 kB), a dependency chain every tenth package. */
export async function syntheticRepo(dir: string, keyPath: string, count = 300): Promise<void> {
  const arch = join(dir, "x86_64");
  mkdirSync(arch, { recursive: true });
  const key = loadSigningKey(keyPath);
  for (let i = 0; i < count; i++) {
    const name = `pkg${String(i).padStart(3, "0")}`;
    const stage = join(dir, "stage", name);
    mkdirSync(join(stage, "usr/share", name), { recursive: true });
    for (let f = 0; f < 12; f++) writeFileSync(join(stage, "usr/share", name, `file${f}`), `${name} ${f} `.repeat(200 + ((i * 7 + f * 13) % 400)));
    const info = emptyPackageInfo(name, "1.0-r0", "x86_64");
    if (i % 10 === 9) info.depends = [`pkg${String(i - 1).padStart(3, "0")}`];
    await writePackage({ sourceDir: stage, info, signingKey: key, sourceDateEpoch: 0 }, join(arch, `${name}-1.0-r0.apk`));
  }
  indexDirectory(arch, { signingKey: key, sourceDateEpoch: 0 });
}

/** The floor: per package, `openssl dgst -verify` of its control part (the digest its .SIGN name says) and `tar -x` of the whole file. */
function floorMs(repoArch: string, files: string[], pubKey: string, work: string): number {
  const parts = join(work, "parts");
  mkdirSync(parts, { recursive: true });
  // Splitting the gzip members is preparation, not part of the timed floor.
  const prepared = files.map((f, i) => {
    const members = splitGzipMembers(readFileSync(join(repoArch, f)), (i) => `${f} member ${i}`);
    const sig = join(parts, `${i}.sig`);
    const control = join(parts, `${i}.control`);
    const signature = members[0];
    const controlMember = members[1];
    if (!signature || !controlMember) throw new Error(`${f}: not a signed apk`);
    const names = spawnSync("tar", ["-tz"], { input: signature.raw }).stdout.toString();
    const digest = names.startsWith(".SIGN.RSA256.") ? "-sha256" : names.startsWith(".SIGN.RSA512.") ? "-sha512" : "-sha1";
    const sigTar = spawnSync("tar", ["-xzO", "--wildcards", ".SIGN.*"], { input: signature.raw });
    writeFileSync(sig, sigTar.stdout);
    writeFileSync(control, controlMember.raw);
    return { file: join(repoArch, f), sig, control, digest };
  });
  const root = join(work, "floor-root");
  mkdirSync(root, { recursive: true });
  const t0 = process.hrtime.bigint();
  for (const p of prepared) {
    run("openssl", ["dgst", p.digest, "-verify", pubKey, "-signature", p.sig, p.control]);
    run("tar", ["-xzf", p.file, "--ignore-zeros", "--exclude=.SIGN.*", "--exclude=.PKGINFO", "-C", root]);
  }
  return ms(t0);
}

function installMs(bin: string, repo: string, pubKey: string, packages: string[], work: string): number {
  const root = join(work, "undistro-root");
  rmSync(root, { recursive: true, force: true });
  const t0 = process.hrtime.bigint();
  run(process.execPath, [bin, "install", "--root", root, "-X", repo, "--keyring", pubKey, ...packages]);
  return ms(t0);
}

function measure(label: string, bin: string, repo: string, pubKey: string, work: string): void {
  const arch = join(repo, "x86_64");
  const files = readdirSync(arch)
    .filter((f) => f.endsWith(".apk"))
    .sort();
  const names = parseIndexArchive(readFileSync(join(arch, "APKINDEX.tar.gz")), join(arch, "APKINDEX.tar.gz")).entries.map((e) => e.name);
  const floors: number[] = [];
  const installs: number[] = [];
  for (let i = 0; i < 3; i++) {
    rmSync(join(work, "floor-root"), { recursive: true, force: true });
    floors.push(floorMs(arch, files, pubKey, work));
    installs.push(installMs(bin, repo, pubKey, names, work));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] as number;
  const [f, u] = [median(floors), median(installs)];
  console.log(
    `install ${label} (${files.length} packages, median of 3): undistro install ${u.toFixed(0)} ms; floor (tar + openssl per package) ${f.toFixed(0)} ms; install/floor ${(u / f).toFixed(2)}×`,
  );
}

export async function benchInstall(repoRoot: string, dir: string): Promise<void> {
  const bin = join(repoRoot, "bin/undistro");
  const keyBase = join(dir, "install-key");
  generateApkKey(keyBase, { bits: 2048 });
  const pub = `${keyBase}.rsa.pub`;
  const synthetic = join(dir, "install-repo");
  await syntheticRepo(synthetic, `${keyBase}.rsa`);
  measure("synthetic set", bin, synthetic, pub, join(dir, "install-work"));
  const base = join(repoRoot, "out/repo");
  const basePub = join(repoRoot, "out/keys/undistro.rsa.pub");
  if (existsSync(join(base, "x86_64/APKINDEX.tar.gz")) && existsSync(basePub)) measure("base set (out/repo)", bin, base, basePub, join(dir, "install-base"));
  else console.log("install base set: skipped (no out/repo: run `npm run main-job` first)");
}
