import http2 from "node:http2";
import type { Logger } from "pino";
import { logCall } from "./call-logger.js";
import type { Http2SessionGuard } from "./http2-session-guard.js";
import { MAX_HEADER_BYTES } from "./listener-limits.js";
import { tooLargeMessage } from "./message-limits.js";

/** What the gate knows of a gRPC method, by path ("/sigil.v1.KeyService/VerifyKey"). */
export interface GatedMethod {
  /** "sigil.v1.KeyService/VerifyKey": for log lines and errors. */
  readonly name: string;
  /** Largest request message, in bytes. */
  readonly maxMessageBytes: number;
  /** Client or bidi streaming: the request side stays open, so no receive deadline applies. */
  readonly clientStreaming: boolean;
}

export interface GrpcStreamGateOptions {
  readonly methods: ReadonlyMap<string, GatedMethod>;
  /** The limit grpc-js itself enforces (grpc.max_receive_message_length): no check needed at or above it. */
  readonly grpcJsMessageLimit: number;
  readonly guard: Http2SessionGuard;
  readonly receiveTimeoutMs: number;
  readonly log: Logger;
}

const GRPC_STATUS = { DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8 } as const;

/**
 * Stands in front of grpc-js's stream listener and admits each stream only within the listener's
 * bounds, answering with a gRPC status itself otherwise:
 * - request metadata larger than MAX_HEADER_BYTES: RESOURCE_EXHAUSTED before grpc-js sees the call
 *   (nghttp2 enforces the advertised SETTINGS_MAX_HEADER_LIST_SIZE only once the client has
 *   acknowledged it, so a call sent with the connection preface would otherwise pass);
 * - a request message larger than its method's limit: RESOURCE_EXHAUSTED as soon as its 5-byte
 *   length prefix arrives, before the message is buffered (grpc-js applies one limit to every
 *   method: the largest);
 * - a request not complete within the receive timeout: DEADLINE_EXCEEDED.
 */
export function createGrpcStreamGate(
  options: GrpcStreamGateOptions,
  grpcStreamListener: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void {
  const { methods, guard, log } = options;
  const onReceiveTimeout = (stream: http2.ServerHttp2Stream, method: GatedMethod) => {
    refuse(stream, log, method.name, GRPC_STATUS.DEADLINE_EXCEEDED, `request not received within ${options.receiveTimeoutMs} ms (the server's receive timeout)`, process.hrtime.bigint());
  };
  return (stream, headers, _flags, rawHeaders) => {
    guard.streamOpened(stream);
    const method = methods.get(headers[":path"] as string);
    let headerBytes = 0;
    for (let i = 0; i < rawHeaders.length; i += 2) headerBytes += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
    if (headerBytes > MAX_HEADER_BYTES) {
      stream.on("error", ignore);
      refuse(stream, log, method?.name, GRPC_STATUS.RESOURCE_EXHAUSTED, `request metadata of ${headerBytes} bytes is larger than ${MAX_HEADER_BYTES}`, process.hrtime.bigint());
      return;
    }
    if (method) {
      if (!method.clientStreaming) guard.expectRequest(stream, onReceiveTimeout, method);
      if (method.maxMessageBytes < options.grpcJsMessageLimit) watchFirstMessageSize(stream, method, log);
    }
    grpcStreamListener(stream, headers);
  };
}

/**
 * Reads the length prefix of the call's first message as it arrives (it is in the first DATA
 * frame), and refuses the call if the message is over its method's limit. Unary and server-streaming
 * calls carry one message, so the listener goes once the prefix is checked.
 */
function watchFirstMessageSize(stream: http2.ServerHttp2Stream, method: GatedMethod, log: Logger): void {
  const prefix = Buffer.alloc(5);
  let have = 0;
  const onData = (chunk: Buffer) => {
    const take = Math.min(5 - have, chunk.length);
    chunk.copy(prefix, have, 0, take);
    have += take;
    if (have < 5) return;
    stream.off("data", onData);
    const size = prefix.readUInt32BE(1);
    if (size > method.maxMessageBytes) {
      refuse(stream, log, method.name, GRPC_STATUS.RESOURCE_EXHAUSTED, tooLargeMessage(method.name, size, method.maxMessageBytes), process.hrtime.bigint());
    }
  };
  stream.on("data", onData);
}

/** A trailers-only gRPC answer, then RST_STREAM(NO_ERROR) so the client stops sending. */
function refuse(stream: http2.ServerHttp2Stream, log: Logger, method: string | undefined, code: number, message: string, startNs: bigint): void {
  if (stream.destroyed || stream.closed) return;
  try {
    if (!stream.headersSent) {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc+proto", "grpc-status": String(code), "grpc-message": encodeURIComponent(message) },
        { endStream: true },
      );
    }
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  } catch {
    stream.destroy();
  }
  logCall(log, { method: method ?? "unknown", protocol: "grpc", code, startNs, keyId: undefined });
}

function ignore(): void {}
