/**
 * `@sigil/client/connect`: a Connect interceptor for services served by connect-node,
 * connect-express or connect-fastify. The handler reads the identity from its context:
 *
 *   connectNodeAdapter({ routes, interceptors: [sigilConnectInterceptor(sigil, { scopes })], contextValues: sigilContextValues });
 *   // in a handler:
 *   const identity = ctx.values.get(sigilIdentityKey)!;
 */
import { ConnectError, createContextKey, createContextValues, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { credentialFromHeader } from "./middleware/credential.js";
import { DENIAL_CODE, type SigilDenial } from "./middleware/denial.js";
import type { SigilIdentity } from "./middleware/identity.js";
import { methodPolicy, type SigilMethodOptions } from "./middleware/method-policy.js";
import type { SigilAuth } from "./middleware/sigil-auth.js";

export type { SigilMethodOptions } from "./middleware/method-policy.js";
export type { SigilIdentity } from "./middleware/identity.js";

/** The verified identity, in `ctx.values` of every handler behind the interceptor (undefined on public methods). */
export const sigilIdentityKey = createContextKey<SigilIdentity | undefined>(undefined, { description: "sigil identity" });

/** The client's address, for VerifyKey: set it with `sigilContextValues` (or your own contextValues). */
export const sigilClientIpKey = createContextKey<string | undefined>(undefined, { description: "sigil client ip" });

/**
 * The adapters' `contextValues` option: records the client address (Express's and Fastify's
 * `req.ip`, which honour their trust-proxy settings, else the socket's remote address).
 */
export function sigilContextValues(req: { readonly ip?: string; readonly socket?: { readonly remoteAddress?: string } | null }): ContextValues {
  return createContextValues().set(sigilClientIpKey, req.ip ?? req.socket?.remoteAddress);
}

export function sigilConnectInterceptor(auth: SigilAuth, options: SigilMethodOptions = {}): Interceptor {
  const ruleOf = methodPolicy(options, "sigilConnectInterceptor");
  const bearer = auth.header === "authorization";
  return (next) => async (req) => {
    const rule = ruleOf(`/${req.service.typeName}/${req.method.name}`);
    if (rule.public) return next(req);
    const credential = credentialFromHeader(req.header.get(auth.header) ?? undefined, bearer);
    const result = await auth.authenticate(credential, { requiredScopes: rule.scopes, clientIp: req.contextValues.get(sigilClientIpKey) });
    if (!result.ok) throw connectError(result.denial);
    req.contextValues.set(sigilIdentityKey, result.identity);
    return next(req);
  };
}

function connectError(denial: SigilDenial): ConnectError {
  const metadata = denial.retryAfterSeconds === undefined ? undefined : { "retry-after": String(denial.retryAfterSeconds) };
  return new ConnectError(denial.message, DENIAL_CODE[denial.status], metadata);
}
