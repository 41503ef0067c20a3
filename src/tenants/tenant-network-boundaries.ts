import { ClientNetworks } from "../usage/client-networks.js";
import { TenantFeedCache } from "./tenant-feed-cache.js";
import type { TenantPolicy } from "./tenant-policy.js";

/** A tenant's boundary: its networks, or null for any network. */
export type NetworkBoundary = ClientNetworks | null;

/**
 * Each tenant's network boundary (policy allowed_networks), compiled once and kept per process, so
 * the verification path checks it without reading the database: loaded on the tenant's first
 * verification, kept until the change feed says its policy changed (TenantFeedCache).
 */
export class TenantNetworkBoundaries extends TenantFeedCache<NetworkBoundary> {
  /** `load` reads the tenant's policy ({} for none, or for no such tenant). */
  constructor(load: (tenantId: string) => Promise<TenantPolicy>, options: { capacity: number }) {
    super((tenantId) => load(tenantId).then((policy) => (policy.allowedNetworks && policy.allowedNetworks.length > 0 ? ClientNetworks.of(policy.allowedNetworks) : null)), options);
  }

  /** Synchronous once the tenant's boundary is known (every verification after its first). */
  of(tenantId: string): NetworkBoundary | Promise<NetworkBoundary> {
    return this.get(tenantId);
  }
}
