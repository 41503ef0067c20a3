import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** A request as the HTTP listener hands it to a route: HTTP/1.1, or HTTP/2 with TLS (node's compatibility API). */
export type RouteRequest = IncomingMessage | Http2ServerRequest;
export type RouteResponse = ServerResponse | Http2ServerResponse;

/** What a route reports of the answer it wrote, for the per-call log line. */
export interface RouteOutcome {
  /** The gRPC/Connect status code the answer corresponds to (0: OK, 16: UNAUTHENTICATED, ...). */
  readonly code: number;
  /** The key the request named, once known (never its secret). */
  readonly keyId?: string | undefined;
}

/**
 * A plain HTTP route of the HTTP listener beside the Connect procedures (the forward-auth route of
 * src/gateway/). The listener calls it for every path it `matches`, logs the call like an RPC and
 * answers INTERNAL if it throws. `serve` writes the whole answer; it returns synchronously when it
 * can, so a cache hit takes no extra turn.
 */
export interface HttpRoute {
  /** Name of the route in log lines ("/v1/authorize"). */
  readonly name: string;
  matches(path: string): boolean;
  serve(req: RouteRequest, res: RouteResponse): RouteOutcome | Promise<RouteOutcome>;
}
