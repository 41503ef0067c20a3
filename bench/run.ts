// `make bench` entry point. Seeds the databases, measures the limits on the bare reference servers,
// then Sigil's scenarios, with every server pinned to core 0 and the load generator to core 1; then
// the feature-cost pairs of issue #11 (feature-cost.ts), the comparisons of issue #5 (1 against 2
// workers on both cores, PostgreSQL against SQLite) and the revocation window; and writes bench/results/latest.{json,md,svg}. `--quick` is a smoke run of
// about a minute.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FULL, LOAD_CPUS, POSTGRES_CPUS, QUICK, SERVER_CPUS, WORKERS_SERVER_CPUS, type BenchConfig } from "./config.js";
import { hasSeedTool, loadKeyList, RPC_SEED_LIMIT, seedWithRpc, seedWithTool, type KeyList } from "./datasets.js";
import { prepareSigilFixtures, referenceFixtures, type Fixtures } from "./fixtures.js";
import { checkGenerator, type GeneratorCheck } from "./generator-check.js";
import type { GrpcClientKind } from "./load/spec.js";
import { measure, warmUpServer, type RunRecord } from "./measure.js";
import { pinThisProcess, threadCpuLists } from "./pinning.js";
import { machineInfo, gitCommit } from "./report/machine.js";
import { renderMarkdown } from "./report/markdown.js";
import { int, percent } from "./report/format.js";
import { renderSvg } from "./report/svg.js";
import { summarizeCpuProfile } from "./report/cpu-profile.js";
import { describeSetup } from "./report/setup.js";
import { compareWithLimits, type BenchResults } from "./results.js";
import { measureRevocationWindow, type RevocationWindow } from "./revocation-window.js";
import { COMPARISON_TARGETS } from "./comparison-scenarios.js";
import { FEATURE_PAIRS, pairSelected, roundSchedule, summarizeFeatureCost, type FeatureCost, type FeaturePair, type FeatureRound } from "./feature-cost.js";
import { LEVELS, scenarios, TENANT_COUNT, UNCACHED_CACHE_SIZE, type Level, type Scenario, type ScenarioTarget } from "./scenarios.js";
import { pinPostgres, postgresUnavailable, startPostgres, type BenchPostgres } from "./servers/postgres-server.js";
import { startReferenceServer, type ReferenceServerKind } from "./servers/reference-servers.js";
import { OtlpReceiver } from "../test/support/otlp-receiver.js";
import { startSigil, stopSigil, type SigilInstance, type SigilOptions } from "./servers/sigil-server.js";
import { loadConfig } from "../src/config/config.js";
import { judgeTargets } from "./targets.js";
import { makeBenchCertificates, type BenchTls } from "./tls-certificates.js";

/** Where the committed report lives; `--results-dir` writes elsewhere (bench-check does). */
const COMMITTED_RESULTS_DIR = fileURLToPath(new URL("../../bench/results/", import.meta.url));

interface Options {
  config: BenchConfig;
  only: string[];
  keepData: boolean;
  grpcClient: GrpcClientKind;
  /** Run Sigil under `node --cpu-prof` and summarize where its time went. */
  cpuProfile: boolean;
  /** Where latest.{json,md,svg} are written. */
  resultsDir: string;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const grpcClient = value("--grpc-client") ?? "wire";
  if (grpcClient !== "wire" && grpcClient !== "grpc-js") throw new Error("--grpc-client is wire or grpc-js");
  const seconds = (flag: string): number | undefined => {
    const text = value(flag);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!(n > 0 && n <= 600)) throw new Error(`${flag} takes seconds, 0 < s <= 600`);
    return Math.round(n * 1000);
  };
  const count = (flag: string): number | undefined => {
    const text = value(flag);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!(Number.isInteger(n) && n >= 1 && n <= 100)) throw new Error(`${flag} takes a whole number from 1 to 100`);
    return n;
  };
  const base = argv.includes("--quick") ? QUICK : FULL;
  return {
    config: {
      ...base,
      warmupMs: seconds("--warmup") ?? base.warmupMs,
      durationMs: seconds("--duration") ?? base.durationMs,
      featureCost: {
        rounds: count("--cost-rounds") ?? base.featureCost.rounds,
        processesPerSide: count("--cost-processes") ?? base.featureCost.processesPerSide,
        warmupMs: seconds("--warmup") ?? base.featureCost.warmupMs,
        durationMs: seconds("--cost-duration") ?? seconds("--duration") ?? base.featureCost.durationMs,
      },
    },
    only: value("--only")?.split(",").filter(Boolean) ?? [],
    keepData: argv.includes("--keep-data"),
    grpcClient,
    cpuProfile: argv.includes("--cpu-prof"),
    resultsDir: value("--results-dir") ?? COMMITTED_RESULTS_DIR,
  };
}

