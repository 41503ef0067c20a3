// `make bench-10m` entry point (issue 14 item 3; not in CI): seeds 10,000,000 keys (`--keys N` for
// a smaller check) with the bulk seeder, times `sigil serve` starting on that database, measures
// VerifyKey on random stored keys (cache misses) against bare grpc-js and IssueKey saturated, and
// the server's peak RSS. Servers run on core 0, the load on core 1, as in `make bench`. Writes
// bench/results/scale-<keys>.{json,md} (scale-10m for the full count), not the `latest` report.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FULL, LOAD_CPUS, QUICK, SERVER_CPUS, type BenchConfig } from "./config.js";
import { loadKeyList, seedWithTool } from "./datasets.js";
import { prepareSigilFixtures, referenceFixtures } from "./fixtures.js";
import { measure, warmUpServer, type RunRecord } from "./measure.js";
import { pinThisProcess } from "./pinning.js";
import { gitCommit, machineInfo, type MachineInfo } from "./report/machine.js";
import { renderScaleMarkdown } from "./report/scale-markdown.js";
import { int } from "./report/format.js";
import { compareWithLimits, type Comparison } from "./results.js";
import { judgeScaleTargets, median, SCALE_KEY_COUNT } from "./scale-targets.js";
import { scenarios, type Scenario } from "./scenarios.js";
import { readPeakRssKb } from "./servers/proc-stats.js";
import { startReferenceServer } from "./servers/reference-servers.js";
import { startSigil, stopSigil } from "./servers/sigil-server.js";
import type { TargetResult } from "./targets.js";

const COMMITTED_RESULTS_DIR = fileURLToPath(new URL("../../bench/results/", import.meta.url));
/** Start-up is timed this many times; the median is judged. */
const STARTS = 3;
/** Health is polled this often while start-up is timed. */
const STARTUP_POLL_MS = 10;

export interface ScaleResults {
  date: string;
  commit: string;
  machine: MachineInfo;
  mode: BenchConfig["mode"];
  keyCount: number;
  warmupMs: number;
  durationMs: number;
  seedSeconds?: number;
  startupSeconds: number[];
  startupMedianSeconds?: number;
  /** VmHWM of the server after each timed start. */
  startupPeakRssMb: number[];
  peakRssMb?: number;
  runs: RunRecord[];
  comparisons: Comparison[];
  targets: TargetResult[];
  notes: string[];
  durationSeconds: number;
}

function parseOptions(argv: readonly string[]): { config: BenchConfig; keys: number; keepData: boolean; resultsDir: string } {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const keysText = value("--keys");
  const keys = keysText === undefined ? SCALE_KEY_COUNT : Number(keysText);
  if (!(Number.isInteger(keys) && keys >= 1_000 && keys <= SCALE_KEY_COUNT)) throw new Error(`--keys takes a whole number from 1,000 to ${int(SCALE_KEY_COUNT)}`);
  const base = argv.includes("--quick") ? QUICK : FULL;
  return { config: { ...base, mainKeyCount: keys }, keys, keepData: argv.includes("--keep-data"), resultsDir: value("--results-dir") ?? COMMITTED_RESULTS_DIR };
}

/** `scale-10m` for ten million keys, `scale-200k` for --keys 200000. */
export function reportName(keys: number): string {
  if (keys % 1_000_000 === 0) return `scale-${keys / 1_000_000}m`;
  if (keys % 1_000 === 0) return `scale-${keys / 1_000}k`;
  return `scale-${keys}`;
}

function scenario(all: readonly Scenario[], id: string): Scenario {
  const found = all.find((s) => s.id === id);
  if (!found) throw new Error(`no scenario ${id}`);
  return found;
}

function logRun(run: RunRecord): void {
  const r = run.result;
  console.log(
    `  ${run.scenarioId} ${run.concurrency}${run.round > 1 ? ` round ${run.round}` : ""}: ` +
      (r
        ? `${int(run.okPerSecond)} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${r.errors}, ` +
          `CPU server ${run.serverCpuPercent ?? "?"}% / other ${run.otherCpuPercent ?? "?"}%, RSS ${run.peakRssMb ?? "?"} MB`
        : run.problems.join("; ")),
  );
}

