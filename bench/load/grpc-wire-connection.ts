// A gRPC client connection written at the HTTP/2 frame level over a plain TCP socket. Request
// frames are assembled from a header block and a body framed once per connection; the response is
// read only for its :status and grpc-status. This keeps the generator's cost per call several
// times below a grpc-js client's, which matters because the generator gets one core, the same as
// the server under test: a grpc-js client cannot saturate a bare grpc-js server (bench/README.md).
import * as net from "node:net";
import * as tls from "node:tls";
import { STATUS_UNAVAILABLE, STATUS_UNKNOWN, statusFromHttpStatus } from "../grpc-status.js";
import type { Connection } from "./connection.js";
import {
  CONNECTION_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  frame,
  MAX_WINDOW,
  Setting,
  settingsFrame,
  unpaddedPayload,
  windowUpdateFrame,
  writeFrameHeader,
} from "./h2-frames.js";
import { encodeRequestHeaderBlocks, HpackDecoder, type HeaderList, type RequestHeaderBlocks } from "./hpack/codec.js";
import type { LoadSpec } from "./spec.js";

const GRPC_PREFIX_LENGTH = 5;
const CANCELLED = 1;
const INTERNAL = 13;

/** A gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, body. */
export function frameGrpcMessage(body: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(GRPC_PREFIX_LENGTH + body.length);
  framed[0] = 0;
  framed.writeUInt32BE(body.length, 1);
  body.copy(framed, GRPC_PREFIX_LENGTH);
  return framed;
}

interface Call {
  done: (status: number) => void;
  httpStatus?: number;
  grpcStatus?: number;
}

interface QueuedCall {
  body: Buffer;
  done: (status: number) => void;
}

function grpcStatusOf(headers: HeaderList, call: Call): void {
  for (const [name, value] of headers) {
    if (name === ":status") call.httpStatus = Number(value);
    else if (name === "grpc-status") call.grpcStatus = Number.isInteger(Number(value)) ? Number(value) : STATUS_UNKNOWN;
  }
}

/** Status of a finished call as a gRPC client would see it (HTTP status first, then grpc-status). */
function finalStatus(call: Call): number {
  if (call.httpStatus !== undefined && call.httpStatus !== 200) return statusFromHttpStatus(call.httpStatus);
  return call.grpcStatus ?? STATUS_UNKNOWN;
}

function statusOfReset(errorCode: number): number {
  if (errorCode === ErrorCode.REFUSED_STREAM) return STATUS_UNAVAILABLE;
  if (errorCode === ErrorCode.CANCEL) return CANCELLED;
  return INTERNAL;
}