interface Dataset {
  name: "main" | "small" | "postgres" | "revocation" | "tenants";
  keyCount: number;
  /** Tenants the keys are dealt out to (seed.js --tenants); none: all in `default`. */
  tenants?: number;
  dataDir: string;
  keysFile: string;
  /** SIGIL_DATABASE_URL; default: SQLite in dataDir. */
  databaseUrl?: string;
  seededWith?: string;
  seedSeconds?: number;
  keyList?: KeyList;
}

/** Shared state of one run. */
class BenchRun {
  readonly runs: RunRecord[] = [];
  readonly generatorChecks: GeneratorCheck[] = [];
  readonly profiles: BenchResults["profiles"] = [];
  readonly notes: string[] = [];
  readonly revocationWindows: RevocationWindow[] = [];
  readonly featureCosts: FeatureCost[] = [];
  postgres?: { version: string; binDir: string };
  private done = 0;
  private retriesLeft: number;

  constructor(
    readonly options: Options,
    readonly selected: Scenario[],
    /** Revocation-window setups to measure: ids of REVOCATION_SETUPS. */
    readonly revocationSetups: string[],
    /** Feature-cost pairs to measure (feature-cost.ts). */
    readonly featurePairs: readonly FeaturePair[],
    readonly dir: string,
    private readonly totalRuns: number,
  ) {
    this.retriesLeft = options.config.noisyRetryBudget;
  }

  isNoisy(run: RunRecord): boolean {
    return (run.otherCpuPercent ?? 0) > this.config.noiseThresholdPercent;
  }

  /** Measures, and measures again while other processes disturbed the run; keeps the quietest attempt. */
  async measureQuietly(attempt: () => Promise<RunRecord>): Promise<RunRecord> {
    let best = await attempt();
    let attempts = 1;
    while (this.isNoisy(best) && attempts <= this.config.noisyRetries && this.retriesLeft > 0) {
      this.retriesLeft--;
      attempts++;
      console.log(`  noisy (other CPU ${best.otherCpuPercent}%): measuring ${best.scenarioId} ${best.concurrency} again`);
      await new Promise((resolve) => setTimeout(resolve, this.config.noisyRetryPauseMs));
      const next = await attempt();
      if ((next.otherCpuPercent ?? Infinity) < (best.otherCpuPercent ?? Infinity)) best = next;
    }
    return { ...best, attempts };
  }

  get config(): BenchConfig {
    return this.options.config;
  }

