import type { HttpRoute, RouteOutcome, RouteRequest, RouteResponse } from "../transport/http-routes.js";
import type { AuthorizationAnswer } from "./authorization-answer.js";
import type { HeaderLookup, RequestParts } from "./authorization-request.js";
import type { GatewayAuthorizer } from "./gateway-authorizer.js";

/** The forward-auth path; sub-paths too, so a proxy may append the original path. */
export const FORWARD_AUTH_PATH = "/v1/authorize";

/**
 * `/v1/authorize`, any method: forward authentication for nginx `auth_request`, Traefik
 * `forwardAuth` and the like, on the HTTP listener. The proxy sends the original request's
 * headers; the answer is 200 with the identity headers, or 400/401/403/429 with the client's
 * headers (see authorization-answer.ts). A body is never read: the answer comes at once, and a
 * connection that carried one is closed after it (its unread rest would otherwise come first on
 * the next keep-alive request).
 */
export class ForwardAuthRoute implements HttpRoute {
  readonly name = FORWARD_AUTH_PATH;
  readonly #authorizer: GatewayAuthorizer;

  constructor(authorizer: GatewayAuthorizer) {
    this.#authorizer = authorizer;
  }

  matches(path: string): boolean {
    return path === FORWARD_AUTH_PATH || path.startsWith(`${FORWARD_AUTH_PATH}/`);
  }

  serve(req: RouteRequest, res: RouteResponse): RouteOutcome | Promise<RouteOutcome> {
    const answer = this.#authorizer.answer(partsOf(req), () => req.socket?.remoteAddress);
    return answer instanceof Promise ? answer.then((a) => write(req, res, a)) : write(req, res, answer);
  }
}

function partsOf(req: RouteRequest): RequestParts {
  const headers = req.headers;
  const url = req.url ?? "";
  const q = url.indexOf("?");
  const lookup: HeaderLookup = (name) => {
    const value = headers[name];
    return typeof value === "string" ? value : value?.[0];
  };
  return { headers: lookup, query: q < 0 ? undefined : url.slice(q + 1), peer: req.socket?.remoteAddress };
}

function write(req: RouteRequest, res: RouteResponse, answer: AuthorizationAnswer): RouteOutcome {
  const flat: string[] = ["cache-control", "no-store"];
  for (const [name, value] of answer.identity) flat.push(name, value);
  for (const [name, value] of answer.response) flat.push(name, value);
  if (answer.body.length > 0) flat.push("content-type", "application/json");
  flat.push("content-length", String(Buffer.byteLength(answer.body)));
  if (hasBody(req)) closeAfterAnswer(flat);
  res.writeHead(answer.status, flat as never);
  res.end(answer.body);
  return { code: answer.code, keyId: answer.keyId };
}

function hasBody(req: RouteRequest): boolean {
  if ("stream" in req) return false;
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined;
}

/** HTTP/1.1: `Connection: close`, so node ends the socket once the answer is out (the body is never read). */
function closeAfterAnswer(flat: string[]): void {
  flat.push("connection", "close");
}
