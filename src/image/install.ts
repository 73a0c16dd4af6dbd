/**
 * `undistro install`: what `apk add --root DIR --initdb` does, with undistro's solver and checks:
 * the root gets the packages' files, apk's installed database, world, repositories and keys.
 */
import { ApkKeyring, END_OF_ARCHIVE, readPackage, verifyPackage } from "../apk/index.js";
import { fetchPackages, fetchRepositoryIndexes, loadRepository, localPackagePath, openRepositories, type ResolvedPackage, resolveIn } from "../solver/index.js";
import { UndistroError } from "../util/index.js";
import { RootFs } from "./rootfs.js";
import { writeRootFs } from "./write-root.js";

export interface InstallOptions {
  root: string;
  repositories: string[];
  keyring: string[];
  arch: string;
  world: string[];
}

export async function installPackages(opts: InstallOptions): Promise<{ root: string; packages: ResolvedPackage[] }> {
  if (opts.keyring.length === 0) throw new UndistroError("USAGE", "install needs at least one --keyring KEY.pub: packages are always verified");
  const ring = ApkKeyring.fromFiles(opts.keyring);
  const keys = ring.files();
  await fetchRepositoryIndexes(opts.repositories, [opts.arch]);
  const repos = opts.repositories.map((url) => loadRepository({ url }, opts.arch, ring));
  const res = resolveIn(openRepositories(repos), opts.world, opts.arch);
  await fetchPackages(res.packages);
  const fs = new RootFs();
  const pkgs = res.packages.map((r) => {
    const pkg = readPackage(localPackagePath(r));
    if (pkg.checksum !== r.checksum) throw new UndistroError("INSTALL_PACKAGE_MISMATCH", `${r.url}: checksum ${pkg.checksum}, index says ${r.checksum}`);
    verifyPackage(pkg, ring);
    return pkg;
  });
  for (const pkg of pkgs) {
    const replaces = new Set(pkg.info.replaces.map((r) => r.split(/[<>=~]/)[0]));
    fs.installPackage(pkg, (owner) => replaces.has(owner) || pkgs.find((p) => p.info.name === owner)?.info.origin === pkg.info.origin);
  }
  const put = (path: string, content: string | Buffer, mode = 0o644) =>
    fs.put({ path, type: "file", mode, uid: 0, gid: 0, content: Buffer.isBuffer(content) ? content : Buffer.from(content) });
  for (const k of keys) put(`etc/apk/keys/${k.name}`, k.pem);
  put("etc/apk/arch", `${opts.arch}\n`);
  put("etc/apk/repositories", opts.repositories.map((r) => `${r}\n`).join(""));
  put(
    "etc/apk/world",
    [...new Set(opts.world)]
      .sort()
      .map((w) => `${w}\n`)
      .join(""),
  );
  put("usr/lib/apk/db/installed", fs.installedDatabase());
  put("usr/lib/apk/db/triggers", "");
  put("usr/lib/apk/db/scripts.tar", END_OF_ARCHIVE);
  put("usr/lib/apk/db/lock", "", 0o600);
  fs.put({ path: "lib/apk", type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: "../usr/lib/apk" });
  writeRootFs(fs, opts.root);
  return { root: opts.root, packages: res.packages };
}
