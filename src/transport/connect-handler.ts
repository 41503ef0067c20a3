import type { IncomingMessage, ServerResponse } from "node:http";
import http2 from "node:http2";
import { fromBinary, fromJsonString, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, createContextKey, createContextValues, type ConnectRouter, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { tooLargeMessage } from "./message-limits.js";
import { BUDGET_SPENT_MESSAGE, type RequestByteBudget } from "./request-byte-budget.js";

type NodeServerRequest = Parameters<typeof universalRequestFromNodeRequest>[0];
type NodeServerResponse = Parameters<typeof universalResponseToNodeResponse>[1];

/** A method as the screening knows it, by request path ("/sigil.v1.KeyService/VerifyKey"). */
export interface ScreenedMethod {
  /** "sigil.v1.KeyService/VerifyKey". */
  readonly name: string;
  readonly input: DescMessage;
  readonly maxMessageBytes: number;
}

export interface ConnectHandlerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly methods: ReadonlyMap<string, ScreenedMethod>;
  /** Requests for paths no route serves. */
  readonly fallback: (req: NodeServerRequest, res: NodeServerResponse) => void;
  /** Values every call's HandlerContext starts with (the peer address). */
  readonly contextValues?: (req: NodeServerRequest) => ContextValues;
  /** Bytes of unfinished request bodies held at once, over all requests of the listener. */
  readonly budget: RequestByteBudget;
  readonly log: Logger;
}

/** Why the screening refused a request; the method implementation throws it (and is logged). */
const REQUEST_REFUSAL = createContextKey<ConnectError | undefined>(undefined, { description: "sigil request refusal" });

/** The refusal for this call, if its request was malformed or too large: handlers throw it first. */
export function requestRefusal(ctx: HandlerContext): ConnectError | undefined {
  return ctx.values.get(REQUEST_REFUSAL);
}

/**
 * connect-node's request handler (what `connectNodeAdapter` does), with every request body read
 * and checked before Connect parses it:
 * - over its method's limit, or over the listener's byte budget for unfinished bodies: not read
 *   further, RESOURCE_EXHAUSTED; the connection is then closed
 *   after the answer (HTTP/1.1 `Connection: close`; HTTP/2: the stream is reset), since the unread
 *   rest of the body would otherwise sit in front of the next request on a keep-alive connection;
 * - not a valid message (binary or JSON, bare or enveloped): INVALID_ARGUMENT. Connect itself says
 *   INTERNAL ("parse binary: premature EOF") for a malformed binary body.
 * Either way Connect is handed an empty message and the refusal, which the method wrapper throws:
 * the answer comes in the caller's protocol and the call is logged like any other.
 * Compressed bodies (gzip, br) are decompressed for the check, within the same limit.
 */
export function createConnectHandler(options: ConnectHandlerOptions): (req: NodeServerRequest, res: NodeServerResponse) => void {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli] });
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const path = req.url?.split("?", 2)[0] ?? "";
    const uHandler = paths.get(path);
    if (!uHandler) return options.fallback(req, res);
    const values = options.contextValues?.(req) ?? createContextValues();
    const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
    const method = options.methods.get(path);
    const body = uReq.body;
    let screened = uReq;
    if (method && isByteStream(body)) {
      const contentLength = uReq.header.get("content-length");
      // Connect would refuse a declared length over the limit before reading (unlogged, leaving the
      // body unread on a keep-alive connection); the screening enforces the limit instead.
      uReq.header.delete("content-length");
      screened = {
        ...uReq,
        body: screenBody(body, wireFormat(uReq.header), method, contentLength, options.budget, (refusal, unread) => {
          values.set(REQUEST_REFUSAL, refusal);
          if (unread) closeAfterAnswer(req, res);
        }),
      };
    }
    uHandler(screened as UniversalServerRequest)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.log.warn({ method: `${uHandler.service.typeName}/${uHandler.method.name}`, err: { message: (reason as Error)?.message } }, "could not answer a request");
      });
  };
}

type WireFormat = { readonly enveloped: boolean; readonly json: boolean; readonly encoding: string | undefined } | undefined;

const COMPRESSIONS = new Map([compressionGzip, compressionBrotli].map((c) => [c.name, c]));

