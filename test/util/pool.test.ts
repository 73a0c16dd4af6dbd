import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inPool } from "../../src/util/index.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("inPool", () => {
  it("runs every item, never more than `jobs` at once, starting them in the given order", async () => {
    for (const jobs of [1, 2, 3, 10]) {
      let running = 0;
      let most = 0;
      const started: number[] = [];
      await inPool([5, 1, 4, 2, 3, 0], jobs, async (n) => {
        started.push(n);
        running++;
        most = Math.max(most, running);
        await tick(n * 3);
        running--;
      });
      assert.deepEqual(started, [5, 1, 4, 2, 3, 0]);
      assert.equal(most, Math.min(jobs, 6), `jobs ${jobs}`);
    }
  });

  it("after a failure starts nothing new, lets the running task finish, then throws the first failure", async () => {
    const started: string[] = [];
    const finished: string[] = [];
    const run = inPool(["slow", "fails", "later", "never"], 2, async (item) => {
      started.push(item);
      if (item === "fails") {
        await tick(1);
        throw new Error("fails broke");
      }
      await tick(item === "slow" ? 30 : 1);
      finished.push(item);
    });
    await assert.rejects(run, /fails broke/);
    assert.deepEqual(started, ["slow", "fails"]);
    assert.deepEqual(finished, ["slow"], "the task under way when another failed still finished");
  });

  it("an empty list or a job count below one still returns (one worker)", async () => {
    await inPool([], 4, async () => assert.fail("no items"));
    const seen: number[] = [];
    await inPool([1, 2], 0, async (n) => {
      seen.push(n);
    });
    assert.deepEqual(seen, [1, 2]);
  });
});
