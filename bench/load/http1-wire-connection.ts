// A Connect JSON connection written at the HTTP/1.1 byte level over a plain TCP socket: the request
// head is built once, and the response is parsed only for its status, its framing (Content-Length
// or chunked) and, on errors, the Connect error code. node:http's client spends several times more
// CPU per call, enough to come close to saturating the load core against connect-node.
import * as net from "node:net";
import { STATUS_OK, STATUS_UNAVAILABLE, statusFromConnectCode, statusFromHttpStatus } from "../grpc-status.js";
import type { Connection } from "./connection.js";
import type { LoadSpec } from "./spec.js";

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

interface PendingCall {
  body: Buffer;
  done: (status: number) => void;
}

/** Incremental parser of one HTTP/1.1 response at a time. */
class ResponseParser {
  private buffer: Buffer = Buffer.alloc(0);
  private httpStatus = 0;
  private framing: { kind: "length"; remaining: number } | { kind: "chunked"; remaining: number; trailers: boolean } | undefined;
  private readonly bodyParts: Buffer[] = [];

  /** Feeds bytes; returns the parsed responses' [HTTP status, body] in order. */
  push(chunk: Buffer): Array<[number, Buffer]> {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const finished: Array<[number, Buffer]> = [];
    for (;;) {
      if (this.framing === undefined && !this.readHead()) break;
      if (!this.readBody()) break;
      finished.push([this.httpStatus, Buffer.concat(this.bodyParts.splice(0))]);
      this.framing = undefined;
    }
    return finished;
  }

  private readHead(): boolean {
    const end = this.buffer.indexOf(HEAD_END);
    if (end === -1) return false;
    const head = this.buffer.toString("latin1", 0, end);
    this.buffer = this.buffer.subarray(end + HEAD_END.length);
    this.httpStatus = Number(head.slice(9, 12));
    const length = head.match(/\r\ncontent-length:\s*(\d+)/i);
    if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) this.framing = { kind: "chunked", remaining: -1, trailers: false };
    else this.framing = { kind: "length", remaining: length ? Number(length[1]) : 0 };
    return true;
  }

  /** Consumes body bytes; true once the whole body is in. */
  private readBody(): boolean {
    const framing = this.framing!;
    if (framing.kind === "length") {
      const take = Math.min(framing.remaining, this.buffer.length);
      this.bodyParts.push(this.buffer.subarray(0, take));
      this.buffer = this.buffer.subarray(take);
      framing.remaining -= take;
      return framing.remaining === 0;
    }
    for (;;) {
      if (framing.trailers) {
        // After the last chunk: trailer lines until an empty line.
        const end = this.buffer.indexOf(CRLF);
        if (end === -1) return false;
        this.buffer = this.buffer.subarray(end + CRLF.length);
        if (end === 0) return true;
        continue;
      }
      if (framing.remaining === -1) {
        const end = this.buffer.indexOf(CRLF);
        if (end === -1) return false;
        framing.remaining = parseInt(this.buffer.toString("latin1", 0, end), 16);
        this.buffer = this.buffer.subarray(end + CRLF.length);
        if (framing.remaining === 0) framing.trailers = true;
        continue;
      }
      // Chunk data plus its trailing CRLF.
      if (this.buffer.length < framing.remaining + CRLF.length) return false;
      this.bodyParts.push(this.buffer.subarray(0, framing.remaining));
      this.buffer = this.buffer.subarray(framing.remaining + CRLF.length);
      framing.remaining = -1;
    }
  }
}

function connectStatus(httpStatus: number, body: Buffer): number {
  if (httpStatus === 200) return STATUS_OK;
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    if (typeof parsed === "object" && parsed !== null && "code" in parsed) return statusFromConnectCode(parsed.code);
  } catch {
    // not a Connect error body
  }
  return statusFromHttpStatus(httpStatus);
}

export function openHttp1WireConnection(spec: LoadSpec): Connection {
  const extraHeaders = Object.entries(spec.headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const headPrefix =
    `POST ${spec.path} HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\n` +
    `Content-Type: application/json\r\nConnect-Protocol-Version: 1\r\n${extraHeaders}Content-Length: `;
  // Forward auth: no body; the "body" is the credential, sent as a bearer token.
  const forwardAuthPrefix = `GET ${spec.path} HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\n${extraHeaders}Authorization: Bearer `;
  const requestBytes =
    spec.protocol === "forward-auth"
      ? (body: Buffer) => Buffer.concat([Buffer.from(forwardAuthPrefix, "latin1"), body, HEAD_END])
      : (body: Buffer) => Buffer.concat([Buffer.from(`${headPrefix}${body.length}\r\n\r\n`, "latin1"), body]);
  const queue: PendingCall[] = [];
  let inFlight: PendingCall | undefined;
  let socket: net.Socket | undefined;
  let parser = new ResponseParser();
  let closed = false;

  const openSocket = (): net.Socket => {
    const s = net.connect({ host: spec.host, port: spec.port, noDelay: true });
    parser = new ResponseParser();
    s.on("data", (chunk: Buffer) => {
      for (const [httpStatus, body] of parser.push(chunk)) {
        const call = inFlight;
        inFlight = undefined;
        call?.done(connectStatus(httpStatus, body));
      }
      sendNext();
    });
    s.on("error", () => {});
    s.on("close", () => {
      if (socket === s) socket = undefined;
      const call = inFlight;
      inFlight = undefined;
      call?.done(STATUS_UNAVAILABLE);
      if (!closed) sendNext();
    });
    return s;
  };

  const sendNext = (): void => {
    if (inFlight !== undefined || queue.length === 0) return;
    if (closed) {
      for (const call of queue.splice(0)) setImmediate(call.done, STATUS_UNAVAILABLE);
      return;
    }
    socket ??= openSocket();
    inFlight = queue.shift()!;
    socket.write(requestBytes(inFlight.body));
  };

  return {
    ready: () =>
      new Promise((resolve, reject) => {
        socket = openSocket();
        socket.once("connect", resolve);
        socket.once("error", reject);
      }),
    send(body, done) {
      queue.push({ body, done });
      sendNext();
    },
    close: () => {
      closed = true;
      socket?.end();
    },
  };
}