  /** Runs one phase; a phase that fails is reported and the run goes on with the next one. */
  async phase(name: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      this.notes.push(`${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      console.error(`${name} failed:`, err);
      process.exitCode = 1;
    }
  }

  log(file: string): string {
    return path.join(this.dir, "logs", file);
  }

  #tls: BenchTls | undefined;
  /** The TLS scenarios' certificates, made on first use. */
  get tls(): BenchTls {
    this.#tls ??= makeBenchCertificates(path.join(this.dir, "tls"));
    return this.#tls;
  }

  scenariosOn(target: ScenarioTarget): Scenario[] {
    return this.selected.filter((s) => s.target === target);
  }

  record(run: RunRecord): void {
    this.runs.push(run);
    this.done++;
    const r = run.result;
    const limit = run.limitId ? this.runs.find((l) => l.scenarioId === run.limitId && l.level === run.level)?.result : undefined;
    const noisy = this.isNoisy(run) ? " [noisy]" : "";
    const open = run.openLoop
      ? `open loop at ${run.openLoop.percentOfSaturation}%${run.openLoop.pacedTo ? ` of ${run.openLoop.pacedTo}` : ""} (${int(run.openLoop.targetRatePerSecond)} req/s scheduled, p99.9 ${r?.latencyMs.p999 ?? "?"} ms, send lag p99 ${run.openLoop.sendLagMs?.p99 ?? "?"} ms): `
      : "";
    const summary = run.skipped
      ? `skipped: ${run.skipped}`
      : r
        ? `${int(run.okPerSecond)} req/s${limit ? ` (${percent(run.okPerSecond! / limit.requestsPerSecond)} of limit)` : ""}, ` +
          `p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${r.errors}, ` +
          `CPU server ${run.serverCpuPercent ?? "?"}% / generator ${run.loadCpuPercent ?? "?"}% / other ${run.otherCpuPercent ?? "?"}%, RSS ${run.peakRssMb ?? "?"} MB`
        : run.problems.join("; ");
    console.log(`[${this.done}/${this.totalRuns}] ${run.scenarioId} ${run.concurrency}${run.round > 1 ? ` round ${run.round}` : ""}: ${open}${summary}${noisy}`);
  }
}

/** Earlier runs' logs and profiles are kept (the last few); their databases, which can be large, are not. */
const KEPT_RUN_DIRS = 5;

function prepareRunDir(): string {
  const tmp = path.join(COMMITTED_RESULTS_DIR, "tmp");
  const earlier = existsSync(tmp) ? readdirSync(tmp).filter((entry) => entry.startsWith("run-")).sort() : [];
  earlier.forEach((entry, i) => {
    const dir = path.join(tmp, entry);
    if (i < earlier.length - (KEPT_RUN_DIRS - 1)) return rmSync(dir, { recursive: true, force: true });
    for (const file of readdirSync(dir)) {
      if (file.startsWith("data-") || file.startsWith("keys-")) rmSync(path.join(dir, file), { recursive: true, force: true });
    }
  });
  const dir = path.join(tmp, `run-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(path.join(dir, "logs"), { recursive: true });
  return dir;
}

/** Seeds each database with the server stopped: through seed.js, or else (small sets only) through IssueKey on a server started just for that. */
async function seedDatasets(bench: BenchRun, datasets: Dataset[]): Promise<void> {
  for (const dataset of datasets) {
    mkdirSync(dataset.dataDir, { recursive: true, mode: 0o700 });
    const started = Date.now();
    if (hasSeedTool()) {
      console.log(`seeding ${int(dataset.keyCount)} keys into the ${dataset.name} database with seed.js…`);
      await seedWithTool(dataset.dataDir, dataset.keyCount, dataset.keysFile, bench.log(`seed-${dataset.name}.log`), dataset.databaseUrl, dataset.tenants);
      dataset.seededWith = "dist/bench/seed.js";
    } else if (dataset.keyCount <= RPC_SEED_LIMIT && dataset.tenants === undefined) {
      console.log(`seed.js not found: issuing ${int(dataset.keyCount)} keys through IssueKey into the ${dataset.name} database…`);
      const seeder = await startSigil({
        dataDir: dataset.dataDir,
        cpus: undefined,
        logFile: bench.log(`seed-${dataset.name}.log`),
        ...(dataset.databaseUrl === undefined ? {} : { databaseUrl: dataset.databaseUrl }),
      });
      try {
        await seedWithRpc(seeder.rpc, seeder.adminKey, dataset.keyCount, dataset.keysFile);
      } finally {
        await stopSigil(seeder);
      }
      dataset.seededWith = "IssueKey calls (seed.js missing)";
    } else {
      bench.notes.push(`dist/bench/seed.js not found: the ${dataset.name} database (${int(dataset.keyCount)} keys) could not be seeded; its scenarios are skipped.`);
      continue;
    }
    dataset.seedSeconds = Math.round((Date.now() - started) / 100) / 10;
  }
}

async function runLimits(bench: BenchRun, round: number): Promise<void> {
  const fixtures = referenceFixtures();
  for (const kind of ["bare-grpc", "bare-grpc-tls", "bare-connect"] as ReferenceServerKind[]) {
    const list = bench.scenariosOn(kind);
    if (list.length === 0) continue;
    const tls = kind === "bare-grpc-tls" ? bench.tls : undefined;
    const server = await startReferenceServer(kind, SERVER_CPUS, bench.log(`${kind}.log`), tls);
    const target = { pid: server.process.pid, port: server.port, ...(tls ? { tls: { ca: tls.ca } } : {}) };
    try {
      await warmUpServer(list[0]!, target, fixtures, bench.config, bench.options.grpcClient);
      for (const scenario of list) {
        for (const level of LEVELS) {
          bench.record(await bench.measureQuietly(() => measure(scenario, level, target, fixtures, bench.config, bench.options.grpcClient, round)));
        }
      }
      const verify = list.find((s) => s.method === "VerifyKey");
      // h2load and the grpc-js check speak plaintext: the TLS limit is not cross-checked.
      if (round === 1 && verify && !tls) {
        console.log(`checking the load generator against ${kind}…`);
        bench.generatorChecks.push(...(await checkGenerator(verify, server, fixtures, bench.config, path.join(bench.dir, "h2load-body.bin"))));
      }
    } finally {
      await server.process.stop();
    }
  }
}

/**
 * The bare grpc-js server, open loop, at exactly the rates Sigil's open-loop runs were sent at: what
 * the platform alone (kernel, loopback TCP, Node's HTTP/2, the generator) does to latency at that
 * rate, so Sigil's open-loop figures can be read against it.
 */
async function runLimitOpenLoops(bench: BenchRun): Promise<void> {
  // Sigil's open-loop runs: the limits' own carry no limitId.
  const paced = bench.runs.filter((r) => r.level === "open-loop" && r.limitId !== undefined);
  const limits = bench.scenariosOn("bare-grpc").filter((limit) => paced.some((r) => r.limitId === limit.id));
  if (limits.length === 0) return;
  const fixtures = referenceFixtures();
  const server = await startReferenceServer("bare-grpc", SERVER_CPUS, bench.log("bare-grpc-open-loop.log"));
  const target = { pid: server.process.pid, port: server.port };
  try {
    await warmUpServer(limits[0]!, target, fixtures, bench.config, bench.options.grpcClient);
    for (const limit of limits) {
      for (const sigilRun of paced.filter((r) => r.limitId === limit.id)) {
        const o = sigilRun.openLoop!;
        const rate = { percent: o.percentOfSaturation, saturatedRatePerSecond: o.saturatedRatePerSecond, pacedTo: sigilRun.scenarioId };
        bench.record(await bench.measureQuietly(() => measure(limit, "open-loop", target, fixtures, bench.config, bench.options.grpcClient, 1, rate)));
      }
    }
  } finally {
    await server.process.stop();
  }
}

/** How a Sigil server of one phase runs, where it differs from the core scenarios' (1 worker, core 0, SQLite, both levels). */
interface SigilSetup {
  cacheSize?: number;
  cpus?: string;
  workers?: number;
  databaseUrl?: string;
  /** Database processes whose CPU counts as the server's (the PostgreSQL postmaster). */
  databasePids?: number[];
  levels?: readonly Level[];
  /** Load worker threads for saturated runs, when the generator must be lighter than usual. */
  loadThreads?: number;
  /** TLS on both listeners. */
  tls?: BenchTls;
  /** More settings for the server. */
  env?: Record<string, string>;
}

/**
 * The feature-cost pairs (feature-cost.ts): every server of a pair started at once on its side's
 * database (the main one, or the many-tenants one), pinned to the server core, warmed up, then
 * saturated rounds alternating between the sides. The "on" side of the tracing pair exports to a local OTLP/HTTP receiver (in this process,
 * on the generator's core).
 */
async function runFeatureCosts(bench: BenchRun, datasets: { main: Dataset; tenants: Dataset }, scenarioById: (id: string) => Scenario): Promise<void> {
  const { rounds, processesPerSide, warmupMs, durationMs } = bench.config.featureCost;
  const config = { ...bench.config, warmupMs, durationMs };
  for (const pair of bench.featurePairs) {
    await bench.phase(`feature cost ${pair.id}`, async () => {
      const base = scenarioById(pair.scenario ?? "verify-cache-hit");
      const datasetOf = (s: "on" | "off"): Dataset => (pair[s].dataset === "tenants" ? datasets.tenants : datasets.main);
      // The fixtures are issued through a server of their own, stopped before the pair starts, so both
      // sides load the keys they are measured on the same way (from the database, at warm-up).
      const fixturesOf = new Map<Dataset, Fixtures>();
      for (const dataset of new Set([datasetOf("on"), datasetOf("off")])) {
        const issuer = await startSigil({ dataDir: dataset.dataDir, cpus: SERVER_CPUS, logFile: bench.log(`sigil-${pair.id}-${dataset.name}-fixtures.log`) });
        if (dataset.keyList === undefined && existsSync(dataset.keysFile)) dataset.keyList = loadKeyList(dataset.keysFile);
        fixturesOf.set(dataset, await prepareSigilFixtures(issuer, dataset.keyList).finally(() => stopSigil(issuer)));
      }
      const fixtures = (s: "on" | "off"): Fixtures => fixturesOf.get(datasetOf(s))!;
      const receiver = pair.on.traced || pair.off.traced ? new OtlpReceiver({ keep: false }) : undefined;
      const endpoint = await receiver?.start();
      const start = (side: "on" | "off", i: number) => {
        const settings = pair[side];
        return startSigil({
          dataDir: datasetOf(side).dataDir,
          cpus: SERVER_CPUS,
          logFile: bench.log(`sigil-${pair.id}-${side}-${i + 1}.log`),
          env: { ...settings.env, ...(settings.traced && endpoint ? { SIGIL_OTEL_ENDPOINT: endpoint } : {}) },
        });
      };
      const indexes = Array.from({ length: processesPerSide }, (_, i) => i);
      // All at once: neither side gets the quieter start or the warmer page cache.
      const started = await Promise.allSettled([...indexes.map((i) => start("on", i)), ...indexes.map((i) => start("off", i))]);
      const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
      try {
        const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
        if (failed) throw failed.reason;
        const side = { on: servers.slice(0, processesPerSide), off: servers.slice(processesPerSide) };
        // No limit: these runs are compared with each other, not with bare grpc-js.
        const { limitId: _limit, ...unlimited } = base;
        const scenarioOf = (s: "on" | "off"): Scenario => ({ ...unlimited, target: "sigil-feature-pair", id: `${pair.id}:${s}`, title: `${base.title}, ${pair[s].name}` });
        const target = (sigil: SigilInstance) => ({ pid: sigil.process.pid, port: sigil.grpcPort });
        for (const s of ["on", "off"] as const) {
          for (const sigil of side[s]) {
            const problem = await base.preflight?.(sigil, fixtures(s)).catch((err: unknown) => `pre-flight call failed: ${String(err)}`);
            if (problem) throw new Error(`${pair.id} ${s}: wrong answer before the load: ${problem}`);
            await warmUpServer(scenarioOf(s), target(sigil), fixtures(s), config, bench.options.grpcClient);
          }
        }
        const measured: FeatureRound[] = [];
        for (const { round, order, process } of roundSchedule(rounds, processesPerSide)) {
          for (const s of order) {
            const run = await bench.measureQuietly(() => measure(scenarioOf(s), "throughput", target(side[s][process]!), fixtures(s), config, bench.options.grpcClient, round));
            measured.push({ side: s, round, process: process + 1, run });
            bench.record(run);
          }
        }
        const cost = summarizeFeatureCost(pair, processesPerSide, measured);
        bench.featureCosts.push(cost);
        console.log(
          `  ${pair.id}: median ${int(cost.onMedian)} (${pair.on.name}) / ${int(cost.offMedian)} (${pair.off.name}) req/s = ${percent(cost.ratio)}` +
            `, round ratios ${cost.roundRatioRange?.map((r) => percent(r)).join("–") ?? "–"}, CPU per call ${cost.onCpuMicros ?? "?"} / ${cost.offCpuMicros ?? "?"} µs`,
        );
      } finally {
        await Promise.all(servers.map(stopSigil));
        await receiver?.close();
        if (receiver) bench.notes.push(`${pair.id}: the local OTLP receiver took ${receiver.requests} exports holding ${receiver.spanCount} spans.`);
      }
    });
  }
}

async function runSigil(bench: BenchRun, target: ScenarioTarget, dataset: Dataset, setup: SigilSetup = {}): Promise<void> {
  const list = bench.scenariosOn(target);
  if (list.length === 0) return;
  const profileDir = path.join(bench.dir, "profiles", target);
  const config = setup.loadThreads === undefined ? bench.config : { ...bench.config, loadThreads: setup.loadThreads };
  const sigil = await startSigil({
    dataDir: dataset.dataDir,
    cpus: setup.cpus ?? SERVER_CPUS,
    logFile: bench.log(`sigil-${target}.log`),
    ...(setup.workers === undefined ? {} : { workers: setup.workers }),
    ...(dataset.databaseUrl === undefined ? {} : { databaseUrl: dataset.databaseUrl }),
    env: { ...(setup.cacheSize === undefined ? {} : { SIGIL_CACHE_SIZE: String(setup.cacheSize) }), ...setup.env },
    ...(bench.options.cpuProfile ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {}),
    ...(setup.tls ? { tls: setup.tls } : {}),
  });
  const measureTarget = (port: number) => ({
    pid: sigil.process.pid,
    port,
    ...(setup.databasePids ? { databasePids: setup.databasePids } : {}),
    ...(setup.tls ? { tls: { ca: setup.tls.ca } } : {}),
  });
  try {
    if (dataset.keyList === undefined && existsSync(dataset.keysFile)) dataset.keyList = loadKeyList(dataset.keysFile);
    const fixtures: Fixtures = await prepareSigilFixtures(sigil, dataset.keyList);
    const first = list[0]!;
    await warmUpServer(first, measureTarget(first.protocol === "grpc" ? sigil.grpcPort : sigil.httpPort), fixtures, config, bench.options.grpcClient);
    for (const scenario of list) {
      const preflight = await scenario.preflight?.(sigil, fixtures).catch((err: unknown) => `pre-flight call failed: ${String(err)}`);
      const target = measureTarget(scenario.protocol === "grpc" ? sigil.grpcPort : sigil.httpPort);
      const runs: RunRecord[] = [];
      for (const level of setup.levels ?? LEVELS) {
        const run = await bench.measureQuietly(() => measure(scenario, level, target, fixtures, config, bench.options.grpcClient));
        if (preflight) run.problems.unshift(`wrong answer before the load: ${preflight}`);
        bench.record(run);
        runs.push(run);
      }
      // Open loop at fractions of the rate this server just reached saturated, on the same server.
      const saturated = runs.find((r) => r.level === "throughput" && r.problems.length === 0)?.okPerSecond;
      if (scenario.openLoop && saturated) {
        for (const percent of config.openLoopPercents) {
          const rate = { percent, saturatedRatePerSecond: saturated };
          bench.record(await bench.measureQuietly(() => measure(scenario, "open-loop", target, fixtures, config, bench.options.grpcClient, 1, rate)));
        }
      }
    }
  } finally {
    await stopSigil(sigil);
  }
  if (bench.options.cpuProfile) {
    // Node writes the profile when the server exits.
    for (const file of existsSync(profileDir) ? readdirSync(profileDir).filter((f) => f.endsWith(".cpuprofile")) : []) {
      const summary = summarizeCpuProfile(path.join(profileDir, file));
      bench.profiles.push({ target, scenarios: list.map((s) => s.id), summary });
      console.log(`CPU profile of ${target} (${summary.busyMs} ms busy): ${summary.file}\n${summary.topFunctions.slice(0, 10).map((f) => `  ${f.percent}%  ${f.name}`).join("\n")}`);
    }
  }
}

function countRuns(config: BenchConfig, selected: Scenario[]): number {
  const limits = selected.filter((s) => s.target === "bare-grpc" || s.target === "bare-grpc-tls" || s.target === "bare-connect").length;
  const compared = selected.filter((s) => COMPARISON_TARGETS.includes(s.target)).length;
  // Each open-loop run of Sigil is repeated on its limit at the same rate (runLimitOpenLoops).
  const openLoop = selected.filter((s) => s.openLoop).length * config.openLoopPercents.length * 2;
  return LEVELS.length * (selected.length - compared + limits * (config.limitRounds - 1)) + config.comparisonLevels.length * compared + openLoop;
}

/** The revocation-window setups: two `sigil serve` processes (1 worker each, both on core 0) on one database. */
const REVOCATION_SETUPS = {
  "revocation-sqlite": { title: "two instances on one SQLite file", database: "SQLite (WAL) file in a shared data directory" },
  "revocation-postgres": { title: "two instances on one PostgreSQL database", database: `PostgreSQL, pinned to core ${POSTGRES_CPUS}` },
} as const;
type RevocationSetupId = keyof typeof REVOCATION_SETUPS;

/** Starts a revoker and a verifier on one data directory (and so one database, server secret and admin key) and times revocations. */
async function runRevocationWindow(bench: BenchRun, id: RevocationSetupId, dataset: Dataset): Promise<void> {
  if (!bench.revocationSetups.includes(id)) return;
  const setup = REVOCATION_SETUPS[id];
  mkdirSync(dataset.dataDir, { recursive: true, mode: 0o700 });
  // The same settings the servers read (the harness's environment passes on to them).
  const feedPollIntervalMs = loadConfig([], { ...process.env, SIGIL_DATA_DIR: dataset.dataDir }).feedPollIntervalMs;
  const options = (name: string): SigilOptions => ({
    dataDir: dataset.dataDir,
    cpus: SERVER_CPUS,
    logFile: bench.log(`sigil-${id}-${name}.log`),
    ...(dataset.databaseUrl === undefined ? {} : { databaseUrl: dataset.databaseUrl }),
  });
  // The first start migrates and creates the server secret and admin key; the second shares them.
  const revoker = await startSigil(options("revoker"));
  try {
    const verifier = await startSigil(options("verifier"));
    try {
      const rounds = bench.config.revocationRounds;
      console.log(`revocation window, ${setup.title}: ${rounds} revocations…`);
      const result = await measureRevocationWindow(
        {
          id,
          title: setup.title,
          setup: `${setup.database}; both processes SIGIL_WORKERS=1 on core ${SERVER_CPUS}, SIGIL_FEED_POLL_INTERVAL ${feedPollIntervalMs} ms`,
          feedPollIntervalMs,
        },
        revoker,
        verifier,
        rounds,
      );
      bench.revocationWindows.push(result);
      console.log(
        `  median ${result.medianMs ?? "–"} ms, p90 ${result.p90Ms ?? "–"} ms, max ${result.maxMs ?? "–"} ms` +
          `${result.problems.length > 0 ? `; ${result.problems.join("; ")}` : ""}`,
      );
    } finally {
      await stopSigil(verifier);
    }
  } finally {
    await stopSigil(revoker);
  }
}

/** The PostgreSQL phase: a throwaway cluster pinned to POSTGRES_CPUS, seeded like the main database, then the scenarios and the revocation window on it. */
async function runPostgres(bench: BenchRun, dataset: Dataset): Promise<void> {
  const scenariosOnPostgres = bench.scenariosOn("sigil-postgres").length > 0;
  if (!scenariosOnPostgres && !bench.revocationSetups.includes("revocation-postgres")) return;
  console.log("starting a PostgreSQL cluster…");
  const postgres: BenchPostgres = await startPostgres();
  try {
    bench.postgres = { version: postgres.version, binDir: postgres.binDir };
    dataset.databaseUrl = postgres.databaseUrl;
    if (scenariosOnPostgres) await bench.phase("seeding PostgreSQL", () => seedDatasets(bench, [dataset]));
    // Pinned after seeding, which is not measured and may use both cores.
    pinPostgres(postgres.postmasterPid, POSTGRES_CPUS);
    await bench.phase("Sigil on PostgreSQL", () =>
      runSigil(bench, "sigil-postgres", dataset, { databasePids: [postgres.postmasterPid], levels: bench.config.comparisonLevels }),
    );
    await bench.phase("revocation window, PostgreSQL", () => runRevocationWindow(bench, "revocation-postgres", dataset));
  } finally {
    postgres.destroy();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { config } = options;
  const started = Date.now();
  const date = new Date().toISOString();
  const pinProblem = pinThisProcess(LOAD_CPUS);
  const all = scenarios(config);
  // --only keeps the named scenarios and the limits they are compared with.
  const wanted = options.only.length === 0 ? all : all.filter((s) => options.only.some((id) => s.id.includes(id)));
  const limitIds = new Set(wanted.map((s) => s.limitId).filter(Boolean));
  const named = (id: string): boolean => options.only.length === 0 || options.only.some((part) => id.includes(part));
  // PostgreSQL needs an installed server; quick runs leave it out (a cluster start and a seeding) unless --only names it.
  const postgresMissing = postgresUnavailable();
  const postgresWanted = all.some((s) => s.target === "sigil-postgres" && named(s.id)) || named("revocation-postgres");
  const postgresSkipped =
    !postgresWanted ? undefined
    : postgresMissing ? `${postgresMissing}: the PostgreSQL scenarios and revocation window were skipped.`
    : !config.postgresByDefault && options.only.length === 0
      ? `Quick mode leaves out PostgreSQL (cluster start, seeding, its scenarios and revocation window: about 20 s more); ` +
        `\`node dist/bench/run.js --quick --only postgres\` runs them.`
      : undefined;
  const selected = all.filter((s) => (wanted.includes(s) || limitIds.has(s.id)) && !(s.target === "sigil-postgres" && postgresSkipped));
  const revocationSetups = (Object.keys(REVOCATION_SETUPS) as RevocationSetupId[]).filter(
    (id) => named(id) && !(id === "revocation-postgres" && postgresSkipped),
  );
  const featurePairs = FEATURE_PAIRS.filter((pair) => pairSelected(pair, options.only));
  const dir = prepareRunDir();
  const bench = new BenchRun(options, selected, revocationSetups, featurePairs, dir, countRuns(config, selected) + 2 * config.featureCost.rounds * featurePairs.length);
  if (pinProblem) bench.notes.push(pinProblem);
  if (postgresSkipped) bench.notes.push(postgresSkipped);
  console.log(
    `sigil bench (${config.mode}): ${selected.length} scenarios, ${featurePairs.length} feature-cost pairs, ${revocationSetups.length} revocation-window setups; logs in ${dir}` +
      (postgresSkipped ? `\n${postgresSkipped}` : ""),
  );

  const datasets: Record<Dataset["name"], Dataset> = {
    main: { name: "main", keyCount: config.mainKeyCount, dataDir: path.join(dir, "data-main"), keysFile: path.join(dir, "keys-main.txt") },
    small: { name: "small", keyCount: config.scalingKeyCount, dataDir: path.join(dir, "data-small"), keysFile: path.join(dir, "keys-small.txt") },
    // Same key count as main, so that cache misses compare across databases.
    postgres: { name: "postgres", keyCount: config.mainKeyCount, dataDir: path.join(dir, "data-postgres"), keysFile: path.join(dir, "keys-postgres.txt") },
    revocation: { name: "revocation", keyCount: 0, dataDir: path.join(dir, "data-revocation"), keysFile: path.join(dir, "keys-revocation.txt") },
    // Issue #13: as many keys as main, dealt out to TENANT_COUNT tenants (1,000 × 1,000 in a full run).
    tenants: { name: "tenants", keyCount: config.mainKeyCount, tenants: TENANT_COUNT, dataDir: path.join(dir, "data-tenants"), keysFile: path.join(dir, "keys-tenants.txt") },
  };
  const needsTenants = selected.some((s) => s.target === "sigil-tenants" || s.target === "sigil-tenants-uncached") || featurePairs.some((p) => p.on.dataset === "tenants" || p.off.dataset === "tenants");
  const needsSmall = selected.some((s) => s.target === "sigil-small-uncached");
  const needsMain = featurePairs.length > 0 || selected.some((s) => ["sigil-main", "sigil-tls", "sigil-main-uncached", "sigil-workers-1", "sigil-workers-2"].includes(s.target));
  // A phase that fails is reported and the run goes on with the next one.
  const phase = (name: string, body: () => Promise<void>): Promise<void> => bench.phase(name, body);
  try {
    await phase("seeding", () =>
      seedDatasets(bench, [...(needsSmall ? [datasets.small] : []), ...(needsMain ? [datasets.main] : []), ...(needsTenants ? [datasets.tenants] : [])]),
    );
    await phase("limits", () => runLimits(bench, 1));
    await phase("Sigil, small database, cache size 1", () => runSigil(bench, "sigil-small-uncached", datasets.small, { cacheSize: UNCACHED_CACHE_SIZE }));
    await phase("Sigil, main database", () => runSigil(bench, "sigil-main", datasets.main));
    await phase("Sigil, main database, TLS", () => runSigil(bench, "sigil-tls", datasets.main, { tls: bench.tls }));
    await runFeatureCosts(bench, datasets, (id) => all.find((s) => s.id === id)!);
    await phase("Sigil, main database, cache size 1", () => runSigil(bench, "sigil-main-uncached", datasets.main, { cacheSize: UNCACHED_CACHE_SIZE }));
    await phase(`Sigil, ${int(TENANT_COUNT)} tenants database`, () => runSigil(bench, "sigil-tenants", datasets.tenants));
    await phase(`Sigil, ${int(TENANT_COUNT)} tenants database, cache size 1`, () => runSigil(bench, "sigil-tenants-uncached", datasets.tenants, { cacheSize: UNCACHED_CACHE_SIZE }));
    // The workers comparison: both on both cores, the generator on one thread (it shares core 1 with the server).
    for (const workers of [1, 2]) {
      await phase(`Sigil, main database, ${workers} worker(s) on cores ${WORKERS_SERVER_CPUS}`, () =>
        runSigil(bench, workers === 1 ? "sigil-workers-1" : "sigil-workers-2", datasets.main, {
          cpus: WORKERS_SERVER_CPUS,
          workers,
          levels: config.comparisonLevels,
          loadThreads: 1,
        }),
      );
    }
    await phase("revocation window, SQLite", () => runRevocationWindow(bench, "revocation-sqlite", datasets.revocation));
    await phase("PostgreSQL", () => runPostgres(bench, datasets.postgres));
    for (let round = 2; round <= config.limitRounds; round++) await phase(`limits, round ${round}`, () => runLimits(bench, round));
    await phase("limits, open loop at Sigil's rates", () => runLimitOpenLoops(bench));
  } finally {
    const noisy = bench.runs.filter((r) => bench.isNoisy(r));
    if (noisy.length > 0) {
      bench.notes.push(
        `${noisy.length} of ${bench.runs.length} runs were measured while other processes took more than ${config.noiseThresholdPercent}% of a core ` +
          `(marked ⚠; their figures, and ratios built on them, are unreliable): ${noisy.map((r) => `${r.scenarioId} ${r.concurrency}`).join(", ")}.`,
      );
    }
    if (!options.keepData) {
      for (const d of Object.values(datasets)) {
        rmSync(d.dataDir, { recursive: true, force: true });
        rmSync(d.keysFile, { force: true });
      }
    }
  }

  // Tables and chart follow the scenario list, not the order the servers happened to run in.
  const order = (id: string): number => all.findIndex((s) => s.id === id);
  const comparisons = compareWithLimits(bench.runs).sort((a, b) => order(a.run.scenarioId) - order(b.run.scenarioId));
  const results: BenchResults = {
    date,
    commit: gitCommit(),
    machine: machineInfo(),
    config,
    setup: describeSetup(config, options.grpcClient, threadCpuLists()),
    datasets: Object.values(datasets)
      .filter((d) => d.seededWith !== undefined)
      .map((d) => ({ name: d.name, keyCount: d.keyCount, seededWith: d.seededWith!, seedSeconds: d.seedSeconds ?? 0 })),
    runs: bench.runs,
    comparisons,
    targets: judgeTargets(config, comparisons, bench.runs, bench.featureCosts),
    featureCosts: bench.featureCosts,
    generatorChecks: bench.generatorChecks,
    revocationWindows: bench.revocationWindows,
    ...(bench.postgres ? { postgres: bench.postgres } : {}),
    profiles: bench.profiles,
    notes: bench.notes,
    durationSeconds: Math.round((Date.now() - started) / 1000),
  };
  const resultsDir = options.resultsDir;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, "latest.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(path.join(resultsDir, "latest.md"), renderMarkdown(results));
  writeFileSync(path.join(resultsDir, "latest.svg"), renderSvg(results));
  console.log(`\n${results.targets.map((t) => `${t.status.padEnd(4)}  ${t.description}: ${t.measured} (goal ${t.goal})`).join("\n")}`);
  console.log(`\nwrote ${path.relative(process.cwd(), resultsDir) || "."}/latest.{json,md,svg} in ${results.durationSeconds} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
