import { createPublicKey } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { ApkKeyring } from "../../src/apk/index.js";
import { REFERENCE } from "../helpers.js";

/** Wolfi's real signing key, as shipped in wolfictl's test data. */
export const WOLFI_KEY = join(REFERENCE, "wolfictl/pkg/dag/testdata/packages/wolfi-signing.rsa.pub");

/**
 * The keys "shipped beside" a reference artefact: every *.rsa.pub in its directory and its parent
 * directories up to the project folder (reference/<project>), in a `keys/` folder beside it, plus
 * Wolfi's key.
 */
export function keysBeside(file: string): ApkKeyring {
  const ring = new ApkKeyring();
  const project = join(REFERENCE, relative(REFERENCE, file).split("/")[0] as string);
  const add = (path: string) => {
    try {
      ring.add(basename(path), createPublicKey(readFileSync(path)));
    } catch {
      // .SIGN.* files named like keys are signatures, not keys.
    }
  };
  const keysDir = join(dirname(file), "keys");
  try {
    for (const name of readdirSync(keysDir)) if (name.endsWith(".rsa.pub")) add(join(keysDir, name));
  } catch {
    // no keys/ folder
  }
  for (let dir = dirname(file); dir.startsWith(project); dir = dirname(dir)) {
    for (const name of readdirSync(dir)) if (name.endsWith(".rsa.pub") && !ring.has(name)) add(join(dir, name));
    if (dir === project) break;
  }
  if (!ring.has("wolfi-signing.rsa.pub")) add(WOLFI_KEY);
  return ring;
}
