// Runs one scenario at one concurrency level against a running server and records the load result
// together with what the server used meanwhile: CPU over the measured window, peak RSS.
import { LOAD_CPUS, requestCap, SERVER_CPUS, type BenchConfig } from "./config.js";
import type { Fixtures } from "./fixtures.js";
import type { LatencySummaryMs } from "./histogram.js";
import { generateLoad, type LoadResult } from "./load/generator.js";
import type { GrpcClientKind } from "./load/spec.js";
import { concurrencyLabel, concurrencyOf, type Level, type Scenario } from "./scenarios.js";
import { processTree, readCoreTicks, readPeakRssKb, readTreeCpuSeconds, resetPeakRss, RssSampler } from "./servers/proc-stats.js";
import { METHOD_PATHS } from "./sigil-rpc.js";

export interface RunRecord {
  scenarioId: string;
  title: string;
  label: string;
  target: Scenario["target"];
  protocol: Scenario["protocol"];
  path: string;
  level: Level;
  concurrency: string;
  limitId?: string;
  /** 1-based round for limits measured more than once. */
  round: number;
  result?: LoadResult;
  /** Successful calls per second: what targets are judged on. */
  okPerSecond?: number;
  skipped?: string;
  problems: string[];
  /** Server processes (all workers) plus, on PostgreSQL, the database's; percent of one core. */
  serverCpuPercent?: number;
  loadCpuPercent?: number;
  /**
   * CPU taken on the two cores by anything but the server and the generator (other processes,
   * steal), in percent of one core: the noise this run was measured under.
   */
  otherCpuPercent?: number;
  /**
   * Steal time of the two cores (what the hypervisor took), in percent of one core. It is counted in
   * the cores' busy time, so in otherCpuPercent, except where the processes' own CPU times absorbed it.
   */
  stealCpuPercent?: number;
  /** How many times the run was measured (more than 1 when earlier attempts were noisy). */
  attempts?: number;
  peakRssMb?: number;
  rssSource?: "VmHWM" | "VmRSS samples";
  /** Open-loop runs: the rate asked for, as a fraction of the scenario's saturated rate, and what the schedule saw. */
  openLoop?: OpenLoopRecord;
}

export interface OpenLoopRecord {
  percentOfSaturation: number;
  /** The saturated rate the percentage is of (the paced scenario's, for a limit paced to it). */
  saturatedRatePerSecond: number;
  targetRatePerSecond: number;
  /**
   * A limit's open-loop run: the Sigil scenario whose open-loop rate it was sent at, so the report
   * can show what the bare server does at exactly that rate.
   */
  pacedTo?: string;
  scheduled: number;
  dropped: number;
  /** How late calls left against their schedule: the generator's lag plus waiting for a free stream. */
  sendLagMs?: LatencySummaryMs;
}

/** An open-loop run's rate: `percent` of the saturated rate `saturatedRatePerSecond`. */
export interface OpenLoopRate {
  percent: number;
  saturatedRatePerSecond: number;
  /** See OpenLoopRecord.pacedTo. */
  pacedTo?: string;
}

export interface MeasureTarget {
  /** The server process; its descendants (the workers of a supervisor) count as the server too. */
  pid: number;
  port: number;
  /** Processes, with their descendants, whose CPU counts as the server's but not their RSS: a PostgreSQL postmaster. */
  databasePids?: number[];
  /** The server speaks TLS on this port; clients trust this CA. */
  tls?: { ca: string };
}

const cpuNow = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

