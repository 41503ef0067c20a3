/**
 * Roles: scopes of Sigil API keys that let them administer Sigil itself. `sigil:admin` holds every
 * role (the scope admin keys held before roles existed, kept so they keep all their power).
 */
export const ROLES = {
  keysRead: "sigil:keys.read",
  /** Issue, update, rotate, import. */
  keysWrite: "sigil:keys.write",
  keysRevoke: "sigil:keys.revoke",
  auditRead: "sigil:audit.read",
  tenantsAdmin: "sigil:tenants.admin",
  /** Follow WatchRevocations. */
  verify: "sigil:verify",
  admin: "sigil:admin",
} as const;

export type Role = (typeof ROLES)[keyof typeof ROLES];

export const ALL_ROLES: readonly Role[] = Object.values(ROLES);

/** Roles only keys of the default tenant may hold: they reach beyond any one tenant. */
export const PLATFORM_ONLY_ROLES: readonly Role[] = [ROLES.tenantsAdmin, ROLES.admin];

export function isRole(scope: string): scope is Role {
  return (ALL_ROLES as readonly string[]).includes(scope);
}

/** Whether `scopes` hold `role`, directly or through `sigil:admin`. */
export function holdsRole(scopes: readonly string[], role: Role): boolean {
  return scopes.includes(role) || scopes.includes(ROLES.admin);
}

/** Whether `scopes` hold any role at all (GetTenant needs one over the tenant). */
export function holdsAnyRole(scopes: readonly string[]): boolean {
  return scopes.some(isRole);
}
