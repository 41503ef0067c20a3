// What the main thread asks a load worker to do, and what the worker reports back. Everything here
// must survive structured cloning (postMessage / workerData).

/** Which protocol the generator speaks. */
export type LoadProtocol =
  /** gRPC over HTTP/2 (h2c, or TLS when the spec says so). */
  | "grpc"
  /** Connect unary JSON POST over HTTP/1.1 (what curl and fetch send). */
  | "connect-json"
  /** Forward auth: GET of the path over HTTP/1.1 with `Authorization: Bearer <body>` (the body is the credential). */
  | "forward-auth";

/** Where request bodies come from. Bodies are encoded once up front wherever possible. */
export type RequestSourceSpec =
  /** Cycle through these pre-encoded bodies (protobuf for gRPC, JSON for Connect). */
  | { kind: "fixed"; bodies: Uint8Array[] }
  /**
   * VerifyKey for a key drawn at random from a key list per request (cache-miss load). The list is
   * one key per line in a SharedArrayBuffer, with line start offsets, shared by all workers.
   */
  | { kind: "random-key"; keyText: SharedArrayBuffer; lineStarts: SharedArrayBuffer; lineCount: number; seed: number };

/** Which client speaks gRPC: frame-level HTTP/2 (the default, cheap; see grpc-wire-connection.ts) or grpc-js. */
export type GrpcClientKind = "wire" | "grpc-js";

export interface LoadSpec {
  protocol: LoadProtocol;
  grpcClient: GrpcClientKind;
  /** Always 127.0.0.1: the generator refuses any other host. */
  host: "127.0.0.1";
  port: number;
  /** gRPC over TLS (ALPN h2), trusting this CA (PEM); plaintext h2c when absent. */
  tls?: { ca: string };
  /** gRPC method path, also the Connect URL path. */
  path: string;
  /** Extra request headers / gRPC metadata (e.g. authorization for admin RPCs). */
  headers: Record<string, string>;
  requests: RequestSourceSpec;
  /** Connections this worker opens. */
  connections: number;
  /** Concurrent in-flight calls per connection (HTTP/1.1 allows only 1). */
  streamsPerConnection: number;
  warmupMs: number;
  durationMs: number;
  /** Hard cap on calls this worker starts, warm-up included, whatever the duration. */
  maxRequests: number;
  /**
   * Open loop: calls are scheduled at this fixed rate (per worker) whatever the answers, and latency
   * is measured from each call's scheduled send time. Absent: a closed loop (each stream sends its
   * next call when the previous one answers).
   */
  openLoop?: { ratePerSecond: number };
}

/** What an open-loop run adds to its WorkerResult. */
export interface OpenLoopStats {
  /** Calls whose scheduled time fell in the measured window. */
  scheduled: number;
  /** Of those, calls never sent because the backlog was full (counted as errors by the caller). */
  dropped: number;
  /** HDR histogram (µs) of how late calls were sent against their schedule: the generator's own lag plus queueing for a free stream. */
  sendLagHistogram: string;
}

export interface WorkerResult {
  /** Calls that completed inside the measured window. */
  completed: number;
  /** Length of the measured window, from the worker's own clock. */
  windowMs: number;
  /** Completed calls by gRPC status name. OK means status 0 (an HTTP 200 with grpc-status≠0 is not OK). */
  statusCounts: Record<string, number>;
  /** HDR histogram of latencies in microseconds, encoded with encodeIntoCompressedBase64. */
  histogram: string;
  /** Calls still in flight when the drain grace period ran out. */
  abandoned: number;
  /** True when maxRequests stopped the run before its duration ended. */
  hitRequestCap: boolean;
  openLoop?: OpenLoopStats;
}

/** main → worker */
export type ControlMessage = { type: "go" };
/** worker → main */
export type WorkerMessage = { type: "ready" } | { type: "done"; result: WorkerResult } | { type: "failed"; error: string };
