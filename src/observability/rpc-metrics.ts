import type { DescMethod } from "@bufbuild/protobuf";
import type { Registry } from "prom-client";
import { CounterFamily, HistogramFamily, type CounterCell, type HistogramCell } from "./metric-cells.js";
import { METRIC, RPC_SECONDS_BUCKETS } from "./metric-names.js";

/** How a call reached Sigil: gRPC on either listener, Connect or gRPC-Web on the HTTP listener, or a plain HTTP route there. */
export const RPC_PROTOCOLS = ["grpc", "connect", "grpc-web", "http"] as const;
export type RpcProtocol = (typeof RPC_PROTOCOLS)[number];

/** Status code names as go-grpc-prometheus writes them (Go's codes.Code.String()), by number. */
const GO_CODE_NAMES = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied",
  "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];
const UNKNOWN = 2;

export const GRPC_TYPES: Record<DescMethod["methodKind"], string> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

/** One method's cells on one protocol, made at its first call. */
class ProtocolCells {
  readonly started: CounterCell;
  readonly seconds: HistogramCell;
  readonly #handled: Array<CounterCell | undefined> = [];
  readonly #make: (code: string) => CounterCell;

  constructor(started: CounterCell, seconds: HistogramCell, make: (code: string) => CounterCell) {
    this.started = started;
    this.seconds = seconds;
    this.#make = make;
  }

  handled(code: number): CounterCell {
    // Codes outside the 17 known are counted as Unknown: the label set stays bounded.
    const c = code >= 0 && code < GO_CODE_NAMES.length ? code : UNKNOWN;
    return (this.#handled[c] ??= this.#make(GO_CODE_NAMES[c]!));
  }
}

/** The RPC metrics of one registered method, per protocol. */
export class MethodRpcMetrics {
  readonly #cells: Array<ProtocolCells | undefined> = [];
  readonly #make: (protocol: RpcProtocol) => ProtocolCells;

  constructor(make: (protocol: RpcProtocol) => ProtocolCells) {
    this.#make = make;
  }

  started(protocol: number): void {
    (this.#cells[protocol] ??= this.#make(RPC_PROTOCOLS[protocol]!)).started.value++;
  }

  handled(protocol: number, code: number, seconds: number): void {
    const cells = (this.#cells[protocol] ??= this.#make(RPC_PROTOCOLS[protocol]!));
    cells.handled(code).value++;
    cells.seconds.observe(seconds);
  }
}

/**
 * go-grpc-prometheus's server metrics (names, labels, code names) plus a `protocol` label, for
 * every method a listener registers: label values come from the registered descriptors only, so
 * a request for an unknown path, which never reaches a registered handler, makes no series.
 */
export class RpcMetrics {
  readonly #started: CounterFamily;
  readonly #handled: CounterFamily;
  readonly #seconds: HistogramFamily;

  constructor(registry: Registry) {
    const labelNames = ["grpc_type", "grpc_service", "grpc_method", "protocol"];
    this.#started = new CounterFamily(registry, { name: METRIC.rpcStarted, help: "RPCs started on the server, by method and protocol.", labelNames });
    this.#handled = new CounterFamily(registry, {
      name: METRIC.rpcHandled,
      help: "RPCs completed on the server, by method, protocol and status code.",
      labelNames: ["grpc_type", "grpc_service", "grpc_method", "grpc_code", "protocol"],
    });
    this.#seconds = new HistogramFamily(registry, {
      name: METRIC.rpcHandlingSeconds,
      help: "Time from the start of an RPC to its status, in seconds, by method and protocol.",
      labelNames,
      buckets: RPC_SECONDS_BUCKETS,
    });
  }

  /** The cells of one registered method (or route): `type` is a GRPC_TYPES value, all three from the server's own registrations. */
  forCall(type: string, service: string, method: string): MethodRpcMetrics {
    return new MethodRpcMetrics(
      (protocol) =>
        new ProtocolCells(
          this.#started.cell(type, service, method, protocol),
          this.#seconds.cell(type, service, method, protocol),
          (code) => this.#handled.cell(type, service, method, code, protocol),
        ),
    );
  }
}
