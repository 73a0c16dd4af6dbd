/**
 * Property test: on a seeded random 1,000-package repository, every set the solver picks is checked
 * by an independent checker written here from the APK rules (not from the solver's code).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type IndexEntry, parseDependency, versionSatisfies } from "../../src/apk/index.js";
import { type LoadedRepository, type ResolvedPackage, resolveWorld, UnsatisfiableError } from "../../src/solver/index.js";
import { seededRandom } from "../../src/util/index.js";

export function randomRepository(seed: number, names: number, packagesWanted: number): IndexEntry[] {
  const rnd = seededRandom(seed);
  const entries: IndexEntry[] = [];
  let serial = 0;
  const versionsOf = new Map<number, string[]>();
  for (let n = 0; n < names; n++) versionsOf.set(n, []);
  while (entries.length < packagesWanted) {
    // Every name gets a first package before names repeat, so most worlds can be met.
    const n = entries.length < names ? entries.length : Math.floor(rnd() * names);
    const existing = versionsOf.get(n) as string[];
    const version = `${1 + existing.length}.${Math.floor(rnd() * 10)}-r${Math.floor(rnd() * 3)}`;
    existing.push(version);
    const depends: string[] = [];
    const nd = Math.floor(rnd() * 4);
    for (let i = 0; i < nd; i++) {
      // Mostly towards lower-numbered names (libraries below applications), a few anywhere (cycles).
      const target = rnd() < 0.03 ? Math.floor(rnd() * names) : Math.floor(rnd() * n);
      if (target === n) continue;
      const r = rnd();
      if (r < 0.6) depends.push(`pkg${target}`);
      else if (r < 0.72) depends.push(`pkg${target}>=${1 + Math.floor(rnd() * 2)}`);
      else if (r < 0.82) depends.push(`pkg${target}<${3 + Math.floor(rnd() * 3)}`);
      else if (r < 0.97) depends.push(`so:lib${target % 40}.so.1`);
      else depends.push(`!pkg${target}`);
    }
    const provides: string[] = [];
    if (n < 40) provides.push(`so:lib${n}.so.1=${existing.length}.${Math.floor(rnd() * 5)}`);
    else if (rnd() < 0.1) provides.push(`virtual-${n % 7}`);
    const id = String(serial++).padStart(6, "0");
    entries.push({
      checksum: `Q1${Buffer.from(`rnd-${id}-pkg${n}-${version}`.padEnd(20, "#").slice(0, 20)).toString("base64")}`,
      name: `pkg${n}`,
      version,
      arch: "x86_64",
      fileSize: 1,
      installedSize: 1,
      depends: [...new Set(depends)],
      provides,
      installIf: [],
      replaces: [],
      extra: [],
    });
  }
  return entries;
}

/** The independent checker: world met, every dependency met, no conflicts, one package per name. */
function checkConsistent(world: string[], chosen: ResolvedPackage[]): string[] {
  const problems: string[] = [];
  const byName = new Map<string, ResolvedPackage[]>();
  for (const p of chosen) byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
  for (const [n, ps] of byName) if (ps.length > 1) problems.push(`two packages named ${n}`);
  // Who provides what, at which version (a package provides its own name at its version).
  const providers = new Map<string, Array<{ pkg: ResolvedPackage; version: string | undefined }>>();
  for (const p of chosen) {
    const add = (name: string, version: string | undefined) => providers.set(name, [...(providers.get(name) ?? []), { pkg: p, version }]);
    add(p.name, p.version);
    for (const atom of p.provides) {
      const d = parseDependency(atom);
      add(d.name, d.version);
    }
  }
  for (const [n, ps] of providers) {
    const versioned = ps.filter((x) => x.version !== undefined);
    if (versioned.length > 1 && new Set(versioned.map((x) => x.pkg)).size > 1)
      problems.push(`${n} provided by ${versioned.map((x) => x.pkg.name).join(" and ")}`);
  }
  const met = (atom: string, from: string) => {
    const d = parseDependency(atom);
    const ps = providers.get(d.name) ?? [];
    const ok = ps.some((x) => (d.op === "" ? true : x.version !== undefined && versionSatisfies({ ...d, conflict: false }, x.version)));
    if (d.conflict ? ok : !ok) problems.push(`${from}: ${atom} ${d.conflict ? "is violated" : "is not met"}`);
  };
  for (const w of world) met(w, "world");
  for (const p of chosen) for (const d of p.depends) met(d, `${p.name}-${p.version}`);
  return problems;
}

if (process.env.NO_RANDOM_SUITE !== "1")
  describe("solver on a random 1,000-package repository", () => {
    it("every chosen set is consistent, every failure is explained", () => {
      const entries = randomRepository(20261123, 300, 1000);
      assert.equal(entries.length, 1000);
      const repo: LoadedRepository = { url: "mem://random", indexPath: "/nonexistent/APKINDEX.tar.gz", indexDigest: "sha256:0", signedBy: null, entries };
      const rnd = seededRandom(7);
      let solved = 0;
      let failed = 0;
      for (let i = 0; i < 300; i++) {
        const size = 1 + Math.floor(rnd() * 6);
        const world = [...new Set(Array.from({ length: size }, () => `pkg${Math.floor(rnd() * 300)}`))].filter((w) => entries.some((e) => e.name === w));
        try {
          const res = resolveWorld([repo], world, "x86_64");
          assert.deepEqual(checkConsistent(world, res.packages), [], `world ${world.join(" ")}`);
          solved++;
        } catch (err) {
          assert.ok(err instanceof UnsatisfiableError, `world ${world.join(" ")}: ${String(err)}`);
          assert.ok(err.problems.length > 0, `world ${world.join(" ")}: explanation names the problem`);
          assert.match(err.message, /^ERROR: unable to select packages:\n {2}\S/);
          failed++;
        }
      }
      assert.ok(solved > 100, `solved ${solved}`);
      console.error(`random repository: ${solved} worlds solved and checked, ${failed} explained as unsatisfiable`);
      assert.ok(failed > 0, `failed ${failed}`);
    });
  });
