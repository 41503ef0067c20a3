import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { HeaderValueOption_HeaderAppendAction, HeaderValueOptionSchema, type HeaderValueOption } from "../../gen/envoy/config/core/v3/base_pb.js";
import type { AttributeContext, AttributeContext_HttpRequest } from "../../gen/envoy/service/auth/v3/attribute_context_pb.js";
import { CheckResponseSchema, type CheckRequest, type CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { CallContext } from "../service/call-context.js";
import { answerBadRequest, IDENTITY_HEADERS, type AuthorizationAnswer } from "./authorization-answer.js";
import { AUDIENCE_HEADER, REQUIRED_SCOPES_HEADER, type HeaderLookup, type RequestParts } from "./authorization-request.js";
import type { HeaderList } from "./rate-limit-headers.js";
import type { GatewayAuthorizer } from "./gateway-authorizer.js";
import { TENANT_HEADER } from "./tenant-restriction.js";

/** Most headers a Check request may carry (Envoy's own default limit is 100). */
const MAX_HEADERS = 1024;

/**
 * `envoy.service.auth.v3.Authorization/Check` on the gRPC listener, for Envoy's ext_authz HTTP
 * filter: the same reading and decision as /v1/authorize (forward-auth-route.ts) on the original
 * request as Envoy describes it. Allowed: status OK, and ok_response sets the identity headers on
 * the request to the upstream (overwriting a client's own) and removes the identity headers it
 * does not set (so a client cannot forge X-Sigil-Token-Id beside a plain API key); the rate-limit
 * headers go to the client. Denied: the gRPC code of the outcome, and denied_response with the
 * HTTP status (400/401/403/429), the client's headers and the JSON body. Per-route scopes and
 * audience may come from the route's context_extensions (x-sigil-required-scopes, added to the
 * request's own; x-sigil-audience, replacing it; x-sigil-tenant-id, restricting the check to one
 * tenant, see tenant-restriction.ts).
 */
export class EnvoyAuthorizationService {
  readonly #authorizer: GatewayAuthorizer;

  constructor(authorizer: GatewayAuthorizer) {
    this.#authorizer = authorizer;
  }

  check(req: CheckRequest, ctx: CallContext): CheckResponse | Promise<CheckResponse> {
    const respond = (a: AuthorizationAnswer) => {
      if (a.keyId !== undefined) ctx.keyId = a.keyId;
      return responseOf(a);
    };
    let answer: AuthorizationAnswer | Promise<AuthorizationAnswer>;
    try {
      answer = this.#authorizer.answer(partsOf(req.attributes), () => ctx.peerAddress);
    } catch (err) {
      // Too many headers: bad input from the gateway, answered like the reader's.
      if (err instanceof ConnectError && err.code === Code.InvalidArgument) return respond(answerBadRequest(err.rawMessage));
      throw err;
    }
    return answer instanceof Promise ? answer.then(respond) : respond(answer);
  }
}

function partsOf(attributes: AttributeContext | undefined): RequestParts {
  const http = attributes?.request?.http;
  const headers = headerLookup(http);
  const path = http?.path ?? "";
  const q = path.indexOf("?");
  const extensions = attributes?.contextExtensions ?? {};
  const source = attributes?.source?.address?.address;
  return {
    headers,
    query: q < 0 ? undefined : path.slice(q + 1),
    peer: source?.case === "socketAddress" ? source.value.address : undefined,
    configuredScopes: extensions[REQUIRED_SCOPES_HEADER],
    configuredAudience: extensions[AUDIENCE_HEADER],
    configuredTenantId: extensions[TENANT_HEADER],
  };
}

/** `headers` (lower-case keys, repeated headers joined by Envoy), or `header_map` with encode_raw_headers. */
function headerLookup(http: AttributeContext_HttpRequest | undefined): HeaderLookup {
  const map = http?.headers ?? {};
  const raw = http?.headerMap?.headers ?? [];
  if (Object.keys(map).length > MAX_HEADERS || raw.length > MAX_HEADERS) throw new ConnectError(`attributes.request.http: more than ${MAX_HEADERS} headers`, Code.InvalidArgument);
  if (raw.length === 0) return (name) => map[name];
  const decoder = new TextDecoder();
  const byName = new Map<string, string>();
  for (const h of raw) {
    const name = h.key.toLowerCase();
    if (!byName.has(name)) byName.set(name, h.value !== "" ? h.value : decoder.decode(h.rawValue));
  }
  return (name) => map[name] ?? byName.get(name);
}

function responseOf(answer: AuthorizationAnswer): CheckResponse {
  if (answer.status === 200) {
    const set = new Set(answer.identity.map(([name]) => name));
    return create(CheckResponseSchema, {
      status: { code: 0 },
      httpResponse: {
        case: "okResponse",
        value: {
          headers: options(answer.identity),
          headersToRemove: IDENTITY_HEADERS.filter((name) => !set.has(name)),
          responseHeadersToAdd: options(answer.response),
        },
      },
    });
  }
  return create(CheckResponseSchema, {
    status: { code: answer.code, message: answer.reason },
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: answer.status },
        headers: options([...answer.response, ["content-type", "application/json"], ["cache-control", "no-store"]]),
        body: answer.body,
      },
    },
  });
}

function options(headers: HeaderList): HeaderValueOption[] {
  return headers.map(([key, value]) =>
    create(HeaderValueOptionSchema, { header: { key, value }, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD }),
  );
}
