import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { counted, duration, stillRunning } from "../../src/cli/output.js";

describe("progress wording", () => {
  it("durations: tenths under a minute, whole minutes and seconds above (never 60 s)", () => {
    assert.equal(duration(4_240), "4.2 s");
    assert.equal(duration(59_940), "59.9 s");
    assert.equal(duration(60_000), "1 min 0 s");
    assert.equal(duration(119_700), "2 min 0 s");
    assert.equal(duration(2_792_400), "46 min 32 s");
  });

  it("a running step's line and counted nouns", () => {
    assert.equal(
      stillRunning("[stage2] [gcc]", 754_000, "make[3]: Leaving directory"),
      "[stage2] [gcc]   still running, 12 min 34 s: make[3]: Leaving directory\n",
    );
    assert.equal(stillRunning("[gcc]", 61_000), "[gcc]   still running, 1 min 1 s\n");
    assert.deepEqual([counted(1, "package"), counted(2, "package"), counted(0, "recipe")], ["1 package", "2 packages", "0 recipes"]);
  });
});
