/** The `tenant` value of a verification whose key (and so tenant) was never found: not found, malformed, bad signature. */
export const NO_TENANT_LABEL = "_none";
/** The `tenant` value shared by every tenant past the bound. */
export const OTHER_TENANT_LABEL = "_other";

/**
 * The bounded `tenant` label of sigil_verifications_total (SIGIL_METRICS_TENANT_LABEL): the first
 * `max` tenants this process counts a verification of are named, every later one is `_other`, since
 * the number of tenants has no bound and each label value is a time series. Tenant ids never start
 * with `_`, so neither reserved value can be a tenant's. Per process: with workers, a tenant named by
 * one worker may be `_other` on another, and the summed series say so.
 */
export class TenantLabels {
  readonly #max: number;
  readonly #named = new Set<string>();

  constructor(max: number) {
    this.#max = max;
  }

  of(tenantId: string | undefined): string {
    if (tenantId === undefined) return NO_TENANT_LABEL;
    if (this.#named.has(tenantId)) return tenantId;
    if (this.#named.size >= this.#max) return OTHER_TENANT_LABEL;
    this.#named.add(tenantId);
    return tenantId;
  }
}
