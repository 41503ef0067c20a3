import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ReflectionService } from "@grpc/reflection";
import type { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import type { CallContext } from "../service/call-context.js";
import type { CallObserver, MethodObserver } from "../observability/call-observer.js";
import { REQUEST_ID_HEADER } from "../observability/request-id.js";
import type { HostPort } from "../config/config.js";
import { toPublicError } from "./call-logger.js";
import { GrpcListener } from "./grpc-listener.js";
import type { GatedMethod } from "./grpc-stream-gate.js";
import type { ListenerLimits } from "./listener-limits.js";
import { MessageLimits } from "./message-limits.js";
import type { ServiceHandlers } from "./service-methods.js";
import type { TlsSource } from "./tls-reloader.js";

export interface GrpcListenerOptions {
  readonly services: ReadonlyArray<{ readonly service: DescService; readonly handlers: ServiceHandlers }>;
  readonly health: HealthImplementation;
  /** Serialized FileDescriptorProtos for server reflection (with comments, from descriptors/sigil.binpb). */
  readonly reflectionFiles: readonly Uint8Array[];
  readonly log: Logger;
  /** Hears every call of the registered services: access log, metrics, spans, request id. */
  readonly calls: CallObserver;
  /** SIGIL_MAX_MESSAGE_BYTES: the largest request of any method (smaller methods have their own). */
  readonly maxMessageBytes: number;
  readonly limits: ListenerLimits;
  /** TLS when set (SIGIL_TLS_CERT_FILE). */
  readonly tls?: TlsSource | undefined;
}

const identity = (b: Buffer): Buffer => b;
/** A Buffer view of the encoded bytes, without copying them. */
const asBuffer = (u8: Uint8Array): Buffer => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);

/** The gRPC listener on grpc-js: the service, server reflection (v1, v1alpha) and grpc.health.v1. */
export function createGrpcServer(options: GrpcListenerOptions): GrpcListener {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
    // Channelz is never served; its per-call bookkeeping is not worth paying for.
    "grpc.enable_channelz": 0,
  });
  const observers = new Map<string, MethodObserver>();
  for (const { service, handlers } of options.services) {
    const definition: Record<string, grpc.MethodDefinition<Buffer, unknown>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const method of service.methods) {
      // Requests are decoded inside the handler so a bad payload is INVALID_ARGUMENT, not INTERNAL.
      definition[method.name] = {
        path: `/${service.typeName}/${method.name}`,
        requestStream: false,
        responseStream: method.methodKind === "server_streaming",
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: (msg: unknown) => asBuffer(toBinary(method.output, msg as never)),
        responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
        originalName: method.localName,
      };
      const observer = options.calls.method(method);
      observers.set(`${service.typeName}/${method.name}`, observer);
      implementation[method.name] =
        method.methodKind === "server_streaming"
          ? streamingHandler(method, handlers[method.localName]!, options.log, observer)
          : unaryHandler(method, handlers[method.localName]!, options.log, observer);
    }
    server.addService(definition as grpc.ServiceDefinition, implementation);
  }
  options.health.addToServer(server);
  const reflection = new ReflectionService({ sigil: { fileDescriptorProtos: [...options.reflectionFiles] } } as never);
  reflection.addToServer(server);
  return new GrpcListener(server, {
    limits: options.limits,
    methods: gatedMethods(options.services, new MessageLimits(options.maxMessageBytes), observers),
    tls: options.tls,
    log: options.log,
  });
}

/** Health and reflection, registered by their own packages: their paths and kinds. */
const BUILT_IN_METHODS: ReadonlyArray<readonly [string, boolean]> = [
  ["grpc.health.v1.Health/Check", false],
  ["grpc.health.v1.Health/List", false],
  ["grpc.health.v1.Health/Watch", false],
  ["grpc.reflection.v1.ServerReflection/ServerReflectionInfo", true],
  ["grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", true],
];

