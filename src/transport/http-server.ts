import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { DescService } from "@bufbuild/protobuf";
import { createContextKey, createContextValues, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type { HostPort } from "../config/config.js";
import type { CallContext } from "../service/call-context.js";
import { logCall, toPublicError } from "./call-logger.js";
import { withCors } from "./cors.js";
import type { ServiceHandlers } from "./service-methods.js";

export interface HttpListenerOptions {
  readonly services: ReadonlyArray<{ readonly service: DescService; readonly handlers: ServiceHandlers }>;
  /** JSON Web Key Set body for GET /.well-known/jwks.json. */
  readonly jwks: () => unknown;
  readonly isServing: () => boolean;
  readonly log: Logger;
  readonly maxMessageBytes: number;
  /** Browser origins allowed by CORS (see cors.ts); none: CORS off. */
  readonly corsOrigins?: readonly string[];
  /** Sigil's version, in the /healthz answer. */
  readonly version?: string;
}


/**
 * The HTTP listener on connect-node: Connect (binary and JSON), gRPC-Web and gRPC, plus
 * GET /.well-known/jwks.json and GET /healthz, over HTTP/1.1 (what curl, fetch and browsers speak;
 * gRPC over HTTP/2 is the gRPC listener's job).
 */
export function createHttpServer(options: HttpListenerOptions): HttpListener {
  const routes = (router: ConnectRouter) => {
    for (const { service, handlers } of options.services) {
      const impl: Record<string, unknown> = {};
      for (const method of service.methods) {
        const handler = handlers[method.localName]!;
        const name = `${service.typeName}/${method.name}`;
        impl[method.localName] =
          method.methodKind === "server_streaming"
            ? async function* (req: never, hctx: HandlerContext) {
                const startNs = process.hrtime.bigint();
                const ctx = callContext(hctx);
                try {
                  yield* handler(req, ctx) as AsyncIterable<unknown>;
                  logCall(options.log, { method: name, protocol: protocolOf(hctx), code: 0, startNs, keyId: ctx.keyId });
                } catch (err) {
                  const e = toPublicError(err, options.log, name);
                  logCall(options.log, { method: name, protocol: protocolOf(hctx), code: e.code, startNs, keyId: ctx.keyId });
                  throw e;
                }
              }
            : async (req: never, hctx: HandlerContext) => {
                const startNs = process.hrtime.bigint();
                const ctx = callContext(hctx);
                try {
                  const res = await handler(req, ctx);
                  logCall(options.log, { method: name, protocol: protocolOf(hctx), code: 0, startNs, keyId: ctx.keyId });
                  return res;
                } catch (err) {
                  const e = toPublicError(err, options.log, name);
                  logCall(options.log, { method: name, protocol: protocolOf(hctx), code: e.code, startNs, keyId: ctx.keyId });
                  throw e;
                }
              };
      }
      router.service(service, impl as never);
    }
  };
  const connectHandler = connectNodeAdapter({
    routes,
    readMaxBytes: options.maxMessageBytes,
    contextValues: (req) => createContextValues().set(PEER_ADDRESS, req.socket.remoteAddress),
    fallback: (req, res) => serveExtraRoutes(req as IncomingMessage, res as ServerResponse, options),
  });
  const server = http.createServer({ maxHeaderSize: 16 * 1024, keepAliveTimeout: 65_000 }, withCors(connectHandler, options.corsOrigins ?? []));
  server.maxHeadersCount = 128;
  return new HttpListener(server);
}

/** The remote address of the call's connection (node:http's socket.remoteAddress). */
const PEER_ADDRESS = createContextKey<string | undefined>(undefined);

function callContext(hctx: HandlerContext): CallContext {
  return { authorization: hctx.requestHeader.get("authorization") ?? undefined, peerAddress: hctx.values.get(PEER_ADDRESS), signal: hctx.signal };
}

function protocolOf(hctx: HandlerContext): string {
  const type = hctx.requestHeader.get("content-type") ?? "";
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  return "connect";
}

const RPC_PATH = /^\/[A-Za-z_][\w.]*\/[A-Za-z_]\w*$/;

function serveExtraRoutes(req: IncomingMessage, res: ServerResponse, options: HttpListenerOptions): void {
  const path = (req.url ?? "").split("?")[0];
  const send = (status: number, body: unknown, cache?: string) => {
    const text = JSON.stringify(body);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (cache) headers["cache-control"] = cache;
    res.writeHead(status, headers);
    res.end(text);
  };
  if (req.method === "GET" && path === "/.well-known/jwks.json") return send(200, options.jwks(), "public, max-age=300");
  if (req.method === "GET" && path === "/healthz") {
    const serving = options.isServing();
    return send(serving ? 200 : 503, { status: serving ? "SERVING" : "NOT_SERVING", version: options.version }, "no-store");
  }
  // A procedure this server does not serve (another version's, or outside its SIGIL_MODE): Connect's
  // error for it; gRPC and gRPC-Web clients read HTTP 404 as UNIMPLEMENTED too.
  if (req.method === "POST" && RPC_PATH.test(path ?? "")) return send(404, { code: "unimplemented", message: `${path!.slice(1)} is not served here` });
  send(404, { code: "not_found", message: `no route for ${req.method} ${path}` });
}

/** The HTTP server, with a graceful close. */
export class HttpListener {
  readonly server: http.Server;

  constructor(server: http.Server) {
    this.server = server;
  }

  listen(address: HostPort): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(address.port, address.host, () => {
        this.server.off("error", reject);
        const addr = this.server.address();
        resolve(typeof addr === "object" && addr ? addr.port : address.port);
      });
    });
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes the rest. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      // Idle keep-alive connections would hold the server open; busy ones close after their response.
      this.server.closeIdleConnections();
    });
  }
}
