import type { DescMethod } from "@bufbuild/protobuf";
import type { Context, Span } from "@opentelemetry/api";
import type { Logger } from "pino";
import { statusName } from "../transport/call-logger.js";
import { MethodAccessLog, type AccessLogMode } from "./access-log.js";
import type { CallObserver, CallScope, HeaderReader, MethodObserver, RpcProtocol } from "./call-observer.js";
import { requestIdOf, REQUEST_ID_HEADER } from "./request-id.js";
import { GRPC_TYPES, type MethodRpcMetrics, type RpcMetrics } from "./rpc-metrics.js";
import { failSpan, type SigilTracing } from "./tracing.js";

export interface ObservedCallsDeps {
  readonly log: Logger;
  readonly accessLog: AccessLogMode;
  /** Undefined with metrics off. */
  readonly metrics?: RpcMetrics | undefined;
  /** Undefined with tracing off. */
  readonly tracing?: SigilTracing | undefined;
}

const PROTOCOL_INDEX: Record<RpcProtocol, number> = { grpc: 0, connect: 1, "grpc-web": 2, http: 3 };

/** The grpc_service label (and span attribute) of the HTTP listener's plain routes. */
export const HTTP_ROUTE_SERVICE = "http";

/** Status codes that are the server's fault (OpenTelemetry's gRPC server rule for an error span). */
const SERVER_FAULTS = new Set([2, 4, 12, 13, 14, 15]);

/** The CallObserver `build()` gives both listeners. */
export class ObservedCalls implements CallObserver {
  readonly #d: ObservedCallsDeps;

  constructor(deps: ObservedCallsDeps) {
    this.#d = deps;
  }

  method(method: DescMethod): MethodObserver {
    return new ObservedMethod(method.parent.typeName, method.name, GRPC_TYPES[method.methodKind], this.#d);
  }

  route(name: string): MethodObserver {
    return new ObservedMethod(HTTP_ROUTE_SERVICE, name, GRPC_TYPES.unary, this.#d);
  }
}

class ObservedMethod implements MethodObserver {
  readonly name: string;
  readonly service: string;
  readonly method: string;
  readonly log: MethodAccessLog;
  readonly metrics: MethodRpcMetrics | undefined;
  readonly tracing: SigilTracing | undefined;

  constructor(service: string, method: string, grpcType: string, deps: ObservedCallsDeps) {
    this.service = service;
    this.method = method;
    // A route is named by its path alone ("/v1/authorize"), as in its log lines.
    this.name = service === HTTP_ROUTE_SERVICE ? method : `${service}/${method}`;
    this.log = new MethodAccessLog(deps.log, deps.accessLog, this.name);
    this.metrics = deps.metrics?.forCall(grpcType, service, method);
    this.tracing = deps.tracing;
  }

  begin(protocol: RpcProtocol, header: HeaderReader): CallScope {
    const requestId = requestIdOf(header(REQUEST_ID_HEADER));
    const index = PROTOCOL_INDEX[protocol];
    this.metrics?.started(index);
    if (this.tracing === undefined) return new Call(this, protocol, index, requestId);
    const attributes =
      protocol === "http"
        ? { "http.route": this.method, "sigil.protocol": protocol, "sigil.request_id": requestId }
        : {
            "rpc.system": protocol === "connect" ? "connect_rpc" : "grpc",
            "rpc.service": this.service,
            "rpc.method": this.method,
            "sigil.protocol": protocol,
            "sigil.request_id": requestId,
          };
    const { span, context } = this.tracing.startServerSpan(this.name, attributes, header);
    // A call the sampler left out has nothing to record and no child spans (they follow their
    // parent's decision), so it runs as an untraced call: no context switch on its awaits.
    if (!span.isRecording()) return new Call(this, protocol, index, requestId);
    return new TracedCall(this, protocol, index, requestId, this.tracing, span, context);
  }
}

/** One call, untraced: no span objects, no context switches. */
class Call implements CallScope {
  readonly #start = performance.now();

  constructor(
    readonly observed: ObservedMethod,
    readonly protocol: RpcProtocol,
    readonly protocolIndex: number,
    readonly requestId: string,
  ) {}

  run<T>(fn: () => T): T {
    return fn();
  }

  bind<T>(stream: AsyncIterable<T>): AsyncIterable<T> {
    return stream;
  }

  end(code: number, keyId: string | undefined): void {
    const ms = performance.now() - this.#start;
    const o = this.observed;
    o.metrics?.handled(this.protocolIndex, code, ms / 1000);
    if (o.log.wants(code)) o.log.write(code, { method: o.name, protocol: this.protocol, code: statusName(code), ms, keyId, requestId: this.requestId });
  }
}

class TracedCall extends Call {
  readonly #tracing: SigilTracing;
  readonly #span: Span;
  readonly #context: Context;

  constructor(observed: ObservedMethod, protocol: RpcProtocol, index: number, requestId: string, tracing: SigilTracing, span: Span, context: Context) {
    super(observed, protocol, index, requestId);
    this.#tracing = tracing;
    this.#span = span;
    this.#context = context;
  }

  override run<T>(fn: () => T): T {
    return this.#tracing.with(this.#context, fn);
  }

  override bind<T>(stream: AsyncIterable<T>): AsyncIterable<T> {
    const tracing = this.#tracing;
    const context = this.#context;
    return {
      [Symbol.asyncIterator]() {
        const iterator = tracing.with(context, () => stream[Symbol.asyncIterator]());
        return {
          next: () => tracing.with(context, () => iterator.next()),
          return: (value?: unknown) => tracing.with(context, () => iterator.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined as never })),
          throw: (err?: unknown) => tracing.with(context, () => iterator.throw?.(err) ?? Promise.reject(err)),
        };
      },
    };
  }

  override end(code: number, keyId: string | undefined): void {
    super.end(code, keyId);
    const span = this.#span;
    if (this.protocol === "http") {
      // The answer's status as the gRPC code it stands for (the route reports it; 0: allowed).
      span.setAttribute("sigil.status_code", code);
    } else if (this.protocol === "connect") {
      // Connect's code names are gRPC's in snake case, except "canceled".
      if (code !== 0) span.setAttribute("rpc.connect_rpc.error_code", code === 1 ? "canceled" : statusName(code).toLowerCase());
    } else {
      span.setAttribute("rpc.grpc.status_code", code);
    }
    if (SERVER_FAULTS.has(code)) failSpan(span, statusName(code));
    span.end();
  }
}
