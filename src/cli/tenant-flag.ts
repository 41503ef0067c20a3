import { UsageError } from "./cli-args.js";
import type { CliEnvironment } from "./cli-connection.js";

/** `--tenant` of the key and audit commands. */
export const TENANT_OPTION = { tenant: { type: "string" } } as const;

export const TENANT_HELP = `Tenant:
  --tenant <tenant-id>      the tenant to act in          SIGIL_TENANT
                            (default: the admin key's own tenant)`;

const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A tenant id as the server checks it; the value is never quoted back (it could be a pasted key). */
export function checkTenantId(text: string, source: string): string {
  if (!TENANT_ID.test(text)) throw new UsageError(`${source} must be 1 to 63 characters of lowercase letters, digits and '-', starting with a letter or digit`);
  return text;
}

/** The tenant from `--tenant` or SIGIL_TENANT; "" (the admin key's own) when neither is set. */
export function resolveTenantFlag(values: { readonly tenant?: string | undefined }, environment: CliEnvironment): string {
  if (values.tenant !== undefined) return checkTenantId(values.tenant, "--tenant");
  const fromEnv = environment.env["SIGIL_TENANT"];
  return fromEnv === undefined || fromEnv === "" ? "" : checkTenantId(fromEnv, "SIGIL_TENANT");
}
