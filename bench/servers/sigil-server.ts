// Starts `sigil serve` on a data directory, pinned to the server core, and waits until gRPC health
// says SERVING (and, with workers, until every worker serves). The bench runs the server at log level
// warn (at info it writes one line per call) and with one worker unless told otherwise: Sigil's
// default is one worker per core it may use.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SigilRpc } from "../sigil-rpc.js";
import type { BenchTls } from "../tls-certificates.js";
import { findFreePort } from "./free-port.js";
import { PinnedProcess } from "./pinned-process.js";
import { waitForEveryWorker } from "./worker-readiness.js";

export const SIGIL_MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
export const SIGIL_LOG_LEVEL = "warn";
const READY_TIMEOUT_MS = 180_000;
const READY_POLL_MS = 200;

export interface SigilInstance {
  process: PinnedProcess;
  grpcPort: number;
  httpPort: number;
  adminKey: string;
  rpc: SigilRpc;
  dataDir: string;
  workers: number;
  /** Set when the server speaks TLS (both listeners). */
  tls?: BenchTls;
}

export interface SigilOptions {
  dataDir: string;
  cpus: string | undefined;
  logFile: string;
  /** Extra SIGIL_* settings, e.g. SIGIL_CACHE_SIZE. */
  env?: Record<string, string>;
  /** Processes of `serve --workers N` (default 1: one process, no supervisor). */
  workers?: number;
  /** SIGIL_DATABASE_URL; default: SQLite in the data directory. */
  databaseUrl?: string;
  /** Options for node itself, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** TLS on both listeners with these certificates. */
  tls?: BenchTls;
  /** How often start-up polls health (default 200 ms); shorter where start-up itself is timed. */
  readyPollMs?: number;
}

export async function startSigil(options: SigilOptions): Promise<SigilInstance> {
  if (!existsSync(SIGIL_MAIN)) throw new Error(`${SIGIL_MAIN} does not exist: build the server first (npx tsc -p .)`);
  const [grpcPort, httpPort] = [await findFreePort(), await findFreePort()];
  const workers = options.workers ?? 1;
  const server = new PinnedProcess({
    name: "sigil",
    cpus: options.cpus,
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), SIGIL_MAIN, "serve"],
    env: {
      ...process.env,
      SIGIL_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      SIGIL_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      // Metrics on (the default) but on a free port: the scenarios measure what operators run.
      SIGIL_METRICS_ADDR: "127.0.0.1:0",
      SIGIL_DATA_DIR: options.dataDir,
      SIGIL_LOG_LEVEL: SIGIL_LOG_LEVEL,
      SIGIL_WORKERS: String(workers),
      ...(options.databaseUrl === undefined ? {} : { SIGIL_DATABASE_URL: options.databaseUrl }),
      ...(options.tls ? { SIGIL_TLS_CERT_FILE: options.tls.certFile, SIGIL_TLS_KEY_FILE: options.tls.keyFile } : {}),
      ...options.env,
    },
    logFile: options.logFile,
  });
  const rpc = new SigilRpc(grpcPort, options.tls?.ca);
  try {
    await waitUntilServing(server, rpc, options.readyPollMs ?? READY_POLL_MS);
    if (workers > 1) await waitForEveryWorker(server.pid, workers, grpcPort, READY_TIMEOUT_MS);
    const adminKeyFile = path.join(options.dataDir, "admin.key");
    if (!existsSync(adminKeyFile)) {
      throw new Error(`${adminKeyFile} does not exist: a fresh server writes it, and so must seed.js when it creates the admin key`);
    }
    const adminKey = readFileSync(adminKeyFile, "utf8").trim();
    return { process: server, grpcPort, httpPort, adminKey, rpc, dataDir: options.dataDir, workers, ...(options.tls ? { tls: options.tls } : {}) };
  } catch (err) {
    rpc.close();
    await server.stop();
    throw err;
  }
}

async function waitUntilServing(server: PinnedProcess, rpc: SigilRpc, pollMs: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!server.running) throw new Error(`sigil exited with code ${await server.exited} during start-up`);
    if (await rpc.isServing()) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`sigil was not SERVING within ${READY_TIMEOUT_MS / 1000} s`);
}

export async function stopSigil(instance: SigilInstance): Promise<void> {
  instance.rpc.close();
  await instance.process.stop();
}
