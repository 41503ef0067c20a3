import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";

/** What a worker sends its primary once both listeners are bound. */
export interface WorkerReadyMessage {
  readonly type: "sigil:ready";
  readonly grpcPort: number;
  readonly httpPort: number;
}

export function isWorkerReadyMessage(m: unknown): m is WorkerReadyMessage {
  return typeof m === "object" && m !== null && (m as { type?: unknown }).type === "sigil:ready";
}

/** What a worker sends its primary when it cannot start, just before it exits with code 1. */
export interface WorkerFailedMessage {
  readonly type: "sigil:start-failed";
  /** One line, secret-free (a StartupError's message, say). */
  readonly message: string;
}

function isWorkerFailedMessage(m: unknown): m is WorkerFailedMessage {
  return typeof m === "object" && m !== null && (m as { type?: unknown }).type === "sigil:start-failed" && typeof (m as { message?: unknown }).message === "string";
}

/** The first worker could not start; the message is the worker's own line when it sent one. */
export class WorkerStartError extends Error {
  override name = "WorkerStartError";
}

export interface SupervisorOptions {
  readonly workers: number;
  readonly log: Logger;
  /** How long workers may drain after SIGTERM before they are killed. */
  readonly shutdownGraceMs: number;
  /** Node flags for the workers beside the supervisor's own (the heap cap of SIGIL_MEMORY_LIMIT). */
  readonly nodeArgs?: readonly string[];
}

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that ran this long is considered healthy: the backoff starts over for its successor. */
const STABLE_AFTER_MS = 10_000;
/** Margin past the grace period for a worker to close its database and exit. */
const EXIT_MARGIN_MS = 5000;

/**
 * The cluster primary of `serve --workers N`. It runs no Sigil code itself: it forks N workers
 * that each build a full Sigil and listen on the same ports. node:cluster makes that work for both
 * listeners: the primary owns the listening sockets and hands each accepted connection to a worker,
 * round robin (Node 20 has no SO_REUSEPORT; grpc-js listens through `net` like http does, so both
 * are shared). gRPC and HTTP/2 connections are long-lived, so load spreads per connection.
 *
 * The first worker starts alone (it migrates the database, creates the server secret and the
 * first admin key); the others follow once it is ready. A worker that dies is replaced, with
 * backoff if it keeps dying young. `stop()` sends SIGTERM to every worker, which drain in-flight
 * calls, and waits for them.
 */
export class WorkerSupervisor {
  readonly #options: SupervisorOptions;
  readonly #startedAt = new Map<Worker, number>();
  /** Why a worker said it could not start, until it exits. */
  readonly #failures = new Map<Worker, string>();
  #restartDelayMs = RESTART_MIN_MS;
  #stopping = false;
  #restartTimers = new Set<NodeJS.Timeout>();

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Starts every worker; resolves with the ports once the first is ready, rejects (WorkerStartError) if it cannot start. */
  async start(): Promise<{ grpcPort: number; httpPort: number }> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    if (this.#options.nodeArgs?.length) cluster.setupPrimary({ execArgv: [...process.execArgv, ...this.#options.nodeArgs] });
    const first = this.#fork();
    const ports = await new Promise<{ grpcPort: number; httpPort: number }>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        if (!isWorkerReadyMessage(m)) return;
        first.off("exit", onExit);
        resolve({ grpcPort: m.grpcPort, httpPort: m.httpPort });
      };
      const onExit = (code: number | null, signal: string | null) => {
        first.off("message", onMessage);
        const reason = this.#failures.get(first);
        this.#failures.delete(first);
        reject(new WorkerStartError(reason ?? `the first worker exited during start-up (${signal ?? `code ${code}`}); see its log above`));
      };
      first.on("message", onMessage);
      first.once("exit", onExit);
    });
    this.#watch(first);
    for (let i = 1; i < this.#options.workers && !this.#stopping; i++) this.#watch(this.#fork());
    this.#options.log.info({ workers: this.#options.workers, ...ports }, "sigil workers started");
    return ports;
  }

  #fork(): Worker {
    const worker = cluster.fork();
    this.#startedAt.set(worker, Date.now());
    worker.on("message", (m: unknown) => {
      if (isWorkerFailedMessage(m)) this.#failures.set(worker, m.message.slice(0, 1000));
    });
    return worker;
  }

  #watch(worker: Worker): void {
    const pid = worker.process.pid;
    worker.once("exit", (code, signal) => {
      const lived = Date.now() - (this.#startedAt.get(worker) ?? 0);
      this.#startedAt.delete(worker);
      const reason = this.#failures.get(worker);
      this.#failures.delete(worker);
      if (this.#stopping) return;
      if (lived >= STABLE_AFTER_MS) this.#restartDelayMs = RESTART_MIN_MS;
      const delay = this.#restartDelayMs;
      this.#restartDelayMs = Math.min(delay * 2, RESTART_MAX_MS);
      this.#options.log.error({ workerPid: pid, code, signal, reason, restartInMs: delay }, "worker exited; starting a new one");
      const timer = setTimeout(() => {
        this.#restartTimers.delete(timer);
        if (!this.#stopping) this.#watch(this.#fork());
      }, delay);
      this.#restartTimers.add(timer);
    });
  }

  /** SIGTERM to every worker; resolves when all have exited (killing those that outlive the grace). */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    const workers = [...this.#startedAt.keys()].filter((w) => !w.isDead());
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => worker.process.kill("SIGKILL"), this.#options.shutdownGraceMs + EXIT_MARGIN_MS);
            worker.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
            worker.process.kill("SIGTERM");
          }),
      ),
    );
  }

  /** Passes a signal on to every live worker (SIGHUP: reload TLS files). */
  signalWorkers(signal: NodeJS.Signals): void {
    for (const worker of this.#startedAt.keys()) if (!worker.isDead()) worker.process.kill(signal);
  }

  /** Process ids of the live workers (for operators' logs and tests). */
  get pids(): number[] {
    return [...this.#startedAt.keys()].filter((w) => !w.isDead()).map((w) => w.process.pid!);
  }
}
