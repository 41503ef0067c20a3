import cluster from "node:cluster";
import { build, type SigilApp } from "../app/build.js";
import { listenError } from "../app/listen-error.js";
import { DatabaseWaitAborted } from "../app/database-wait.js";
import { ServeSignals } from "../app/serve-signals.js";
import { WorkerStartError, WorkerSupervisor, type WorkerFailedMessage, type WorkerReadyMessage } from "../app/worker-supervisor.js";
import { ConfigError, loadConfig, SETTINGS, type Config } from "../config/config.js";
import { heapAboveLimit, heapLimitFlag } from "../config/memory-limit.js";
import { createLogger } from "../log/logger.js";
import { clusterMetricsSource } from "../observability/cluster-metrics.js";
import { MetricsListener } from "../observability/metrics-listener.js";
import { describeFailure } from "./cli-errors.js";

export const SERVE_HELP = `Usage: sigil serve [options]

Starts Sigil: the gRPC listener and the HTTP (Connect, gRPC-Web, JSON) listener.
With --workers N > 1 a supervisor runs N processes on the same ports and restarts any that crash.
Every option can also be set with its environment variable; flags win.

${Object.values(SETTINGS)
  .map((s) => `  ${(s.flag + " <value>").padEnd(30)} ${s.env.padEnd(26)} ${s.help} (default: ${s.defaultText})`)
  .join("\n")}
`;

/** `sigil serve`: starts the server (or its workers) and stops gracefully on SIGTERM or SIGINT. */
export async function serveCommand(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig(args, process.env);
    if (config.workers > 1 && config.databaseUrl === "sqlite::memory:") {
      throw new ConfigError(`${SETTINGS.workers.env} (${SETTINGS.workers.flag}) must be 1 with an in-memory SQLite database: each process would have its own`);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sigil: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (cluster.isWorker) return serveWorker(config);
  // V8's heap size is fixed when a process starts: to keep to SIGIL_MEMORY_LIMIT, one worker runs
  // in a process of its own started with the cap, unless this node already has one within it.
  if (config.workers > 1 || (config.memoryLimitBytes !== undefined && heapAboveLimit(config.memoryLimitBytes))) return superviseWorkers(config);
  return serveOneProcess(config);
}

/** One process serving both listeners; the behaviour of `--workers 1`. */
async function serveOneProcess(config: Config): Promise<number> {
  const signals = new ServeSignals();
  let app: SigilApp;
  try {
    app = await build(config, { startSignal: signals.startSignal });
  } catch (err) {
    if (err instanceof DatabaseWaitAborted) return 0;
    throw err;
  }
  return serveUntilStopped(app, signals);
}

/** Serves until a stop is requested, then closes gracefully: 0 when that went well. */
async function serveUntilStopped(app: SigilApp, signals: ServeSignals): Promise<number> {
  // SIGHUP re-reads the TLS files.
  signals.onHangup(() => app.log.info({ signal: "SIGHUP", tls: app.reloadTls() }, "TLS reload requested"));
  const why = await signals.stopRequested;
  app.log.info({ signal: why }, "shutting down");
  return app.close().then(
    () => 0,
    () => 1,
  );
}

/** A worker under the supervisor: tells it the ports, and also stops if the supervisor vanishes. */
async function serveWorker(config: Config): Promise<number> {
  const signals = new ServeSignals();
  let app: SigilApp;
  try {
    app = await build(config, { startSignal: signals.startSignal, metricsExport: "cluster-worker" });
  } catch (err) {
    if (err instanceof DatabaseWaitAborted) {
      // Told to stop before it was up: nothing to drain (a plain disconnect exits the worker with 0).
      if (process.connected) process.disconnect();
      return 0;
    }
    return failWorkerStart(err);
  }
  try {
    return await serveWorkerUntilStopped(app, signals);
  } finally {
    // The IPC channel would keep the process alive after everything else closed.
    if (process.connected) process.disconnect();
  }
}

/**
 * A worker that cannot start tells the supervisor why (which prints it, once) and exits with code 1.
 * A plain process.disconnect() would not do: node:cluster then exits the worker with code 0.
 */
async function failWorkerStart(err: unknown): Promise<number> {
  const message = describeFailure(err).line.replace(/^sigil: /, "");
  const failed: WorkerFailedMessage = { type: "sigil:start-failed", message };
  const sent = process.connected && (await new Promise<boolean>((resolve) => process.send!(failed, undefined, {}, (e) => resolve(!e))));
  if (!sent) process.stderr.write(`sigil: ${message}\n`);
  process.exitCode = 1;
  // Marks the disconnect as intended (no forced exit 0); a handle left open cannot hold the exit.
  if (process.connected) cluster.worker?.disconnect();
  setTimeout(() => process.exit(1), 5000).unref();
  return 1;
}

async function serveWorkerUntilStopped(app: SigilApp, signals: ServeSignals): Promise<number> {
  const ready: WorkerReadyMessage = { type: "sigil:ready", grpcPort: app.grpcPort, httpPort: app.httpPort };
  process.send?.(ready);
  // The supervisor died (even by SIGKILL): no one would restart or stop this worker.
  process.once("disconnect", () => signals.requestStop("supervisor gone"));
  return serveUntilStopped(app, signals);
}

/** The supervisor: forks the workers, restarts crashed ones, and drains them all on SIGTERM/SIGINT. */
async function superviseWorkers(config: Config): Promise<number> {
  const log = createLogger(config.logLevel).child({ role: "supervisor" });
  const nodeArgs = config.memoryLimitBytes === undefined ? [] : [heapLimitFlag(config.memoryLimitBytes)];
  const supervisor = new WorkerSupervisor({ workers: config.workers, log, shutdownGraceMs: config.shutdownGraceMs, nodeArgs });
  // One /metrics for all workers, bound before any is forked: a port in use stops start-up at once.
  let metrics: MetricsListener | undefined;
  if (config.metricsAddress) {
    metrics = new MetricsListener(clusterMetricsSource(), log);
    try {
      const port = await metrics.listen(config.metricsAddress);
      log.info({ metrics: `${config.metricsAddress.host}:${port}` }, "metrics listening");
    } catch (err) {
      process.stderr.write(`sigil: ${listenError(SETTINGS.metricsAddress, config.metricsAddress, err).message}\n`);
      await metrics.close();
      return 1;
    }
  }
  let stopping: Promise<number> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, "stopping every worker");
      await supervisor.stop();
      await metrics?.close();
      log.info("all workers stopped");
      log.flush();
      return 0;
    })();
    return stopping;
  };
  const stopped = new Promise<number>((resolve) => {
    process.once("SIGTERM", () => void stop("SIGTERM").then(resolve));
    process.once("SIGINT", () => void stop("SIGINT").then(resolve));
  });
  // Every worker reloads its own TLS files: pass SIGHUP on (and do not exit on it).
  process.on("SIGHUP", () => supervisor.signalWorkers("SIGHUP"));
  try {
    await supervisor.start();
  } catch (err) {
    if (stopping) return stopping;
    // One line, the first worker's own (a port in use, a data directory others can write, ...).
    process.stderr.write(err instanceof WorkerStartError ? `sigil: ${err.message}\n` : describeFailure(err).line + "\n");
    await supervisor.stop();
    await metrics?.close();
    log.flush();
    return 1;
  }
  return stopped;
}
