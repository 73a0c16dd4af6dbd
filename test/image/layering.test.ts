import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { buildImage, loadImageConfig } from "../../src/image/index.js";
import { UndistroError } from "../../src/util/index.js";
import { REFERENCE, tempDir } from "../helpers.js";
import { layerEntries } from "./helpers.js";

const TESTDATA = join(REFERENCE, "apko/internal/cli/testdata");

/** A config like apko's test image, from apko's test repository, with an optional layering block. */
function config(dir: string, name: string, layering: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `contents:\n  keyring: [${TESTDATA}/melange.rsa.pub]\n  repositories: [${TESTDATA}/packages]\n  packages: [replayout, custom-ca-certs-1]\nentrypoint:\n  command: /bin/sh -l\narchs: [x86_64]\n${layering}`,
  );
  return file;
}

function blob(layout: string, digest: string): Buffer {
  return readFileSync(join(layout, "blobs/sha256", digest.slice(7)));
}

/** The filesystem the layers make when applied in order (no whiteouts are ever written). */
function merged(layout: string, layers: { digest: string }[]) {
  const out = new Map<string, string>();
  for (const l of layers) {
    for (const [path, e] of layerEntries(blob(layout, l.digest))) {
      out.set(path, `${e.header.type} ${e.header.mode.toString(8)} ${e.header.uid}:${e.header.gid} ${e.header.linkname} ${e.content.toString("base64")}`);
    }
  }
  return out;
}

function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = statSync(p, { throwIfNoEntry: false });
      out.push(`${relative(root, p)} ${st ? (st.mode & 0o7777).toString(8) : "dangling"}`);
      if (st?.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

describe("layering (apko's strategy: origin, budget)", () => {
  it("splits packages into origin layers within the budget; the layers make the same filesystem as one layer", async (t) => {
    const dir = tempDir(t);
    const one = await buildImage(config(dir, "one", ""), { outDir: join(dir, "one"), sourceDateEpoch: 0 });
    const two = await buildImage(config(dir, "two", "layering:\n  strategy: origin\n  budget: 2\n"), { outDir: join(dir, "two"), sourceDateEpoch: 0 });
    const many = await buildImage(config(dir, "many", "layering:\n  strategy: origin\n  budget: 10\n"), { outDir: join(dir, "many"), sourceDateEpoch: 0 });
    const a1 = one.archs[0];
    const a2 = two.archs[0];
    const a10 = many.archs[0];
    assert.ok(a1 && a2 && a10);
    assert.equal(a1.layers.length, 1);
    assert.equal(a2.layers.length, 2, "budget 2: the largest origin, then the rest");
    const origins = new Set(a10.packages.map((p) => p.name)).size;
    assert.equal(a10.layers.length, origins + 1, "room for every origin: one layer each, plus the rest");
    assert.match(a10.layers[0]?.comment ?? "", /^packages of origin /);
    assert.equal(a10.layers.at(-1)?.comment, "other packages, accounts, paths, apk database");
    const single = merged(join(dir, "one"), a1.layers);
    assert.deepEqual(merged(join(dir, "two"), a2.layers), single);
    assert.deepEqual(merged(join(dir, "many"), a10.layers), single);
    // The apk database is in the last layer, so a package layer's digest survives unrelated changes.
    for (const l of a10.layers.slice(0, -1)) assert.ok(!layerEntries(blob(join(dir, "many"), l.digest)).has("usr/lib/apk/db/installed"));
    // The config lists every layer: diff_ids and one history entry each.
    const cfg = JSON.parse(blob(join(dir, "many"), a10.config.digest).toString("utf8"));
    assert.deepEqual(
      cfg.rootfs.diff_ids,
      a10.layers.map((l) => l.diffId),
    );
    assert.equal(cfg.history.length, a10.layers.length);
    // Reproducible.
    const again = await buildImage(config(dir, "many", "layering:\n  strategy: origin\n  budget: 10\n"), { outDir: join(dir, "many-2"), sourceDateEpoch: 0 });
    assert.equal(again.index.digest, many.index.digest);
    // umoci applies the layers into the same tree as the single-layer image.
    for (const name of ["one", "many"]) {
      const u = spawnSync("umoci", ["unpack", "--rootless", "--image", `${join(dir, name)}:latest`, join(dir, `${name}-bundle`)], { encoding: "utf8" });
      assert.equal(u.status, 0, u.stderr);
    }
    assert.deepEqual(tree(join(dir, "many-bundle/rootfs")), tree(join(dir, "one-bundle/rootfs")));
  });

  it("apko's layering test configs load; an unknown strategy or a zero budget is refused", async (t) => {
    assert.deepEqual(loadImageConfig(join(TESTDATA, "layering.yaml")).layering, { strategy: "origin", budget: 2 });
    assert.deepEqual(loadImageConfig(join(TESTDATA, "empty-layering.yaml")).layering, { strategy: "origin", budget: 10 });
    const dir = tempDir(t);
    await Promise.all(
      [
        ["layering:\n  strategy: size\n  budget: 2\n", /layering\.strategy "size" is not supported/],
        ["layering:\n  strategy: origin\n  budget: 0\n", /layering\.budget must be a whole number of layers, at least 1/],
      ].map(async ([block, re], i) => {
        await assert.rejects(buildImage(config(dir, `bad${i}`, block as string), { outDir: join(dir, `bad${i}`), sourceDateEpoch: 0 }), (e: unknown) => {
          assert.ok(e instanceof UndistroError);
          assert.match(e.message, re as RegExp);
          return true;
        });
      }),
    );
  });
});
