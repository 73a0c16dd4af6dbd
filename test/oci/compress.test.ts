import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import zlib from "node:zlib";
import { gzipLayer, PARALLEL_THRESHOLD } from "../../src/oci/index.js";
import { run, tempDir } from "../helpers.js";

describe("layer compression", () => {
  it("compresses large layers in parallel chunks into one valid, deterministic gzip stream", async (t) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 12; i++) parts.push(randomBytes(200_000), Buffer.alloc(300_000, i), Buffer.from("text ".repeat(60_000)));
    const data = Buffer.concat(parts);
    assert.ok(data.length > PARALLEL_THRESHOLD);
    const a = await gzipLayer(data, 6);
    const b = await gzipLayer(data, 6);
    assert.ok(a.equals(b), "same bytes every time");
    assert.ok(zlib.gunzipSync(a).equals(data));
    const file = join(tempDir(t), "layer.gz");
    writeFileSync(file, a);
    assert.equal(run("gzip", ["-t", file]).code, 0, "Debian's gzip accepts it");
    assert.ok(run("gzip", ["-dc", file]).stdout.equals(data));
    const small = Buffer.from("small layer");
    assert.ok((await gzipLayer(small)).equals(zlib.gzipSync(small, { level: 6 })), "small layers are plain gzip");
  });
});
