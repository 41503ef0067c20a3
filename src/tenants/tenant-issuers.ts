import { LruCache } from "../cache/lru-cache.js";
import type { SigilDb } from "../store/database.js";
import { tenantTokenRow } from "../store/tenant-repository.js";
import { effectiveIssuer } from "./tenant-jwt.js";

/**
 * How long a process trusts the issuer it read for a tenant before reading it again. UpdateTenant
 * forgets it at once on the process that made the change; every other process reads it again at
 * the first verification after this window (the README's "within about a second").
 */
export const TENANT_ISSUER_TTL_MS = 1000;

/** Tenants whose issuers are remembered at once; more are read again as they are needed. */
const CAPACITY = 10_000;

/**
 * The issuer each tenant's derived JWTs must carry, for server-side verification (VerifyKey,
 * BatchVerifyKeys, forward auth, Envoy Check). Read from the tenants table and kept for
 * TENANT_ISSUER_TTL_MS, so a verification costs no query while the entry is fresh.
 */
export class TenantIssuers {
  readonly #db: SigilDb;
  readonly #serverIssuer: string;
  readonly #cache = new LruCache<string, { issuer: string; readAt: number }>(CAPACITY);
  readonly #loading = new Map<string, Promise<string>>();
  /** Bumped by `forget`, so a read that started before it does not store what it read. */
  #epoch = 0;

  constructor(db: SigilDb, serverIssuer: string) {
    this.#db = db;
    this.#serverIssuer = serverIssuer;
  }

  /**
   * The tenant's issuer: synchronous once remembered. An entry older than TENANT_ISSUER_TTL_MS is
   * still answered while it is read again in the background, so no verification waits for the
   * database, and while the database is out of reach the last issuer read holds (no issuer change
   * can be written meanwhile either): tokens of known keys keep verifying, as API keys do.
   */
  issuerOf(tenantId: string, nowMs: number): string | Promise<string> {
    const cached = this.#cache.get(tenantId);
    if (cached) {
      if (nowMs - cached.readAt >= TENANT_ISSUER_TTL_MS || nowMs < cached.readAt) {
        // A failed read is tried again one window later, not at every verification.
        this.#load(tenantId, nowMs).catch(() => this.#cache.get(tenantId) === cached && this.#cache.set(tenantId, { issuer: cached.issuer, readAt: nowMs }));
      }
      return cached.issuer;
    }
    return this.#load(tenantId, nowMs);
  }

  #load(tenantId: string, nowMs: number): Promise<string> {
    const inflight = this.#loading.get(tenantId);
    if (inflight) return inflight;
    const epoch = this.#epoch;
    const load = tenantTokenRow(this.#db, tenantId)
      .then((row) => {
        const issuer = effectiveIssuer(this.#serverIssuer, tenantId, row?.jwt_issuer ?? null);
        if (epoch === this.#epoch) this.#cache.set(tenantId, { issuer, readAt: nowMs });
        return issuer;
      })
      .finally(() => this.#loading.delete(tenantId));
    this.#loading.set(tenantId, load);
    return load;
  }

  /** The tenant's issuer changed (UpdateTenant on this process): read it again at the next use. */
  forget(tenantId: string): void {
    this.#epoch++;
    this.#cache.delete(tenantId);
    this.#loading.delete(tenantId);
  }
}
