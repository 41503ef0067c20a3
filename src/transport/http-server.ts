import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { Code, createContextKey, createContextValues, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { HostPort } from "../config/config.js";
import type { CallContext } from "../service/call-context.js";
import type { CallObserver, MethodObserver, RpcProtocol } from "../observability/call-observer.js";
import { REQUEST_ID_HEADER } from "../observability/request-id.js";
import { toPublicError } from "./call-logger.js";
import { withCors } from "./cors.js";
import { createConnectHandler, requestRefusal, type ScreenedMethod } from "./connect-handler.js";
import { Http2SessionGuard } from "./http2-session-guard.js";
import type { HttpRoute, RouteOutcome } from "./http-routes.js";
import { MAX_HEADER_BYTES, MAX_HEADER_FIELDS, type ListenerLimits } from "./listener-limits.js";
import { followTlsReloads, limitConnections, listenOn, tlsServerOptions } from "./listening-socket.js";
import { MessageLimits } from "./message-limits.js";
import type { ServiceHandlers } from "./service-methods.js";
import { RequestByteBudget } from "./request-byte-budget.js";
import type { TlsSource } from "./tls-reloader.js";

export interface HttpListenerOptions {
  readonly services: ReadonlyArray<{ readonly service: DescService; readonly handlers: ServiceHandlers }>;
  /** JSON Web Key Set body for GET /.well-known/jwks.json. */
  readonly jwks: () => unknown;
  readonly isServing: () => boolean;
  readonly log: Logger;
  /** Hears every call of the registered services: access log, metrics, spans, request id. */
  readonly calls: CallObserver;
  /** SIGIL_MAX_MESSAGE_BYTES: the largest request of any method (smaller methods have their own). */
  readonly maxMessageBytes: number;
  /** Browser origins allowed by CORS (see cors.ts); none: CORS off. */
  readonly corsOrigins?: readonly string[];
  /** Sigil's version, in the /healthz answer. */
  readonly version?: string;
  readonly limits: ListenerLimits;
  /** TLS when set: HTTP/2 and HTTP/1.1 on the one port (ALPN). */
  readonly tls?: TlsSource | undefined;
  /** Plain HTTP routes beside the procedures (the gateway's /v1/authorize), logged like calls. */
  readonly routes?: readonly HttpRoute[];
}

/**
 * The HTTP listener on connect-node: Connect (binary and JSON), gRPC-Web and gRPC, plus
 * GET /.well-known/jwks.json and GET /healthz. Plaintext it speaks HTTP/1.1 (what curl, fetch and
 * browsers speak; gRPC over HTTP/2 is the gRPC listener's job); with TLS, HTTP/2 and HTTP/1.1.
 */
export function createHttpServer(options: HttpListenerOptions): HttpListener {
  const observedRoutes = (options.routes ?? []).map((route) => ({ route, observer: options.calls.route(route.name) }));
  const messageLimits = new MessageLimits(options.maxMessageBytes);
  const screened = new Map<string, ScreenedMethod>();
  const routes = (router: ConnectRouter) => {
    for (const { service, handlers } of options.services) {
      for (const method of service.methods) {
        const handler = handlers[method.localName]!;
        const name = `${service.typeName}/${method.name}`;
        const maxMessageBytes = messageLimits.forMethod(name);
        screened.set(`/${name}`, { name, input: method.input, maxMessageBytes });
        const observer = options.calls.method(method);
        const impl =
          method.methodKind === "server_streaming"
            ? async function* (req: never, hctx: HandlerContext) {
                const scope = beginCall(hctx, observer);
                const ctx = callContext(hctx);
                try {
                  const refusal = requestRefusal(hctx);
                  if (refusal) throw refusal;
                  yield* scope.bind(scope.run(() => handler(req, ctx)) as AsyncIterable<unknown>);
                  scope.end(0, ctx.keyId);
                } catch (err) {
                  const e = toPublicError(err, options.log, name, scope.requestId);
                  scope.end(e.code, ctx.keyId);
                  throw e;
                }
              }
            : async (req: never, hctx: HandlerContext) => {
                const scope = beginCall(hctx, observer);
                const ctx = callContext(hctx);
                try {
                  const refusal = requestRefusal(hctx);
                  if (refusal) throw refusal;
                  const res = await scope.run(() => handler(req, ctx));
                  scope.end(0, ctx.keyId);
                  return res;
                } catch (err) {
                  const e = toPublicError(err, options.log, name, scope.requestId);
                  scope.end(e.code, ctx.keyId);
                  throw e;
                }
              };
        router.rpc(method, impl as never, { readMaxBytes: maxMessageBytes });
      }
    }
  };
  const connectHandler = createConnectHandler({
    routes,
    contextValues: (req) => createContextValues().set(PEER_ADDRESS, req.socket.remoteAddress),
    methods: screened,
    fallback: (req, res) => serveExtraRoutes(req as IncomingMessage, res as ServerResponse, options, observedRoutes),
    budget: new RequestByteBudget(options.limits.maxPendingRequestBytes),
    log: options.log,
  });
  const handler = withCors(connectHandler, options.corsOrigins ?? []);
  return options.tls ? secureListener(handler, options.tls, options) : new HttpListener(plaintextServer(handler, options.limits), undefined, { maxConnections: options.limits.maxConnections, log: options.log });
}

type NodeHandler = ReturnType<typeof createConnectHandler>;

/** Node's HTTP/1.1 timeouts from the listener limits (the receive timeout covers headers and body). */
function http1Timeouts(server: { keepAliveTimeout: number; requestTimeout: number; headersTimeout: number; maxHeadersCount: number | null }, limits: ListenerLimits): void {
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.requestTimeout = limits.receiveTimeoutMs;
  server.headersTimeout = limits.receiveTimeoutMs;
  server.maxHeadersCount = MAX_HEADER_FIELDS;
}

/** How often Node checks HTTP/1.1 requests against the receive timeout. */
function checkingIntervalMs(limits: ListenerLimits): number {
  return Math.max(50, Math.min(1000, Math.floor(limits.receiveTimeoutMs / 4)));
}

function plaintextServer(handler: NodeHandler, limits: ListenerLimits): http.Server {
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, noDelay: true, connectionsCheckingInterval: checkingIntervalMs(limits) }, handler);
  http1Timeouts(server, limits);
  return server;
}