/** Every served method by path, with its request limit (see message-limits.ts). */
function gatedMethods(services: GrpcListenerOptions["services"], limits: MessageLimits, observers: ReadonlyMap<string, MethodObserver>): Map<string, GatedMethod> {
  const methods = new Map<string, GatedMethod>();
  const add = (name: string, clientStreaming: boolean) =>
    methods.set(`/${name}`, { name, clientStreaming, maxMessageBytes: limits.forMethod(name), observer: observers.get(name) });
  for (const { service } of services) {
    for (const method of service.methods) add(`${service.typeName}/${method.name}`, method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming");
  }
  for (const [name, clientStreaming] of BUILT_IN_METHODS) add(name, clientStreaming);
  return methods;
}

type ServerCall = grpc.ServerUnaryCall<Buffer, unknown> | grpc.ServerWritableStream<Buffer, unknown>;

/**
 * The call's context. The abort signal and the peer address are made only when a handler asks:
 * most unary calls never do, and an AbortController per call (with the DOMException that aborting
 * it creates) was a tenth of the server's time on the VerifyKey hot path.
 */
class GrpcCallContext implements CallContext {
  readonly authorization: string | undefined;
  keyId?: string;
  readonly #call: ServerCall;
  #signal: AbortSignal | undefined;

  constructor(call: ServerCall) {
    this.#call = call;
    const auth = call.metadata.get("authorization")[0];
    this.authorization = typeof auth === "string" ? auth : undefined;
  }

  get peerAddress(): string {
    return this.#call.getPeer();
  }

  get signal(): AbortSignal {
    if (!this.#signal) {
      const controller = new AbortController();
      if (this.#call.cancelled) controller.abort();
      else this.#call.once("cancelled", () => controller.abort());
      this.#signal = controller.signal;
    }
    return this.#signal;
  }
}

function decode(method: DescMethod, bytes: Buffer) {
  try {
    return fromBinary(method.input, bytes);
  } catch {
    throw new ConnectError(`request is not a valid ${method.input.typeName} message`, Code.InvalidArgument);
  }
}

function grpcError(err: ConnectError): Partial<grpc.StatusObject> {
  return { code: err.code as number as grpc.status, details: err.rawMessage };
}

/** The call's observation: request id (echoed in the response headers), metrics, span. */
function beginCall(call: ServerCall, observer: MethodObserver) {
  const scope = observer.begin("grpc", (name) => {
    const value = call.metadata.get(name)[0];
    return typeof value === "string" ? value : undefined;
  });
  const echo = new grpc.Metadata();
  echo.set(REQUEST_ID_HEADER, scope.requestId);
  call.sendMetadata(echo);
  return scope;
}

function unaryHandler(method: DescMethod, handler: ServiceHandlers[string], log: Logger, observer: MethodObserver): grpc.handleUnaryCall<Buffer, unknown> {
  const name = `${method.parent.typeName}/${method.name}`;
  return (call, callback) => {
    const scope = beginCall(call, observer);
    const ctx = new GrpcCallContext(call);
    const succeed = (response: unknown) => {
      scope.end(0, ctx.keyId);
      callback(null, response);
    };
    const failWith = (err: unknown) => {
      const e = toPublicError(err, log, name, scope.requestId);
      scope.end(e.code, ctx.keyId);
      callback(grpcError(e));
    };
    let result: unknown;
    try {
      result = scope.run(() => handler(decode(method, call.request), ctx));
    } catch (err) {
      return failWith(err);
    }
    // Handlers answer synchronously when they can (VerifyKey on a cache hit): no promise, no extra turn.
    if (result instanceof Promise) result.then(succeed, failWith);
    else succeed(result);
  };
}

function streamingHandler(method: DescMethod, handler: ServiceHandlers[string], log: Logger, observer: MethodObserver): grpc.handleServerStreamingCall<Buffer, unknown> {
  const name = `${method.parent.typeName}/${method.name}`;
  return async (call) => {
    const scope = beginCall(call, observer);
    const ctx = new GrpcCallContext(call);
    try {
      const stream = scope.bind(scope.run(() => handler(decode(method, call.request), ctx)) as AsyncIterable<unknown>);
      for await (const message of stream) {
        if (ctx.signal.aborted) break;
        // Respect back-pressure: wait for the socket to drain before producing more.
        if (!call.write(message)) await new Promise<void>((resolve) => call.once("drain", resolve));
      }
      scope.end(0, ctx.keyId);
      call.end();
    } catch (err) {
      const e = toPublicError(err, log, name, scope.requestId);
      scope.end(e.code, ctx.keyId);
      call.emit("error", { ...grpcError(e), metadata: new grpc.Metadata() });
    }
  };
}

/** Binds the gRPC port; rejects with Node's listen error (EADDRINUSE, ...). */
export function bindGrpcServer(listener: GrpcListener, address: HostPort): Promise<number> {
  return listener.listen(address);
}

/** Stops accepting calls, lets in-flight calls finish for up to `graceMs`, then cuts the rest. */
export function shutdownGrpcServer(listener: GrpcListener, graceMs: number): Promise<void> {
  return listener.close(graceMs);
}
