// Main-thread side of the load generator: splits a load across worker threads (which inherit the
// harness's pinning to the load core), starts them together once all are connected, and merges
// their results into one figure.
import { Worker } from "node:worker_threads";
import { mergeEncodedHistograms, summarizeLatency, type LatencySummaryMs } from "../histogram.js";
import type { LoadSpec, WorkerMessage, WorkerResult } from "./spec.js";

export interface LoadResult {
  requestsPerSecond: number;
  completed: number;
  windowMs: number;
  /** Completed calls by gRPC status name; everything but OK is an error. */
  statusCounts: Record<string, number>;
  errors: number;
  latencyMs: LatencySummaryMs;
  abandoned: number;
  hitRequestCap: boolean;
  workers: number;
  /** Open-loop runs: calls scheduled in the window, calls dropped for a full backlog, and how late calls were sent. */
  openLoop?: { scheduled: number; dropped: number; sendLagMs: LatencySummaryMs };
}

const WORKER_URL = new URL("./worker.js", import.meta.url);

/** Splits `total` into `parts` near-equal positive integers. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function workerSpecs(spec: LoadSpec, workerCount: number): LoadSpec[] {
  const count = Math.max(1, Math.min(workerCount, spec.connections));
  const connections = split(spec.connections, count);
  const caps = split(spec.maxRequests, count);
  return connections.map((share, i) => ({
    ...spec,
    connections: share,
    maxRequests: caps[i]!,
    ...(spec.openLoop ? { openLoop: { ratePerSecond: spec.openLoop.ratePerSecond / count } } : {}),
    requests: spec.requests.kind === "random-key" ? { ...spec.requests, seed: spec.requests.seed + i * 7919 } : spec.requests,
  }));
}

interface RunningWorker {
  worker: Worker;
  ready: Promise<void>;
  done: Promise<WorkerResult>;
}

function startWorker(spec: LoadSpec): RunningWorker {
  const worker = new Worker(WORKER_URL, { workerData: spec });
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = new Promise<WorkerResult>((resolve, reject) => {
    worker.on("message", (message: WorkerMessage) => {
      if (message.type === "ready") markReady();
      else if (message.type === "done") resolve(message.result);
      else reject(new Error(`load worker failed: ${message.error}`));
    });
    worker.on("error", reject);
    worker.on("exit", (code) => reject(new Error(`load worker exited with code ${code}`)));
  });
  // A worker that fails before "ready" must not leave the barrier waiting forever.
  done.catch(() => markReady());
  return { worker, ready, done };
}

/**
 * Runs one load to completion. `onGo` is called when the workers are told to start, so the caller
 * can sample resource use over the same warm-up and measured window.
 */
export async function generateLoad(spec: LoadSpec, workerCount: number, onGo?: () => void): Promise<LoadResult> {
  if (spec.host !== "127.0.0.1") throw new Error(`refusing to generate load against ${String(spec.host)}`);
  const running = workerSpecs(spec, workerCount).map(startWorker);
  try {
    await Promise.all(running.map((w) => w.ready));
    for (const w of running) w.worker.postMessage({ type: "go" });
    onGo?.();
    const results = await Promise.all(running.map((w) => w.done));
    return mergeResults(results);
  } finally {
    await Promise.all(running.map((w) => w.worker.terminate()));
  }
}

function mergeResults(results: WorkerResult[]): LoadResult {
  const statusCounts: Record<string, number> = {};
  for (const result of results) {
    for (const [name, count] of Object.entries(result.statusCounts)) statusCounts[name] = (statusCounts[name] ?? 0) + count;
  }
  const completed = results.reduce((sum, r) => sum + r.completed, 0);
  const windowMs = Math.max(...results.map((r) => r.windowMs));
  const histogram = mergeEncodedHistograms(results.map((r) => r.histogram));
  const latencyMs = summarizeLatency(histogram);
  histogram.destroy();
  return {
    ...(results[0]?.openLoop ? { openLoop: mergeOpenLoop(results) } : {}),
    // Each worker's rate over its own window, summed: windows start within a few ms of each other.
    requestsPerSecond: Math.round(results.reduce((sum, r) => sum + (r.windowMs > 0 ? (r.completed * 1000) / r.windowMs : 0), 0)),
    completed,
    windowMs: Math.round(windowMs),
    statusCounts,
    errors: completed - (statusCounts.OK ?? 0),
    latencyMs,
    abandoned: results.reduce((sum, r) => sum + r.abandoned, 0),
    hitRequestCap: results.some((r) => r.hitRequestCap),
    workers: results.length,
  };
}

function mergeOpenLoop(results: WorkerResult[]): NonNullable<LoadResult["openLoop"]> {
  const lag = mergeEncodedHistograms(results.map((r) => r.openLoop!.sendLagHistogram));
  const sendLagMs = summarizeLatency(lag);
  lag.destroy();
  return {
    scheduled: results.reduce((sum, r) => sum + r.openLoop!.scheduled, 0),
    dropped: results.reduce((sum, r) => sum + r.openLoop!.dropped, 0),
    sendLagMs,
  };
}
