// `make bench-check` entry point: a short full-size run (the committed report's datasets, shorter
// runs) written to a scratch directory, then every saturated ratio against bench/results/latest.json.
// Exits 1 when a ratio fell by more than 10 points or was not measured. Not in CI: it needs a
// quiet machine like `make bench`. Options after `--` go to run.js (e.g. `--only verify`).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FULL } from "./config.js";
import { scenarios } from "./scenarios.js";
import { checkRatios, formatRatioChecks, ratiosHeld } from "./regression-check.js";
import type { BenchResults } from "./results.js";

const COMMITTED = fileURLToPath(new URL("../../bench/results/latest.json", import.meta.url));
const RUN = fileURLToPath(new URL("./run.js", import.meta.url));
/** Seconds per run: long enough for a stable saturated rate, a third of a full run's. */
const SHORT_RUN = ["--warmup", "1", "--duration", "3"];

function main(): number {
  const passed = process.argv.slice(2);
  const committed = JSON.parse(readFileSync(COMMITTED, "utf8")) as BenchResults;
  const scratch = mkdtempSync(path.join(tmpdir(), "sigil-bench-check-"));
  try {
    const run = spawnSync(process.execPath, [RUN, ...SHORT_RUN, ...passed, "--results-dir", scratch], { stdio: "inherit" });
    if (run.status !== 0) console.error(`run.js exited with ${run.status ?? run.signal}: checking what it measured`);
    const current = JSON.parse(readFileSync(path.join(scratch, "latest.json"), "utf8")) as BenchResults;
    const onlyAt = passed.indexOf("--only");
    const only = onlyAt >= 0 ? (passed[onlyAt + 1] ?? "").split(",").filter(Boolean) : [];
    // A scenario the harness no longer has (measured another way now) is not a regression.
    const known = new Set(scenarios(FULL).map((s) => s.id));
    const selected = (id: string): boolean => known.has(id) && (only.length === 0 || only.some((part) => id.includes(part)));
    const checks = checkRatios(committed, current, { selected });
    console.log(`\n${formatRatioChecks(checks)}`);
    if (current.notes.length > 0) console.log(`\nnotes of this run:\n${current.notes.map((n) => `- ${n}`).join("\n")}`);
    const held = ratiosHeld(checks);
    console.log(held ? "\nbench-check: every ratio held" : "\nbench-check: FAILED");
    return held ? 0 : 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

process.exitCode = main();
