import { invalid } from "../service/request-validation.js";
import { optionalTenantId } from "../tenants/tenant-id.js";
import type { HeaderLookup } from "./authorization-request.js";

/** The header (from the proxy's configuration, e.g. nginx `proxy_set_header`) that restricts a gateway check to one tenant. */
export const TENANT_HEADER = "x-sigil-tenant-id";
/** The query parameter of /v1/authorize (in the auth subrequest's URL) that does the same. */
export const TENANT_PARAMETER = "tenant_id";

/**
 * The tenant a gateway check is restricted to, like VerifyKeyRequest.tenant_id: then a credential of
 * another tenant is answered exactly as one that does not exist. It may come from the `tenant_id`
 * query parameter, X-Sigil-Tenant-Id, and the gateway's own configuration (Envoy's per-route
 * context_extensions). Every source given must name the same tenant, else the request is bad
 * (400): so a value the end client adds itself (a header nginx passes on, a query on the path Envoy
 * describes) can only restrict a check that was not restricted, never lift or switch one the
 * operator configured. Undefined: not restricted.
 */
export function tenantRestrictionOf(query: string | undefined, headers: HeaderLookup, configured: string | undefined): string | undefined {
  const given = [
    optionalTenantId(queryParameter(query, TENANT_PARAMETER) ?? "", TENANT_PARAMETER),
    optionalTenantId(headers(TENANT_HEADER) ?? "", "X-Sigil-Tenant-Id"),
    optionalTenantId(configured ?? "", `context_extensions[${TENANT_HEADER}]`),
  ].filter((t): t is string => t !== undefined);
  if (new Set(given).size > 1) throw invalid(`tenant restriction: ${TENANT_PARAMETER}, X-Sigil-Tenant-Id and the route's configuration name different tenants`);
  return given[0];
}

/** The one value of a query parameter; a repeated one is bad input (which would count is ambiguous). */
function queryParameter(query: string | undefined, name: string): string | undefined {
  if (query === undefined || query === "") return undefined;
  let value: string | undefined;
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    if ((eq < 0 ? pair : pair.slice(0, eq)) !== name) continue;
    if (value !== undefined) throw invalid(`${name}: given more than once`);
    try {
      value = eq < 0 ? "" : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, " "));
    } catch {
      throw invalid(`${name}: not valid percent-encoding`);
    }
  }
  return value;
}