export function openGrpcWireConnection(spec: LoadSpec): Connection {
  const requestHeaders: HeaderList = [
    [":method", "POST"],
    [":scheme", spec.tls ? "https" : "http"],
    [":path", spec.path],
    [":authority", `${spec.host}:${spec.port}`],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["user-agent", "sigil-bench"],
    ...Object.entries(spec.headers).map(([name, value]): [string, string] => [name.toLowerCase(), value]),
  ];
  let headerBlocks: RequestHeaderBlocks | undefined; // built once the server's table size is known
  const decoder = new HpackDecoder();
  const calls = new Map<number, Call>();
  const queue: QueuedCall[] = [];
  let nextStreamId = 1;
  let peerMaxConcurrentStreams = Infinity;
  let peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  let peerInitialWindow = DEFAULT_WINDOW;
  let sendWindow = DEFAULT_WINDOW; // connection-level, for our DATA frames
  let unackedReceived = 0; // DATA bytes received since our last WINDOW_UPDATE
  let pending: Buffer = Buffer.alloc(0);
  let headerBlockParts: Buffer[] | undefined; // HEADERS awaiting CONTINUATION
  let headerBlockStream = 0;
  let headerBlockEndsStream = false;
  let closed = false;
  let markReady!: () => void;
  let failReady!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });

  // Over TLS the same frames go through the TLS socket (ALPN h2; the CA is trusted, the name checked).
  const tcp = net.connect({ host: spec.host, port: spec.port, noDelay: true });
  const socket = spec.tls ? tls.connect({ socket: tcp, ca: spec.tls.ca, servername: "localhost", ALPNProtocols: ["h2"] }) : tcp;
  socket.write(
    Buffer.concat([
      CONNECTION_PREFACE,
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        // Responses are small and read at once: open the stream and connection windows fully so
        // flow control never holds an answer back.
        [Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW],
      ]),
      windowUpdateFrame(0, MAX_WINDOW - DEFAULT_WINDOW),
    ]),
  );

  const complete = (streamId: number, status?: number): void => {
    const call = calls.get(streamId);
    if (call === undefined) return;
    calls.delete(streamId);
    call.done(status ?? finalStatus(call));
    startQueued();
  };

  const failAll = (): void => {
    closed = true;
    const failed = [...calls.values(), ...queue.splice(0)];
    calls.clear();
    for (const call of failed) call.done(STATUS_UNAVAILABLE);
  };

  const canStart = (body: Buffer): boolean =>
    headerBlocks !== undefined &&
    calls.size < peerMaxConcurrentStreams && sendWindow >= GRPC_PREFIX_LENGTH + body.length;

  const start = (body: Buffer, done: (status: number) => void): void => {
    const dataLength = GRPC_PREFIX_LENGTH + body.length;
    if (dataLength > peerMaxFrameSize || dataLength > peerInitialWindow) throw new Error("request body too large for one DATA frame");
    const streamId = nextStreamId;
    nextStreamId += 2;
    const headerBlock = streamId === 1 ? headerBlocks!.first : headerBlocks!.repeat;
    const out = Buffer.allocUnsafe(2 * FRAME_HEADER_LENGTH + headerBlock.length + dataLength);
    writeFrameHeader(out, 0, headerBlock.length, FrameType.HEADERS, Flag.END_HEADERS, streamId);
    headerBlock.copy(out, FRAME_HEADER_LENGTH);
    let at = FRAME_HEADER_LENGTH + headerBlock.length;
    writeFrameHeader(out, at, dataLength, FrameType.DATA, Flag.END_STREAM, streamId);
    at += FRAME_HEADER_LENGTH;
    out[at] = 0; // uncompressed
    out.writeUInt32BE(body.length, at + 1);
    body.copy(out, at + GRPC_PREFIX_LENGTH);
    sendWindow -= dataLength;
    calls.set(streamId, { done });
    socket.write(out);
  };

  const startQueued = (): void => {
    while (queue.length > 0 && canStart(queue[0]!.body)) {
      const next = queue.shift()!;
      start(next.body, next.done);
    }
  };

  const onSettings = (flags: number, payload: Buffer): void => {
    if (flags & Flag.ACK) return;
    let peerHeaderTableSize: number | undefined;
    for (let at = 0; at + 6 <= payload.length; at += 6) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (id === Setting.HEADER_TABLE_SIZE) peerHeaderTableSize = value;
      else if (id === Setting.MAX_CONCURRENT_STREAMS) peerMaxConcurrentStreams = value;
      else if (id === Setting.MAX_FRAME_SIZE) peerMaxFrameSize = value;
      else if (id === Setting.INITIAL_WINDOW_SIZE) peerInitialWindow = value;
    }
    socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (headerBlocks === undefined) headerBlocks = encodeRequestHeaderBlocks(requestHeaders, peerHeaderTableSize);
    markReady();
    startQueued();
  };

  const onHeaderBlock = (streamId: number, block: Buffer, endsStream: boolean): void => {
    const headers = decoder.decode(block); // always decode: it updates the shared dynamic table
    const call = calls.get(streamId);
    if (call === undefined) return;
    grpcStatusOf(headers, call);
    if (endsStream) complete(streamId);
  };

  const onFrame = (type: number, flags: number, streamId: number, payload: Buffer): void => {
    if (headerBlockParts !== undefined && type !== FrameType.CONTINUATION) throw new Error("HTTP/2: expected CONTINUATION");
    switch (type) {
      case FrameType.DATA: {
        unackedReceived += payload.length;
        if (unackedReceived > MAX_WINDOW / 2) {
          socket.write(windowUpdateFrame(0, unackedReceived));
          unackedReceived = 0;
        }
        if (flags & Flag.END_STREAM) complete(streamId);
        return;
      }
      case FrameType.HEADERS: {
        const block = unpaddedPayload(type, flags, payload);
        if (flags & Flag.END_HEADERS) return onHeaderBlock(streamId, block, (flags & Flag.END_STREAM) !== 0);
        headerBlockParts = [Buffer.from(block)];
        headerBlockStream = streamId;
        headerBlockEndsStream = (flags & Flag.END_STREAM) !== 0;
        return;
      }
      case FrameType.CONTINUATION: {
        if (headerBlockParts === undefined || streamId !== headerBlockStream) throw new Error("HTTP/2: stray CONTINUATION");
        headerBlockParts.push(Buffer.from(payload));
        if (flags & Flag.END_HEADERS) {
          const block = Buffer.concat(headerBlockParts);
          headerBlockParts = undefined;
          onHeaderBlock(streamId, block, headerBlockEndsStream);
        }
        return;
      }
      case FrameType.RST_STREAM:
        return complete(streamId, statusOfReset(payload.readUInt32BE(0)));
      case FrameType.SETTINGS:
        return onSettings(flags, payload);
      case FrameType.PING:
        if ((flags & Flag.ACK) === 0) socket.write(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY: {
        const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
        for (const id of [...calls.keys()]) if (id > lastStreamId) complete(id, STATUS_UNAVAILABLE);
        closed = true;
        return;
      }
      case FrameType.WINDOW_UPDATE:
        if (streamId === 0) {
          sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
          startQueued();
        }
        return;
      default:
        return; // PRIORITY, PUSH_PROMISE (disabled) and unknown frames carry nothing we need
    }
  };

  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    // Corked so that the calls started while handling this chunk leave in one write.
    socket.cork();
    try {
      let at = 0;
      while (pending.length - at >= FRAME_HEADER_LENGTH) {
        const length = pending.readUIntBE(at, 3);
        if (pending.length - at < FRAME_HEADER_LENGTH + length) break;
        const type = pending[at + 3]!;
        const flags = pending[at + 4]!;
        const streamId = pending.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = pending.subarray(at + FRAME_HEADER_LENGTH, at + FRAME_HEADER_LENGTH + length);
        at += FRAME_HEADER_LENGTH + length;
        onFrame(type, flags, streamId, payload);
      }
      pending = pending.subarray(at);
    } catch (err) {
      socket.destroy(err as Error);
    } finally {
      socket.uncork();
    }
  });
  socket.on("error", (err) => failReady(err));
  socket.on("close", () => {
    failReady(new Error("connection closed before HTTP/2 settings arrived"));
    failAll();
  });

  return {
    ready: () => ready,
    send(body, done) {
      if (closed) return void setImmediate(done, STATUS_UNAVAILABLE);
      if (queue.length === 0 && canStart(body)) start(body, done);
      else queue.push({ body, done });
    },
    close: () => {
      closed = true;
      socket.end();
    },
  };
}
