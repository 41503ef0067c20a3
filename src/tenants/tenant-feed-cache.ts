import type { FeedUpdate } from "../cache/change-feed-follower.js";
import { LoadingCache } from "../cache/loading-cache.js";
import { TENANT_CHANGE_ACTIONS } from "../store/tables/change-feed-table.js";

/**
 * A per-process cache of something read from a tenant's row (its network boundary, its issuer):
 * read on first use, synchronous after, and kept until the change feed says the tenant changed.
 * UpdateTenant appends a `tenant_update` row, and this process's own UpdateTenant invalidates
 * before answering; a load that raced a change is not kept, so a stale value never outlives the
 * feed window. While the database is out of reach nothing can change, and what was read holds.
 */
export class TenantFeedCache<V> {
  readonly #cache: LoadingCache<string, V>;

  constructor(load: (tenantId: string) => Promise<V>, options: { capacity: number }) {
    this.#cache = new LoadingCache(load, { capacity: options.capacity });
  }

  /** Synchronous once the tenant's value is known (every use after its first). */
  protected get(tenantId: string): V | Promise<V> {
    return this.#cache.get(tenantId);
  }

  /** The tenant changed (on this process, or on another one, as the feed says): read it again at the next use. */
  invalidate(tenantId: string): void {
    this.#cache.invalidate(tenantId);
  }

  clear(): void {
    this.#cache.clear();
  }

  /**
   * For ChangeFeedFollower.onChanges: each `tenant_update` row drops its tenant; a follower that
   * lost its place in the feed drops every tenant, since it cannot know which changed.
   */
  applyFeed(update: FeedUpdate): void {
    if (update.reset) {
      this.clear();
      return;
    }
    for (const change of update.changes) {
      if ((TENANT_CHANGE_ACTIONS as readonly string[]).includes(change.action)) this.invalidate(change.tenant_id);
    }
  }
}