/**
 * With TLS: HTTP/2 for clients that offer it by ALPN (grpc through connect-node, curl --http2,
 * browsers), HTTP/1.1 for the rest, on the same port. HTTP/2 sessions get the same guard as the
 * gRPC listener (idle, receive and given-up connections).
 */
function secureListener(handler: NodeHandler, source: TlsSource, options: HttpListenerOptions): HttpListener {
  const { limits, log } = options;
  const server = http2.createSecureServer(
    {
      ...tlsServerOptions(source.current, { alpn: ["h2", "http/1.1"], receiveTimeoutMs: limits.receiveTimeoutMs }),
      allowHTTP1: true,
      settings: { maxHeaderListSize: MAX_HEADER_BYTES, maxConcurrentStreams: limits.maxStreamsPerConnection },
    },
    handler,
  );
  http1Timeouts(server as unknown as http.Server, limits);
  (server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval = checkingIntervalMs(limits);
  followTlsReloads(server, source);
  const guard = new Http2SessionGuard({ idleTimeoutMs: limits.idleTimeoutMs, receiveTimeoutMs: limits.receiveTimeoutMs, listener: "http", log });
  guard.watch(server, { countStreams: true });
  const cut = { onTimeout: cutStream, context: undefined };
  server.on("stream", (stream: http2.ServerHttp2Stream) => guard.expectRequest(stream, cut));
  return new HttpListener(server, guard, { maxConnections: limits.maxConnections, log });
}

/** A request not received within the receive timeout: its stream is reset. */
function cutStream(stream: http2.ServerHttp2Stream): void {
  if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
}

/** The remote address of the call's connection (node:http's socket.remoteAddress). */
const PEER_ADDRESS = createContextKey<string | undefined>(undefined);

function callContext(hctx: HandlerContext): CallContext {
  return { authorization: hctx.requestHeader.get("authorization") ?? undefined, peerAddress: hctx.values.get(PEER_ADDRESS), signal: hctx.signal };
}

/** The call's observation, its request id echoed in the response headers. */
function beginCall(hctx: HandlerContext, observer: MethodObserver) {
  const scope = observer.begin(protocolOf(hctx), (name) => hctx.requestHeader.get(name) ?? undefined);
  hctx.responseHeader.set(REQUEST_ID_HEADER, scope.requestId);
  return scope;
}

function protocolOf(hctx: HandlerContext): RpcProtocol {
  const type = hctx.requestHeader.get("content-type") ?? "";
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  return "connect";
}

const RPC_PATH = /^\/[A-Za-z_][\w.]*\/[A-Za-z_]\w*$/;

/** A route with its call observer, resolved once when the listener is made. */
interface ObservedRoute {
  readonly route: HttpRoute;
  readonly observer: MethodObserver;
}

function serveExtraRoutes(req: IncomingMessage, res: ServerResponse, options: HttpListenerOptions, routes: readonly ObservedRoute[]): void {
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
  const route = routes.find((r) => r.route.matches(path!));
  if (route) return serveRoute(route.route, route.observer, req, res, options.log);
  // A procedure this server does not serve (another version's, or outside its SIGIL_MODE): Connect's
  // error for it; gRPC and gRPC-Web clients read HTTP 404 as UNIMPLEMENTED too.
  if (req.method === "POST" && RPC_PATH.test(path ?? "")) return send(404, { code: "unimplemented", message: `${path!.slice(1)} is not served here` });
  send(404, { code: "not_found", message: `no route for ${req.method} ${path}` });
}

/**
 * Runs a route and reports it like a call (log line, metrics, span, request id echoed); what it
 * throws becomes 503 (UNAVAILABLE: the database is out of reach) or a bare 500.
 */
function serveRoute(route: HttpRoute, observer: MethodObserver, req: IncomingMessage, res: ServerResponse, log: Logger): void {
  const scope = observer.begin("http", (name) => {
    const value = req.headers[name];
    return typeof value === "string" ? value : undefined;
  });
  res.setHeader(REQUEST_ID_HEADER, scope.requestId);
  const done = (outcome: RouteOutcome) => scope.end(outcome.code, outcome.keyId);
  const failed = (err: unknown) => {
    const e = toPublicError(err, log, route.name, scope.requestId);
    if (!res.headersSent) {
      const unavailable = e.code === Code.Unavailable;
      res.writeHead(unavailable ? 503 : 500, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: unavailable ? "unavailable" : "internal", message: e.rawMessage }));
    } else res.destroy();
    scope.end(e.code, undefined);
  };
  let outcome: RouteOutcome | Promise<RouteOutcome>;
  try {
    outcome = scope.run(() => route.serve(req, res));
  } catch (err) {
    return failed(err);
  }
  if (outcome instanceof Promise) outcome.then(done, failed);
  else done(outcome);
}

/** The HTTP server (HTTP/1.1, or with TLS HTTP/2 and HTTP/1.1), with a graceful close. */
export class HttpListener {
  readonly server: http.Server | http2.Http2SecureServer;
  readonly #guard: Http2SessionGuard | undefined;

  constructor(server: http.Server | http2.Http2SecureServer, guard: Http2SessionGuard | undefined, options: { readonly maxConnections: number; readonly log: Logger }) {
    this.server = server;
    this.#guard = guard;
    limitConnections(server, options.maxConnections, "http", options.log);
  }

  /** Binds the port; rejects with Node's listen error (EADDRINUSE, EACCES, ...). */
  listen(address: HostPort): Promise<number> {
    return listenOn(this.server, address);
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes the rest. */
  close(graceMs: number): Promise<void> {
    // Http2SecureServer tracks its HTTP/1.1 connections like http.Server, without the methods.
    const closeAll = () => http.Server.prototype.closeAllConnections.call(this.server);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        closeAll();
        this.#guard?.stop();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(timer);
        this.#guard?.stop();
        resolve();
      });
      // Idle keep-alive connections would hold the server open; busy ones close after their response.
      http.Server.prototype.closeIdleConnections.call(this.server);
      this.#guard?.closeSessions();
    });
  }
}
