// Run settings of the two modes. Quick is a smoke run (about a minute); full is the measurement
// (about seventeen minutes: 36 runs of 2 s warm-up + 7 s (6 of them open loop), seeding a million keys twice (SQLite, PostgreSQL),
// the workers and PostgreSQL comparisons, 4 feature-cost pairs of 2 × 4 rounds of 1 + 4 s, 2 × 100 revocations,
// re-measuring noisy runs).

export interface Concurrency {
  connections: number;
  streamsPerConnection: number;
}

export interface BenchConfig {
  mode: "quick" | "full";
  /** Unmeasured load on each freshly started server, so the JIT has compiled the hot paths. */
  serverWarmupMs: number;
  /** Unmeasured load at the start of every run, on the run's own connections. */
  warmupMs: number;
  durationMs: number;
  /** Keys stored for the scenarios that need a large database (the 1M-key cache-miss run). */
  mainKeyCount: number;
  /** Keys stored for the small end of the key-count comparison. */
  scalingKeyCount: number;
  /** Limits are measured before and, in full runs, again after Sigil: their mean is used, the spread shown. */
  limitRounds: number;
  latency: Concurrency;
  /** HTTP/2 multiplexes: a few connections with many streams each. */
  throughputHttp2: Concurrency;
  /** HTTP/1.1 has one call in flight per connection, so the same in-flight count needs more connections. */
  throughputHttp1: Concurrency;
  /** Load worker threads for a throughput run (all on the load core). */
  loadThreads: number;
  /** Upper bound on the rate a run may reach, turned into a per-run request cap. */
  maxRequestsPerSecond: number;
  /** A run during which other processes took more than this (% of one core) counts as noisy. */
  noiseThresholdPercent: number;
  /** A noisy run is measured again up to this many times; the quietest attempt is kept. */
  noisyRetries: number;
  /** Retries allowed over the whole run, so a busy machine cannot stretch it without bound. */
  noisyRetryBudget: number;
  /** Pause before a retry, to let a burst of other work pass. */
  noisyRetryPauseMs: number;
  /** Concurrency levels of the workers and PostgreSQL comparisons (quick: saturated only, to stay short). */
  comparisonLevels: ReadonlyArray<"latency" | "throughput">;
  /** Open-loop runs of the scenarios that ask for them, in percent of their saturated rate. */
  openLoopPercents: readonly number[];
  /** Revocations timed per revocation-window setup. */
  revocationRounds: number;
  /** The feature-cost pairs (feature-cost.ts): saturated rounds per side, servers per side, and each round's warm-up and measured time. */
  featureCost: { rounds: number; processesPerSide: number; warmupMs: number; durationMs: number };
  /** Whether the PostgreSQL scenarios run without being named in --only (they add a cluster start and a seeding). */
  postgresByDefault: boolean;
}

const shared = {
  latency: { connections: 1, streamsPerConnection: 1 },
  throughputHttp2: { connections: 4, streamsPerConnection: 32 },
  throughputHttp1: { connections: 32, streamsPerConnection: 1 },
  loadThreads: 2,
  maxRequestsPerSecond: 200_000,
  noiseThresholdPercent: 25,
  openLoopPercents: [25, 50, 75],
} as const;

export const QUICK: BenchConfig = {
  mode: "quick",
  serverWarmupMs: 750,
  warmupMs: 200,
  durationMs: 700,
  mainKeyCount: 10_000,
  scalingKeyCount: 1_000,
  limitRounds: 1,
  noisyRetries: 1,
  noisyRetryBudget: 3,
  noisyRetryPauseMs: 500,
  comparisonLevels: ["throughput"],
  revocationRounds: 15,
  featureCost: { rounds: 3, processesPerSide: 1, warmupMs: 200, durationMs: 700 },
  postgresByDefault: false,
  ...shared,
};

export const FULL: BenchConfig = {
  mode: "full",
  serverWarmupMs: 3_000,
  warmupMs: 2_000,
  durationMs: 7_000,
  mainKeyCount: 1_000_000,
  scalingKeyCount: 10_000,
  limitRounds: 2,
  noisyRetries: 2,
  noisyRetryBudget: 12,
  noisyRetryPauseMs: 2_000,
  comparisonLevels: ["latency", "throughput"],
  revocationRounds: 100,
  featureCost: { rounds: 4, processesPerSide: 1, warmupMs: 1_000, durationMs: 4_000 },
  postgresByDefault: true,
  ...shared,
};

/** The core the servers run on and the core the load generator runs on. */
export const SERVER_CPUS = "0";
export const LOAD_CPUS = "1";
/**
 * `--workers 2` needs both cores, so the workers comparison runs the server (1 and 2 workers alike,
 * for a fair ratio) on both, sharing core 1 with the load generator.
 */
export const WORKERS_SERVER_CPUS = "0,1";
/** PostgreSQL shares the server core with Sigil: the whole service on one core, as with in-process SQLite. */
export const POSTGRES_CPUS = "0";

export const requestCap = (config: BenchConfig): number =>
  Math.ceil(((config.warmupMs + config.durationMs) / 1000) * config.maxRequestsPerSecond);