/** How the body is framed and encoded, from its headers; undefined: a content type Connect will refuse itself. */
function wireFormat(header: Headers): WireFormat {
  const type = (header.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const named = (name: string | null) => (name === null || name === "identity" ? undefined : name);
  const unary = named(header.get("content-encoding"));
  const enveloped = named(header.get("grpc-encoding") ?? header.get("connect-content-encoding"));
  switch (type) {
    case "application/proto":
      return { enveloped: false, json: false, encoding: unary };
    case "application/json":
      return { enveloped: false, json: true, encoding: unary };
    case "application/connect+proto":
    case "application/grpc":
    case "application/grpc+proto":
    case "application/grpc-web":
    case "application/grpc-web+proto":
      return { enveloped: true, json: false, encoding: enveloped };
    case "application/connect+json":
    case "application/grpc+json":
    case "application/grpc-web+json":
      return { enveloped: true, json: true, encoding: enveloped };
    default:
      return undefined;
  }
}

const ENVELOPE_HEADER = 5;
const FLAG_COMPRESSED = 0x01;

/**
 * Reads the whole body (at most the method's limit), checks it, and yields it unchanged, or an
 * empty message after calling `refuse`. `unread` tells that part of the body was left unread.
 */
async function* screenBody(
  body: AsyncIterable<Uint8Array>,
  format: WireFormat,
  method: ScreenedMethod,
  contentLength: string | null,
  budget: RequestByteBudget,
  refuse: (refusal: ConnectError, unread: boolean) => void,
): AsyncIterable<Uint8Array> {
  if (format === undefined) {
    yield* body;
    return;
  }
  const limit = method.maxMessageBytes + (format.enveloped ? ENVELOPE_HEADER : 0);
  const tooLarge = (size?: number) => new ConnectError(tooLargeMessage(method.name, size, method.maxMessageBytes), Code.ResourceExhausted);
  const declared = contentLength !== null && /^\d{1,15}$/.test(contentLength) ? Number(contentLength) : undefined;
  if (declared !== undefined && declared > limit) {
    refuse(tooLarge(format.enveloped ? undefined : declared), true);
    yield emptyMessage(format);
    return;
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  // Iterated by hand: leaving a loop early would destroy the request before the answer is sent.
  const iterator = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const size = next.value.byteLength;
      if (length + size > limit) {
        refuse(tooLarge(), true);
        yield emptyMessage(format);
        return;
      }
      if (!budget.tryReserve(size)) {
        refuse(new ConnectError(BUDGET_SPENT_MESSAGE, Code.ResourceExhausted), true);
        yield emptyMessage(format);
        return;
      }
      length += size;
      chunks.push(next.value);
    }
  } finally {
    budget.release(length);
  }
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
  const problem = await checkBody(bytes, format, method);
  if (problem !== undefined) {
    refuse(problem, false);
    yield emptyMessage(format);
    return;
  }
  yield bytes;
}

async function checkBody(bytes: Uint8Array, format: NonNullable<WireFormat>, method: ScreenedMethod): Promise<ConnectError | undefined> {
  // Made only for a refusal: an Error captures a stack trace, which cost a few per cent of a Connect call.
  const invalid = () => new ConnectError(`request is not a valid ${method.input.typeName} message`, Code.InvalidArgument);
  // An encoding Connect does not accept: it answers that itself.
  const compression = format.encoding === undefined ? undefined : COMPRESSIONS.get(format.encoding);
  if (format.encoding !== undefined && compression === undefined) return undefined;
  const plain = async (payload: Uint8Array): Promise<Uint8Array | ConnectError> => {
    if (!compression) return payload;
    try {
      return await compression.decompress(payload, method.maxMessageBytes);
    } catch (err) {
      const e = ConnectError.from(err);
      return e.code === Code.ResourceExhausted ? new ConnectError(tooLargeMessage(method.name, undefined, method.maxMessageBytes), Code.ResourceExhausted) : invalid();
    }
  };
  if (!format.enveloped) {
    const payload = await plain(bytes);
    if (payload instanceof ConnectError) return payload;
    return isMessage(payload, format.json, method.input) ? undefined : invalid();
  }
  let at = 0;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < ENVELOPE_HEADER) return invalid();
    const flags = bytes[at]!;
    const size = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    if (size > method.maxMessageBytes) return new ConnectError(tooLargeMessage(method.name, size, method.maxMessageBytes), Code.ResourceExhausted);
    const start = at + ENVELOPE_HEADER;
    if (bytes.byteLength - start < size) return invalid();
    const raw = bytes.subarray(start, start + size);
    const payload = (flags & FLAG_COMPRESSED) === 0 ? raw : await plain(raw);
    if (payload instanceof ConnectError) return payload;
    if (!isMessage(payload, format.json, method.input)) return invalid();
    at = start + size;
  }
  return undefined;
}

const UTF8 = new TextDecoder();

function isMessage(bytes: Uint8Array, json: boolean, input: DescMessage): boolean {
  try {
    if (json) fromJsonString(input, UTF8.decode(bytes), { ignoreUnknownFields: true });
    else fromBinary(input, bytes);
    return true;
  } catch {
    return false;
  }
}

const EMPTY_JSON = new TextEncoder().encode("{}");

/** A valid empty request in the body's framing: Connect parses it, the method throws the refusal. */
function emptyMessage(format: NonNullable<WireFormat>): Uint8Array {
  const payload = format.json ? EMPTY_JSON : new Uint8Array(0);
  if (!format.enveloped) return payload;
  const framed = new Uint8Array(ENVELOPE_HEADER + payload.byteLength);
  new DataView(framed.buffer).setUint32(1, payload.byteLength);
  framed.set(payload, ENVELOPE_HEADER);
  return framed;
}

/** After the answer, drop what remains of a body that was not read. */
function closeAfterAnswer(req: NodeServerRequest, res: NodeServerResponse): void {
  if ("stream" in req) {
    const stream = req.stream;
    (res as unknown as { once(event: "finish", fn: () => void): void }).once("finish", () => {
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    return;
  }
  const response = res as unknown as ServerResponse;
  if (!response.headersSent) response.setHeader("connection", "close");
  // Node half-closes after a `Connection: close` answer; a client that keeps sending is cut off.
  response.once("finish", () => (req as IncomingMessage).socket?.destroySoon());
}

function isByteStream(body: UniversalServerRequest["body"]): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}
