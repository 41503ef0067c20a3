import type { DescMethod } from "@bufbuild/protobuf";
import type { RpcProtocol } from "./rpc-metrics.js";
import type { HeaderReader } from "./tracing.js";

export type { HeaderReader } from "./tracing.js";
export type { RpcProtocol } from "./rpc-metrics.js";

/**
 * What the listeners report each call to: the access log, the RPC metrics and the call's span,
 * with one request id for all of them. Generic over the services a listener registers: a listener
 * asks for a MethodObserver once per registered method, at registration, and each call then only
 * touches what that one resolved.
 */
export interface CallObserver {
  method(method: DescMethod): MethodObserver;
  /** A plain HTTP route of the HTTP listener (the gateway's /v1/authorize), observed like a unary call. */
  route(name: string): MethodObserver;
}

export interface MethodObserver {
  /** A call starts; `header` reads its request headers (x-request-id, traceparent). */
  begin(protocol: RpcProtocol, header: HeaderReader): CallScope;
}

export interface CallScope {
  /** The caller's x-request-id when acceptable, else a new one: echo it in the response headers. */
  readonly requestId: string;
  /** Runs (the start of) the handler in the call's trace context, when traced. */
  run<T>(fn: () => T): T;
  /** A stream whose every step runs in the call's trace context, when traced. */
  bind<T>(stream: AsyncIterable<T>): AsyncIterable<T>;
  /** The call ended with gRPC status `code` (0: OK); `keyId` names the key involved, for the log line. */
  end(code: number, keyId: string | undefined): void;
}
