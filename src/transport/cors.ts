import type { IncomingHttpHeaders } from "node:http";
import { cors } from "@connectrpc/connect";

/** What the wrapper needs of a request and a response: node:http and node:http2's compatibility API both fit. */
interface CorsRequest {
  readonly method?: string;
  readonly headers: IncomingHttpHeaders;
}
interface CorsResponse {
  setHeader(name: string, value: string): unknown;
  writeHead(status: number, headers?: Record<string, string>): unknown;
  end(): unknown;
}

// Connect's lists for its three protocols, plus Authorization: admin calls and DeriveToken carry a bearer key;
// plus the request id and W3C trace context a browser app may send (OpenTelemetry's web instrumentation does).
const ALLOWED_METHODS = cors.allowedMethods.join(", ");
const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization", "X-Request-Id", "traceparent", "tracestate"].join(", ");
const EXPOSED_HEADERS = [...cors.exposedHeaders, "X-Request-Id"].join(", ");
/** Browsers cache a preflight this long (Chromium caps it at 2 h). */
const PREFLIGHT_MAX_AGE_S = "7200";

/**
 * CORS for the HTTP listener, wrapped around its request handler, so that Connect and gRPC-Web
 * clients in a browser page of a listed origin can call Sigil. Off (the handler as is) with no
 * origins. A preflight from a listed origin is answered here (204); from another origin, 403. Actual
 * requests of a listed origin get Access-Control-Allow-Origin (the origin itself, also for "*") and
 * the exposed gRPC status headers; others get no CORS headers, so the browser withholds the answer.
 * No credentials mode: Sigil takes bearer keys, never cookies.
 */
export function withCors<Req extends CorsRequest, Res extends CorsResponse>(
  handler: (req: Req, res: Res) => void,
  origins: readonly string[],
): (req: Req, res: Res) => void {
  if (origins.length === 0) return handler;
  const anyOrigin = origins.includes("*");
  const allowed = new Set(origins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string") return handler(req, res);
    const permitted = anyOrigin || allowed.has(origin.toLowerCase());
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      const vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
      if (!permitted) {
        res.writeHead(403, { vary, "content-length": "0" });
        res.end();
        return;
      }
      res.writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": ALLOWED_METHODS,
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": PREFLIGHT_MAX_AGE_S,
        vary,
      });
      res.end();
      return;
    }
    // The answer depends on Origin: caches must not hand one origin's answer to another.
    res.setHeader("vary", "Origin");
    if (permitted) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
    }
    handler(req, res);
  };
}
