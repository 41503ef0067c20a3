// The "Setup" lines of the report: how the figures were produced, in words.
import { LOAD_CPUS, POSTGRES_CPUS, SERVER_CPUS, WORKERS_SERVER_CPUS, type BenchConfig } from "../config.js";
import type { GrpcClientKind } from "../load/spec.js";
import { UNCACHED_CACHE_SIZE } from "../scenarios.js";
import { SIGIL_LOG_LEVEL } from "../servers/sigil-server.js";

export function describeSetup(config: BenchConfig, grpcClient: GrpcClientKind, harnessCpus: string[]): string[] {
  const h2 = config.throughputHttp2;
  return [
    `Servers pinned to core ${SERVER_CPUS} (taskset), one at a time (a feature-cost pair's servers side by side, taking turns); the load generator's threads to core ${LOAD_CPUS} ` +
      `(threads of the harness ran on CPUs ${harnessCpus.join(", ") || "?"}).`,
    `Load generator: closed loop in ${config.loadThreads} worker threads (1 for 1×1 runs), HDR histograms (hdr-histogram-js), ` +
      "errors counted by gRPC status. " +
      (grpcClient === "wire"
        ? "gRPC through a frame-level HTTP/2 client (node:net, HPACK-indexed headers, pre-encoded bodies): a grpc-js client " +
          "costs more CPU per call than the bare grpc-js server does and cannot saturate it from one core (see the generator check)."
        : "gRPC through a grpc-js client (--grpc-client grpc-js)."),
    "Connect JSON through a byte-level HTTP/1.1 client on keep-alive connections (one call in flight per connection), as curl " +
      "and fetch send it; Sigil's HTTP listener and the bare connect-node server are both HTTP/1.1 http.createServer.",
    `Concurrency: 1×1 = 1 connection × 1 stream (latency); ${h2.connections}×${h2.streamsPerConnection} = connections × streams ` +
      `for gRPC, ${config.throughputHttp1.connections}×1 connections for HTTP/1.1 (throughput).`,
    `Sigil runs with SIGIL_LOG_LEVEL=${SIGIL_LOG_LEVEL} (per-call log lines are at info), SIGIL_WORKERS=1 and its default cache size, ` +
      `except in the "cache size ${UNCACHED_CACHE_SIZE}" rows and the workers comparison.`,
    `Issue #5 comparisons (${config.comparisonLevels.join(" and ")} runs): 1 and 2 workers both pinned to cores ${WORKERS_SERVER_CPUS}, ` +
      `sharing core ${LOAD_CPUS} with a one-thread load generator; PostgreSQL (pinned to core ${POSTGRES_CPUS}, with Sigil) against SQLite; ` +
      `the revocation window over ${config.revocationRounds} revocations per setup.`,
    "Limits: a bare grpc-js server answering the same method paths with fixed pre-serialized bytes (bench/reference/bare-grpc.ts); " +
      "a bare connect-node adapter on http.createServer returning fixed messages (bench/reference/bare-connect.ts)." +
      (config.limitRounds > 1 ? ` Measured ${config.limitRounds} times (before and after Sigil); the mean is used and ± shows half the spread.` : ""),
    "Closed-loop load: latency is measured from send to answer per call, with no correction for coordinated omission.",
  ];
}
