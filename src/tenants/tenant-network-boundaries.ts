import type { FeedUpdate } from "../cache/change-feed-follower.js";
import { LruCache } from "../cache/lru-cache.js";
import { ClientNetworks } from "../usage/client-networks.js";
import { TENANT_CHANGE_ACTIONS } from "../store/tables/change-feed-table.js";
import type { TenantPolicy } from "./tenant-policy.js";

/** A tenant's boundary: its networks, or null for any network. */
export type NetworkBoundary = ClientNetworks | null;

/**
 * Each tenant's network boundary (policy allowed_networks), compiled once and kept per process, so
 * the verification path checks it without reading the database: a tenant's policy is loaded on its
 * first verification and then kept until the change feed says it changed (UpdateTenant appends a
 * `tenant_update` row; this process's own UpdateTenant drops it before answering). A load that
 * raced a change is not kept, so a stale boundary never outlives the feed window.
 */
export class TenantNetworkBoundaries {
  readonly #load: (tenantId: string) => Promise<TenantPolicy>;
  readonly #boundaries: LruCache<string, NetworkBoundary>;
  readonly #loading = new Map<string, Promise<NetworkBoundary>>();
  /** Bumped by every change: a load begun before one is not kept. */
  #epoch = 0;

  /** `load` reads the tenant's policy ({} for none, or for no such tenant). */
  constructor(load: (tenantId: string) => Promise<TenantPolicy>, options: { capacity: number }) {
    this.#load = load;
    this.#boundaries = new LruCache(options.capacity);
  }

  /** Synchronous once the tenant's boundary is known (every verification after its first). */
  of(tenantId: string): NetworkBoundary | Promise<NetworkBoundary> {
    const known = this.#boundaries.get(tenantId);
    if (known !== undefined) return known;
    const pending = this.#loading.get(tenantId);
    if (pending) return pending;
    const epoch = this.#epoch;
    const loading = this.#load(tenantId)
      .then((policy) => {
        const boundary = policy.allowedNetworks && policy.allowedNetworks.length > 0 ? ClientNetworks.of(policy.allowedNetworks) : null;
        if (epoch === this.#epoch) this.#boundaries.set(tenantId, boundary);
        return boundary;
      })
      .finally(() => {
        if (this.#loading.get(tenantId) === loading) this.#loading.delete(tenantId);
      });
    this.#loading.set(tenantId, loading);
    return loading;
  }

  /** The tenant's policy changed (on this process, or on another one, as the feed says). */
  invalidate(tenantId: string): void {
    this.#epoch++;
    this.#boundaries.delete(tenantId);
    this.#loading.delete(tenantId);
  }

  /** For ChangeFeedFollower.onChanges. */
  applyFeed(update: FeedUpdate): void {
    if (update.reset) {
      this.#epoch++;
      this.#boundaries.clear();
      this.#loading.clear();
      return;
    }
    for (const change of update.changes) {
      if ((TENANT_CHANGE_ACTIONS as readonly string[]).includes(change.action)) this.invalidate(change.tenant_id);
    }
  }
}