async function main(): Promise<void> {
  const { config, keys, keepData, resultsDir } = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const date = new Date().toISOString();
  const notes: string[] = [];
  const pinProblem = pinThisProcess(LOAD_CPUS);
  if (pinProblem) notes.push(pinProblem);
  const dir = path.join(COMMITTED_RESULTS_DIR, "tmp", `scale-${date.replace(/[:.]/g, "-")}`);
  const dataDir = path.join(dir, "data");
  const keysFile = path.join(dir, "keys.txt");
  const log = (file: string): string => path.join(dir, "logs", file);
  mkdirSync(path.join(dir, "logs"), { recursive: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const all = scenarios(config);
  const limit = scenario(all, "limit-grpc-verify");
  const cacheMiss = scenario(all, "verify-cache-miss");
  const issueKey = scenario(all, "issue-key");
  const runs: RunRecord[] = [];
  const startupSeconds: number[] = [];
  const startupPeakRssMb: number[] = [];
  const rssPeaks: number[] = [];
  let seedSeconds: number | undefined;
  console.log(`sigil scale bench (${config.mode}, ${int(keys)} keys); logs in ${dir}`);

  const runLimit = async (round: number): Promise<void> => {
    const server = await startReferenceServer("bare-grpc", SERVER_CPUS, log(`bare-grpc-${round}.log`));
    const target = { pid: server.process.pid, port: server.port };
    try {
      const fixtures = referenceFixtures();
      await warmUpServer(limit, target, fixtures, config, "wire");
      const run = await measure(limit, "throughput", target, fixtures, config, "wire", round);
      logRun(run);
      runs.push(run);
    } finally {
      await server.process.stop();
    }
  };

  try {
    console.log(`seeding ${int(keys)} keys with seed.js…`);
    const seedStarted = performance.now();
    await seedWithTool(dataDir, keys, keysFile, log("seed.log"));
    seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(`  ${seedSeconds.toFixed(1)} s, ${int(keys / seedSeconds)} keys/s`);

    // Start-up: spawn to the first SERVING health answer. The first start also writes the admin key.
    for (let i = 1; i <= STARTS; i++) {
      const t0 = performance.now();
      const sigil = await startSigil({ dataDir, cpus: SERVER_CPUS, logFile: log(`sigil-start-${i}.log`), readyPollMs: STARTUP_POLL_MS });
      startupSeconds.push((performance.now() - t0) / 1000);
      const hwmKb = readPeakRssKb(sigil.process.pid);
      if (hwmKb !== undefined) startupPeakRssMb.push(Math.round(hwmKb / 1024));
      await stopSigil(sigil);
      console.log(`  start ${i}: SERVING after ${startupSeconds.at(-1)!.toFixed(2)} s, peak RSS ${startupPeakRssMb.at(-1) ?? "?"} MB`);
    }

    await runLimit(1);

    const sigil = await startSigil({ dataDir, cpus: SERVER_CPUS, logFile: log("sigil.log") });
    try {
      const hwmKb = readPeakRssKb(sigil.process.pid);
      if (hwmKb !== undefined) rssPeaks.push(Math.round(hwmKb / 1024));
      const keyList = loadKeyList(keysFile);
      const fixtures = await prepareSigilFixtures(sigil, keyList);
      const target = { pid: sigil.process.pid, port: sigil.grpcPort };
      for (const s of [cacheMiss, issueKey]) {
        const preflight = await s.preflight?.(sigil, fixtures).catch((err: unknown) => `pre-flight call failed: ${String(err)}`);
        await warmUpServer(s, target, fixtures, config, "wire");
        const run = await measure(s, "throughput", target, fixtures, config, "wire");
        if (preflight) run.problems.unshift(`wrong answer before the load: ${preflight}`);
        logRun(run);
        runs.push(run);
        if (run.peakRssMb !== undefined) rssPeaks.push(run.peakRssMb);
      }
    } finally {
      await stopSigil(sigil);
    }

    for (let round = 2; round <= config.limitRounds; round++) await runLimit(round);
  } catch (err) {
    notes.push(`the run stopped early: ${err instanceof Error ? err.message : String(err)}`);
    console.error(err);
    process.exitCode = 1;
  } finally {
    // The logs stay in the run directory; the database and key list (several GB) go unless kept.
    if (!keepData) {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(keysFile, { force: true });
    }
  }

  const comparisons = compareWithLimits(runs);
  const peakRssMb = rssPeaks.length + startupPeakRssMb.length > 0 ? Math.max(...rssPeaks, ...startupPeakRssMb) : undefined;
  const noisy = runs.filter((r) => (r.otherCpuPercent ?? 0) > config.noiseThresholdPercent);
  if (noisy.length > 0) {
    notes.push(`${noisy.length} of ${runs.length} runs were measured while other processes took more than ${config.noiseThresholdPercent}% of a core: ${noisy.map((r) => r.scenarioId).join(", ")}.`);
  }
  const results: ScaleResults = {
    date,
    commit: gitCommit(),
    machine: machineInfo(),
    mode: config.mode,
    keyCount: keys,
    warmupMs: config.warmupMs,
    durationMs: config.durationMs,
    ...(seedSeconds === undefined ? {} : { seedSeconds: Math.round(seedSeconds * 10) / 10 }),
    startupSeconds: startupSeconds.map((s) => Math.round(s * 1000) / 1000),
    ...(startupSeconds.length > 0 ? { startupMedianSeconds: Math.round(median(startupSeconds)! * 1000) / 1000 } : {}),
    startupPeakRssMb,
    ...(peakRssMb === undefined ? {} : { peakRssMb }),
    runs,
    comparisons,
    targets: judgeScaleTargets({ keyCount: keys, ...(seedSeconds === undefined ? {} : { seedSeconds }), startupSeconds, comparisons, runs, ...(peakRssMb === undefined ? {} : { peakRssMb }), noiseThresholdPercent: config.noiseThresholdPercent }),
    notes,
    durationSeconds: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(resultsDir, { recursive: true });
  const name = reportName(keys);
  writeFileSync(path.join(resultsDir, `${name}.json`), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(path.join(resultsDir, `${name}.md`), renderScaleMarkdown(results));
  console.log(`\n${results.targets.map((t) => `${t.status.padEnd(4)}  ${t.description}: ${t.measured} (goal ${t.goal})${t.note ? ` [${t.note}]` : ""}`).join("\n")}`);
  console.log(`\nwrote ${path.relative(process.cwd(), resultsDir) || "."}/${name}.{json,md} in ${results.durationSeconds} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
