import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The tenant that holds everything made before tenants existed and everything made without naming
 * one. It is the platform's own: a role held by one of its keys applies to every tenant.
 */
export const DEFAULT_TENANT = "default";

/** Lowercase letters, digits and '-', 1 to 63 characters (a DNS label's shape, so ids fit in hosts and paths). */
const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A tenant id from a request; INVALID_ARGUMENT naming the field. Never quotes the value (it could be a pasted key). */
export function requireTenantId(value: string, field = "tenant_id"): string {
  if (!TENANT_ID.test(value)) {
    throw new ConnectError(`${field}: must be 1 to 63 characters of lowercase letters, digits and '-', starting with a letter or digit`, Code.InvalidArgument);
  }
  return value;
}

/** An optional tenant id: undefined when empty, else checked. */
export function optionalTenantId(value: string, field = "tenant_id"): string | undefined {
  return value === "" ? undefined : requireTenantId(value, field);
}

/** What every request naming a tenant it may not see, or one that does not exist, is answered. */
export function tenantNotFound(tenantId: string): ConnectError {
  return new ConnectError(`tenant ${tenantId} not found`, Code.NotFound);
}