export async function measure(
  scenario: Scenario,
  level: Level,
  server: MeasureTarget,
  fixtures: Fixtures,
  config: BenchConfig,
  grpcClient: GrpcClientKind,
  round = 1,
  openLoop?: OpenLoopRate,
): Promise<RunRecord> {
  if ((level === "open-loop") !== (openLoop !== undefined)) throw new Error("an open-loop run needs a rate, and only it");
  const concurrency = concurrencyOf(config, level, scenario.protocol);
  const ratePerSecond = openLoop && Math.round((openLoop.saturatedRatePerSecond * openLoop.percent) / 100);
  const record: RunRecord = {
    scenarioId: scenario.id,
    title: scenario.title,
    label: scenario.label,
    target: scenario.target,
    protocol: scenario.protocol,
    path: METHOD_PATHS[scenario.method],
    level,
    concurrency: concurrencyLabel(concurrency),
    ...(scenario.limitId === undefined ? {} : { limitId: scenario.limitId }),
    round,
    problems: [],
    ...(openLoop
      ? {
          openLoop: {
            percentOfSaturation: openLoop.percent,
            saturatedRatePerSecond: openLoop.saturatedRatePerSecond,
            targetRatePerSecond: ratePerSecond!,
            ...(openLoop.pacedTo === undefined ? {} : { pacedTo: openLoop.pacedTo }),
            scheduled: 0,
            dropped: 0,
          },
        }
      : {}),
  };
  const requests = scenario.requests(fixtures);
  if (requests === undefined) return { ...record, skipped: "no stored keys to draw from (seeding unavailable)" };

  // RSS is summed over the server's processes (supervisor and workers), CPU also over its database's.
  const serverPids = processTree([server.pid]);
  const cpuRoots = [server.pid, ...(server.databasePids ?? [])];
  const hwmReset = serverPids.map(resetPeakRss).every(Boolean);
  const rssSamplers = serverPids.map((pid) => new RssSampler(pid));
  const cores = [Number(SERVER_CPUS), Number(LOAD_CPUS)];
  const window = { serverCpu: [0, 0], loadCpu: [0, 0], wall: [0, 0], coreBusy: [0, 0], coreSteal: [0, 0], coreTotal: [0, 0] };
  const timers: NodeJS.Timeout[] = [];
  const sample = (i: 0 | 1): void => {
    window.serverCpu[i] = readTreeCpuSeconds(cpuRoots) ?? NaN;
    window.loadCpu[i] = cpuNow();
    window.wall[i] = performance.now() / 1000;
    const ticks = cores.map(readCoreTicks);
    window.coreBusy[i] = ticks.reduce((sum, t) => sum + (t?.busy ?? NaN), 0);
    window.coreSteal[i] = ticks.reduce((sum, t) => sum + (t?.steal ?? NaN), 0);
    window.coreTotal[i] = ticks.reduce((sum, t) => sum + (t?.total ?? NaN), 0);
  };
  const onGo = (): void => {
    timers.push(setTimeout(() => sample(0), config.warmupMs));
    timers.push(setTimeout(() => sample(1), config.warmupMs + config.durationMs));
  };

  try {
    const result = await generateLoad(
      {
        protocol: scenario.protocol,
        grpcClient,
        host: "127.0.0.1",
        port: server.port,
        ...(server.tls ? { tls: server.tls } : {}),
        path: record.path,
        headers: scenario.headers?.(fixtures) ?? {},
        requests,
        connections: concurrency.connections,
        streamsPerConnection: concurrency.streamsPerConnection,
        warmupMs: config.warmupMs,
        durationMs: config.durationMs,
        maxRequests: requestCap(config),
        ...(ratePerSecond ? { openLoop: { ratePerSecond } } : {}),
      },
      // One thread for a fixed rate: two spinning schedulers on one core would delay each other's sends.
      level === "throughput" ? config.loadThreads : 1,
      onGo,
    );
    record.result = result;
    record.okPerSecond = Math.round(result.windowMs > 0 ? ((result.statusCounts.OK ?? 0) * 1000) / result.windowMs : 0);
    if (result.errors > 0) record.problems.push(`${result.errors} calls failed: ${JSON.stringify(result.statusCounts)}`);
    if (result.hitRequestCap) record.problems.push("stopped by the request cap before the window ended");
    if (result.abandoned > 0) record.problems.push(`${result.abandoned} calls still unanswered 5 s after the window`);
    if (record.openLoop && result.openLoop) {
      record.openLoop = { ...record.openLoop, ...result.openLoop };
      if (result.openLoop.dropped > 0) record.problems.push(`${result.openLoop.dropped} scheduled calls dropped: over a second of calls waited for a stream`);
    }
  } catch (err) {
    record.problems.push(`load failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    timers.forEach(clearTimeout);
  }
  const rssSamplesKb = rssSamplers.reduce((sum, sampler) => sum + sampler.stop(), 0);
  const hwmKb = hwmReset ? serverPids.reduce((sum, pid) => sum + (readPeakRssKb(pid) ?? 0), 0) : undefined;
  record.peakRssMb = Math.round((hwmKb ?? rssSamplesKb) / 1024);
  record.rssSource = hwmKb === undefined ? "VmRSS samples" : "VmHWM";
  const wall = window.wall[1]! - window.wall[0]!;
  if (wall > 0) {
    record.serverCpuPercent = Math.round((100 * (window.serverCpu[1]! - window.serverCpu[0]!)) / wall);
    record.loadCpuPercent = Math.round((100 * (window.loadCpu[1]! - window.loadCpu[0]!)) / wall);
    const coresBusyPercent = (200 * (window.coreBusy[1]! - window.coreBusy[0]!)) / (window.coreTotal[1]! - window.coreTotal[0]!);
    const other = Math.round(coresBusyPercent - record.serverCpuPercent - record.loadCpuPercent);
    if (Number.isFinite(other)) record.otherCpuPercent = Math.max(0, other);
    const steal = Math.round((200 * (window.coreSteal[1]! - window.coreSteal[0]!)) / (window.coreTotal[1]! - window.coreTotal[0]!));
    if (Number.isFinite(steal)) record.stealCpuPercent = steal;
  }
  return record;
}

/** Loads a freshly started server, unmeasured, with a scenario's saturating load. */
export async function warmUpServer(
  scenario: Scenario,
  server: MeasureTarget,
  fixtures: Fixtures,
  config: BenchConfig,
  grpcClient: GrpcClientKind,
): Promise<void> {
  await measure(scenario, "throughput", server, fixtures, { ...config, warmupMs: 0, durationMs: config.serverWarmupMs }, grpcClient);
}
