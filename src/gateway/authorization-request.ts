import { bearerCredential } from "../service/admin-auth.js";
import { invalid, LIMITS, requireBoundedText, requireCredentialText, requireScopes } from "../service/request-validation.js";
import type { ClientIp } from "../usage/client-networks.js";
import type { ClientAddressResolver } from "./client-address.js";
import { tenantRestrictionOf } from "./tenant-restriction.js";

/** One request header by lower-case name (node:http's headers, Envoy's map); undefined when absent. */
export type HeaderLookup = (name: string) => string | undefined;

/** What a gateway asks: the same inputs as VerifyKey, read from the original request's headers. */
export interface AuthorizationRequest {
  /** Undefined: the request carries no credential (401 with a bare challenge). */
  readonly credential: string | undefined;
  /** The header the credential came from (lower-case), so Envoy can strip it before the upstream. */
  readonly credentialHeader: string | undefined;
  readonly requiredScopes: readonly string[];
  readonly audience: string;
  readonly clientIp: ClientIp | undefined;
  /** Only credentials of this tenant (tenant-restriction.ts); undefined: any. */
  readonly tenantId: string | undefined;
}

/** Where the gateway adapters find the parts of a request that are not plain headers. */
export interface RequestParts {
  readonly headers: HeaderLookup;
  /** The query string (after "?"), for `scope` parameters. */
  readonly query: string | undefined;
  /** The address the request came from (socket peer, or Envoy's source address). */
  readonly peer: string | undefined;
  /** Scopes and audience from the gateway's own configuration (Envoy's context_extensions). */
  readonly configuredScopes?: string | undefined;
  readonly configuredAudience?: string | undefined;
  /** The tenant the gateway's configuration restricts the check to (Envoy's context_extensions). */
  readonly configuredTenantId?: string | undefined;
}

export const REQUIRED_SCOPES_HEADER = "x-sigil-required-scopes";
export const AUDIENCE_HEADER = "x-sigil-audience";
const SCOPE_SEPARATORS = /[\s,]+/;

/**
 * Reads an authorization request. The credential comes from SIGIL_AUTH_HEADER (the raw value)
 * when that is set and present, else from `Authorization: Bearer`. Required scopes are the union
 * of the `scope` query parameters (repeatable, each space-separated), X-Sigil-Required-Scopes
 * (space-separated) and the gateway's configured scopes: a client that adds its own can only make
 * its request harder to pass. Bad input throws INVALID_ARGUMENT naming the header or parameter
 * and never quoting it (a 400 for the client, not a 401).
 */
export class AuthorizationRequestReader {
  readonly #authHeader: string | undefined;
  readonly #addresses: ClientAddressResolver;

  constructor(options: { readonly authHeader: string | undefined; readonly addresses: ClientAddressResolver }) {
    this.#authHeader = options.authHeader;
    this.#addresses = options.addresses;
  }

  read(parts: RequestParts): AuthorizationRequest {
    const { headers } = parts;
    const { credential, credentialHeader } = this.#credential(headers);
    const requiredScopes = requiredScopesOf(parts.query, headers(REQUIRED_SCOPES_HEADER), parts.configuredScopes);
    const audience = requireBoundedText(parts.configuredAudience ?? headers(AUDIENCE_HEADER) ?? "", "X-Sigil-Audience", LIMITS.audienceChars);
    const clientIp = this.#addresses.resolve(parts.peer, headers("x-forwarded-for"), headers("x-real-ip"));
    const tenantId = tenantRestrictionOf(parts.query, headers, parts.configuredTenantId);
    return { credential, credentialHeader, requiredScopes, audience, clientIp, tenantId };
  }

  #credential(headers: HeaderLookup): { credential: string | undefined; credentialHeader: string | undefined } {
    const own = this.#authHeader;
    if (own !== undefined) {
      const value = headers(own)?.trim();
      if (value) return { credential: requireCredentialText(value, own), credentialHeader: own };
    }
    const authorization = headers("authorization");
    if (authorization === undefined) return { credential: undefined, credentialHeader: undefined };
    if (authorization.length > LIMITS.credentialChars + 16) throw invalid(`Authorization: longer than ${LIMITS.credentialChars} characters`);
    // Another scheme (Basic, ...) or an empty bearer is no credential: a bare challenge, per RFC 6750 §3.1.
    const bearer = bearerCredential(authorization);
    return bearer === undefined ? { credential: undefined, credentialHeader: undefined } : { credential: bearer, credentialHeader: "authorization" };
  }
}

/** The union of the three sources, each checked on its own (so an error names where it is). */
function requiredScopesOf(query: string | undefined, header: string | undefined, configured: string | undefined): readonly string[] {
  const fromQuery = query === undefined || query === "" ? NO_SCOPES : requireScopes(queryScopes(query), "scope");
  const fromHeader = header === undefined ? NO_SCOPES : requireScopes(splitScopes(header, "X-Sigil-Required-Scopes"), "X-Sigil-Required-Scopes");
  const fromConfig = configured === undefined ? NO_SCOPES : requireScopes(splitScopes(configured, "x-sigil-required-scopes"), "context_extensions[x-sigil-required-scopes]");
  const sources = [fromQuery, fromHeader, fromConfig].filter((s) => s.length > 0);
  if (sources.length <= 1) return sources[0] ?? NO_SCOPES;
  return requireScopes([...new Set(sources.flat())], "required scopes");
}

const NO_SCOPES: readonly string[] = Object.freeze([]);

function splitScopes(text: string, field: string): string[] {
  const scopes = text.split(SCOPE_SEPARATORS).filter((s) => s.length > 0);
  if (scopes.length > LIMITS.scopes) throw invalid(`${field}: at most ${LIMITS.scopes} scopes, got ${scopes.length}`);
  return scopes;
}

/** The values of every `scope` parameter (form-encoded: `+` is a space), split at spaces. */
function queryScopes(query: string): string[] {
  const scopes: string[] = [];
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (name !== "scope" || eq < 0) continue;
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, " "));
    } catch {
      throw invalid("scope: not valid percent-encoding");
    }
    for (const scope of value.split(SCOPE_SEPARATORS)) {
      if (scope.length === 0) continue;
      if (scopes.length === LIMITS.scopes) throw invalid(`scope: at most ${LIMITS.scopes} scopes`);
      scopes.push(scope);
    }
  }
  return scopes;
}
