import { Code, ConnectError } from "@connectrpc/connect";
import { RESERVED_SCOPE_PREFIX } from "../service/reserved-scopes.js";
import { DEFAULT_TENANT, tenantNotFound } from "./tenant-id.js";
import { holdsAnyRole, holdsRole, isRole, PLATFORM_ONLY_ROLES, ROLES, type Role } from "./roles.js";

/** A key that holds roles: its id, tenant and scopes (from the cache or from its row). */
export interface RoleHolder {
  readonly keyId: string;
  readonly tenantId: string;
  readonly scopes: readonly string[];
}


/**
 * What one admin call needs: a role, over a tenant (when the call names one), and the right to
 * grant the `sigil:` scopes it gives a key (IssueKey). The cache pre-check and the re-check inside
 * the mutation's transaction both decide it with `accessRefusal`.
 */
export interface AccessNeed {
  readonly role: Role | "any";
  /** The tenant the call acts in, resolved (see `resolveTenant`); undefined when an object names it. */
  readonly tenantId?: string;
  /** Scopes the call grants a key of `tenantId`. */
  readonly grants?: readonly string[];
}

/** The tenants a holder's roles reach: every one for a key of the default tenant, else its own. */
export function reaches(holder: RoleHolder, tenantId: string): boolean {
  return holder.tenantId === DEFAULT_TENANT || holder.tenantId === tenantId;
}

/** The tenant a call acts in: the one it names, else the caller's own. NOT_FOUND when the caller may not see it. */
export function resolveTenant(holder: RoleHolder, requested: string | undefined): string {
  const tenantId = requested ?? holder.tenantId;
  if (!reaches(holder, tenantId)) throw tenantNotFound(tenantId);
  return tenantId;
}

/**
 * Why `holder` may not make a call that needs `need`, or undefined when it may. The role comes
 * first, so a key lacking it learns nothing about other tenants (PERMISSION_DENIED, whatever it
 * names); a tenant it does not reach is NOT_FOUND, as one that does not exist.
 */
export function accessRefusal(holder: RoleHolder, need: AccessNeed): ConnectError | undefined {
  const lacks = need.role === "any" ? !holdsAnyRole(holder.scopes) : !holdsRole(holder.scopes, need.role);
  if (lacks) {
    const what = need.role === "any" ? "any sigil: role" : `the ${need.role} role (or ${ROLES.admin})`;
    return new ConnectError(`key ${holder.keyId} lacks ${what}`, Code.PermissionDenied);
  }
  if (need.tenantId !== undefined && !reaches(holder, need.tenantId)) return tenantNotFound(need.tenantId);
  if (need.grants && need.tenantId !== undefined) return grantRefusal(holder, need.tenantId, need.grants);
  return undefined;
}

/**
 * No privilege escalation: a key may give a key of `tenantId` only the `sigil:` scopes it holds
 * itself (roles it holds through `sigil:admin` included; other `sigil:` scopes only with
 * `sigil:admin`), and the platform-wide roles only to keys of the default tenant.
 */
export function grantRefusal(holder: RoleHolder, tenantId: string, scopes: readonly string[]): ConnectError | undefined {
  for (const scope of scopes) {
    if (!scope.startsWith(RESERVED_SCOPE_PREFIX)) continue;
    if ((PLATFORM_ONLY_ROLES as readonly string[]).includes(scope) && tenantId !== DEFAULT_TENANT) {
      return new ConnectError(`scopes: ${scope} can only be held by keys of the tenant ${DEFAULT_TENANT}`, Code.InvalidArgument);
    }
    const held = isRole(scope) ? holdsRole(holder.scopes, scope) : holder.scopes.includes(ROLES.admin);
    if (!held) return new ConnectError(`scopes: key ${holder.keyId} cannot grant ${scope}, which it does not hold`, Code.PermissionDenied);
  }
  return undefined;
}
