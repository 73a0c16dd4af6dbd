import { homedir } from "node:os";
import { join } from "node:path";

/** undistro's cache root: $XDG_CACHE_HOME/undistro (sources, fetched repositories, build state). */
export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "undistro");
}
