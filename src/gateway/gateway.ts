import { Authorization } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { CredentialVerifier } from "../service/credential-verifier.js";
import { bindServiceHandlers, type ServiceHandlers } from "../transport/service-methods.js";
import type { HttpRoute } from "../transport/http-routes.js";
import { AuthorizationRequestReader } from "./authorization-request.js";
import { ClientAddressResolver } from "./client-address.js";
import { EnvoyAuthorizationService } from "./envoy-authorization-service.js";
import { ForwardAuthRoute } from "./forward-auth-route.js";
import { GatewayAuthorizer } from "./gateway-authorizer.js";

export interface GatewayOptions {
  readonly verifier: CredentialVerifier;
  readonly now: () => number;
  /** SIGIL_AUTH_HEADER (lower-case), or undefined for Authorization: Bearer only. */
  readonly authHeader: string | undefined;
  /** SIGIL_TRUSTED_PROXIES (canonical CIDRs). */
  readonly trustedProxies: readonly string[];
  /** SIGIL_VERIFY_FAILURE_REFILL: a throttled client's Retry-After. */
  readonly verifyFailureRefillMs: number;
}

/** The gateway adapters, sharing one reader and one decision: the HTTP route and Envoy's gRPC service. */
export interface Gateway {
  /** /v1/authorize, for the HTTP listener. */
  readonly forwardAuth: HttpRoute;
  /** envoy.service.auth.v3.Authorization, for the gRPC listener. */
  readonly envoy: { readonly service: typeof Authorization; readonly handlers: ServiceHandlers };
}

export function createGateway(options: GatewayOptions): Gateway {
  const reader = new AuthorizationRequestReader({ authHeader: options.authHeader, addresses: new ClientAddressResolver(options.trustedProxies) });
  const authorizer = new GatewayAuthorizer({
    reader,
    verifier: options.verifier,
    now: options.now,
    throttleRetryAfterSeconds: Math.max(1, Math.ceil(options.verifyFailureRefillMs / 1000)),
  });
  return {
    forwardAuth: new ForwardAuthRoute(authorizer),
    envoy: { service: Authorization, handlers: bindServiceHandlers(Authorization, [new EnvoyAuthorizationService(authorizer)]) },
  };
}
