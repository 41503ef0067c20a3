import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import type { RecordShape } from "../support/key-record-heap.js";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../support/key-record-heap.js", import.meta.url));
const SHAPES: RecordShape[] = ["plain", "scoped", "metadata", "networks", "rotated"];

describe("keyRecordBytes (the key cache's memory bound)", () => {
  it("estimates the heap a cached record takes within 20% of V8's measured size, for every record shape", async () => {
    for (const shape of SHAPES) {
      // A child of its own with --expose-gc, so that the measurement sees nothing of the test runner.
      const { stdout } = await run(process.execPath, ["--expose-gc", SCRIPT, shape, "20000"]);
      const { measured, estimated } = JSON.parse(stdout) as { measured: number; estimated: number };
      const ratio = estimated / measured;
      assert.ok(ratio > 0.8 && ratio < 1.2, `${shape}: estimated ${estimated.toFixed(0)} B per record, measured ${measured.toFixed(0)} B (ratio ${ratio.toFixed(2)})`);
    }
  });
});
