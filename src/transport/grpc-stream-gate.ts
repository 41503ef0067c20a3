import http2 from "node:http2";
import type { Logger } from "pino";
import type { MethodObserver } from "../observability/call-observer.js";
import { REQUEST_ID_HEADER, requestIdOf } from "../observability/request-id.js";
import { statusName } from "./call-logger.js";
import type { Http2SessionGuard } from "./http2-session-guard.js";
import { MAX_HEADER_BYTES } from "./listener-limits.js";
import { tooLargeMessage } from "./message-limits.js";
import { BUDGET_SPENT_MESSAGE, type RequestByteBudget } from "./request-byte-budget.js";

/** What the gate knows of a gRPC method, by path ("/sigil.v1.KeyService/VerifyKey"). */
export interface GatedMethod {
  /** "sigil.v1.KeyService/VerifyKey": for log lines and errors. */
  readonly name: string;
  /** Largest request message, in bytes. */
  readonly maxMessageBytes: number;
  /** Client or bidi streaming: the request side stays open, so no receive deadline applies. */
  readonly clientStreaming: boolean;
  /** The method's call observer (Sigil's services; health and reflection have none): a refused call is reported like any other. */
  readonly observer?: MethodObserver | undefined;
}

export interface GrpcStreamGateOptions {
  readonly methods: ReadonlyMap<string, GatedMethod>;
  /** Bytes of unfinished messages held at once, over all calls of the listener. */
  readonly budget: RequestByteBudget;
  readonly guard: Http2SessionGuard;
  readonly receiveTimeoutMs: number;
  readonly log: Logger;
}

const GRPC_STATUS = { DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8 } as const;

/** The request headers of a gated stream, for a later refusal's report (Node does not keep them). */
const REQUEST_HEADERS = Symbol("sigil request headers");
type GatedStream = http2.ServerHttp2Stream & { [REQUEST_HEADERS]?: http2.IncomingHttpHeaders };

/**
 * Stands in front of grpc-js's stream listener and admits each stream only within the listener's
 * bounds, answering with a gRPC status itself otherwise:
 * - request metadata larger than MAX_HEADER_BYTES: RESOURCE_EXHAUSTED before grpc-js sees the call
 *   (nghttp2 enforces the advertised SETTINGS_MAX_HEADER_LIST_SIZE only once the client has
 *   acknowledged it, so a call sent with the connection preface would otherwise pass);
 * - a request message larger than its method's limit: RESOURCE_EXHAUSTED as soon as its 5-byte
 *   length prefix arrives, before the message is buffered (grpc-js applies one limit to every
 *   method: the largest); one that does not arrive in a single read reserves its size from the
 *   listener's byte budget until it is complete, and is refused when the budget is spent;
 * - a request not complete within the receive timeout: DEADLINE_EXCEEDED.
 */
export function createGrpcStreamGate(
  options: GrpcStreamGateOptions,
  grpcStreamListener: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void {
  const { methods, guard, log } = options;
  const onTimeout = (stream: http2.ServerHttp2Stream, method: unknown) => {
    refuse(stream, log, method as GatedMethod, GRPC_STATUS.DEADLINE_EXCEEDED, `request not received within ${options.receiveTimeoutMs} ms (the server's receive timeout)`);
  };
  // One receive-timeout watch per method, shared by its calls.
  const watches = new Map([...methods.values()].map((m) => [m, { onTimeout, context: m }]));
  return (stream, headers, _flags, rawHeaders) => {
    guard.streamOpened(stream);
    (stream as GatedStream)[REQUEST_HEADERS] = headers;
    const method = methods.get(headers[":path"] as string);
    let headerBytes = 0;
    for (let i = 0; i < rawHeaders.length; i += 2) headerBytes += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
    if (headerBytes > MAX_HEADER_BYTES) {
      stream.on("error", ignore);
      refuse(stream, log, method, GRPC_STATUS.RESOURCE_EXHAUSTED, `request metadata of ${headerBytes} bytes is larger than ${MAX_HEADER_BYTES}`);
      return;
    }
    if (method) {
      if (!method.clientStreaming) guard.expectRequest(stream, watches.get(method)!);
      watchFirstMessage(stream, method, options.budget, log);
    }
    grpcStreamListener(stream, headers);
  };
}

/**
 * Reads the length prefix of the call's first message as it arrives (it is in the first DATA
 * frame), refuses the call if the message is over its method's limit, and holds its size against the
 * byte budget while the rest is on its way. Unary and server-streaming calls carry one message, so
 * the listener goes once that message is in. On the hot path (a whole small message in one read)
 * this is one length check.
 */
function watchFirstMessage(stream: http2.ServerHttp2Stream, method: GatedMethod, budget: RequestByteBudget, log: Logger): void {
  let prefix: Buffer | undefined;
  let have = 0;
  let size = -1;
  let missing = 0;
  let reserved = 0;
  const release = () => {
    budget.release(reserved);
    reserved = 0;
  };
  const onData = (chunk: Buffer) => {
    if (size >= 0) {
      missing -= chunk.length;
      if (missing <= 0) {
        stream.off("data", onData);
        release();
      }
      return;
    }
    let offset: number;
    if (have === 0 && chunk.length >= 5) {
      size = chunk.readUInt32BE(1);
      offset = 5;
    } else {
      prefix ??= Buffer.alloc(5);
      offset = Math.min(5 - have, chunk.length);
      chunk.copy(prefix, have, 0, offset);
      have += offset;
      if (have < 5) return;
      size = prefix.readUInt32BE(1);
    }
    missing = size - (chunk.length - offset);
    if (size > method.maxMessageBytes) {
      stream.off("data", onData);
      refuse(stream, log, method, GRPC_STATUS.RESOURCE_EXHAUSTED, tooLargeMessage(method.name, size, method.maxMessageBytes));
    } else if (missing <= 0) {
      stream.off("data", onData);
    } else if (budget.tryReserve(size)) {
      reserved = size;
      stream.once("close", release);
    } else {
      stream.off("data", onData);
      refuse(stream, log, method, GRPC_STATUS.RESOURCE_EXHAUSTED, BUDGET_SPENT_MESSAGE);
    }
  };
  stream.on("data", onData);
}

/**
 * A trailers-only gRPC answer, then RST_STREAM(NO_ERROR) so the client stops sending. The call is
 * reported to its method's observer (log line, metrics, span, request id echoed), or else logged.
 */
function refuse(stream: http2.ServerHttp2Stream, log: Logger, method: GatedMethod | undefined, code: number, message: string): void {
  if (stream.destroyed || stream.closed) return;
  const request = (stream as GatedStream)[REQUEST_HEADERS];
  const header = (name: string) => {
    const value = request?.[name];
    return typeof value === "string" ? value : undefined;
  };
  const scope = method?.observer?.begin("grpc", header);
  const requestId = scope?.requestId ?? requestIdOf(header(REQUEST_ID_HEADER));
  try {
    if (!stream.headersSent) {
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc+proto",
          "grpc-status": String(code),
          "grpc-message": encodeURIComponent(message),
          [REQUEST_ID_HEADER]: requestId,
        },
        { endStream: true },
      );
    }
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  } catch {
    stream.destroy();
  }
  if (scope) scope.end(code, undefined);
  else log.info({ method: method?.name ?? "unknown", protocol: "grpc", code: statusName(code), requestId }, "call");
}

function ignore(): void {}
