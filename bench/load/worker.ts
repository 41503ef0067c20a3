// Load generator worker thread: opens its connections, waits for "go", then runs a closed loop
// (each stream sends its next call when the previous one answers), or the open loop of
// open-loop.ts when the spec names a rate, through a warm-up and a measured window, both bounded
// by time and by a request cap, and reports one WorkerResult.
import { parentPort, workerData } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { encodeHistogram, newLatencyHistogram } from "../histogram.js";
import { countsByStatusName } from "../grpc-status.js";
import type { Connection } from "./connection.js";
import { openHttp1WireConnection } from "./http1-wire-connection.js";
import { openGrpcJsConnection } from "./grpc-js-connection.js";
import { openGrpcWireConnection } from "./grpc-wire-connection.js";
import { runOpenLoop } from "./open-loop.js";
import { createRequestSource } from "./request-source.js";
import type { ControlMessage, LoadSpec, WorkerMessage, WorkerResult } from "./spec.js";

/** How long calls still in flight at the end may take before they are abandoned. */
const DRAIN_GRACE_MS = 5_000;

function post(message: WorkerMessage): void {
  parentPort!.postMessage(message);
}

function openConnection(spec: LoadSpec): Connection {
  if (spec.host !== "127.0.0.1") throw new Error(`refusing to generate load against ${String(spec.host)}`);
  switch (spec.protocol) {
    case "grpc":
      return spec.grpcClient === "grpc-js" ? openGrpcJsConnection(spec) : openGrpcWireConnection(spec);
    case "connect-json":
    case "forward-auth":
      return openHttp1WireConnection(spec);
  }
}

function runClosedLoop(spec: LoadSpec, connections: Connection[]): Promise<WorkerResult> {
  const nextBody = createRequestSource(spec.requests, spec.protocol);
  const histogram = newLatencyHistogram();
  const statusCodes = new Array<number>(17).fill(0);
  let measuring = false;
  let stopped = false;
  let hitRequestCap = false;
  let started = 0;
  let completed = 0;
  let inFlight = 0;
  let windowStart = 0;
  let windowEnd = 0;

  return new Promise((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (drainTimer === undefined) return;
      clearTimeout(drainTimer);
      drainTimer = undefined;
      const statusCounts = countsByStatusName(statusCodes);
      resolve({
        completed,
        windowMs: windowEnd - windowStart,
        statusCounts,
        histogram: encodeHistogram(histogram),
        abandoned: inFlight,
        hitRequestCap,
      });
    };

    const sendNext = (connection: Connection): void => {
      if (stopped || started >= spec.maxRequests) {
        if (!stopped) hitRequestCap = true;
        inFlight--;
        if (stopped && inFlight === 0) finish();
        return;
      }
      started++;
      // Latency is recorded for calls sent inside the window, even when they answer after it ends:
      // otherwise a server stall across the window's end would vanish from the histogram.
      // Throughput counts the calls answered inside the window.
      const sentInWindow = measuring;
      const sentAt = performance.now();
      connection.send(nextBody(), (status) => {
        if (sentInWindow) histogram.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
        if (measuring) {
          statusCodes[status] = (statusCodes[status] ?? 0) + 1;
          completed++;
        }
        sendNext(connection);
      });
    };

    for (const connection of connections) {
      for (let stream = 0; stream < spec.streamsPerConnection; stream++) {
        inFlight++;
        sendNext(connection);
      }
    }
    setTimeout(() => {
      measuring = true;
      windowStart = performance.now();
      setTimeout(() => {
        measuring = false;
        stopped = true;
        windowEnd = performance.now();
        drainTimer = setTimeout(finish, DRAIN_GRACE_MS);
        if (inFlight === 0) finish();
      }, spec.durationMs);
    }, spec.warmupMs);
  });
}

async function main(): Promise<void> {
  const spec = workerData as LoadSpec;
  const connections = Array.from({ length: spec.connections }, () => openConnection(spec));
  await Promise.all(connections.map((connection) => connection.ready()));
  post({ type: "ready" });
  await new Promise<void>((resolve) =>
    parentPort!.once("message", (message: ControlMessage) => message.type === "go" && resolve()),
  );
  const result = await (spec.openLoop ? runOpenLoop(spec, connections) : runClosedLoop(spec, connections));
  for (const connection of connections) connection.close();
  post({ type: "done", result });
}

main().catch((err: unknown) => post({ type: "failed", error: err instanceof Error ? err.stack ?? err.message : String(err) }));
