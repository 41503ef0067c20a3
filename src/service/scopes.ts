/** True when every required scope is granted (exact string match). */
export function hasAllScopes(granted: readonly string[], required: readonly string[]): boolean {
  for (const scope of required) if (!granted.includes(scope)) return false;
  return true;
}
