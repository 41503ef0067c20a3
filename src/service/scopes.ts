/** The scope that makes an API key an admin credential. */
export const ADMIN_SCOPE = "sigil:admin";

/** The scope of a verifier credential: it may follow WatchRevocations (admin keys may too). */
export const VERIFY_SCOPE = "sigil:verify";

/** True when every required scope is granted (exact string match). */
export function hasAllScopes(granted: readonly string[], required: readonly string[]): boolean {
  for (const scope of required) if (!granted.includes(scope)) return false;
  return true;
}
