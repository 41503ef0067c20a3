import { LruCache } from "../cache/lru-cache.js";

/** A key's rate limit: a bucket of `burst` requests refilled at `requests` per `windowMs`. */
export interface RateLimitConfig {
  readonly requests: number;
  readonly windowMs: number;
  readonly burst: number;
}

/** What one request did to its key's bucket. Times are ms since the epoch. */
export interface RateLimitOutcome {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** When the bucket is full again if no more requests come. */
  readonly resetTime: number;
  /** When denied: the earliest time one request is allowed again; otherwise null. */
  readonly retryTime: number | null;
  /** The limit the bucket follows (the gateways advertise it as RateLimit-Policy). */
  readonly config: RateLimitConfig;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
  /** The limit the bucket was filled for; a changed limit starts a fresh, full bucket. */
  config: RateLimitConfig;
}

/**
 * Token buckets per key, in this process's memory: no I/O on the verification path, and the count
 * is exact for the requests this process sees. With P processes (workers, instances) each keeps
 * its own buckets, so a key gets up to P times its limit in total (see README "Usage controls").
 * Bounded: past `capacity` keys the least recently used bucket is dropped (it restarts full).
 */
export class RateLimiter {
  readonly #buckets: LruCache<string, Bucket>;

  constructor(options: { capacity: number }) {
    this.#buckets = new LruCache(options.capacity);
  }

  take(keyId: string, config: RateLimitConfig, nowMs: number): RateLimitOutcome {
    const ratePerMs = config.requests / config.windowMs;
    let bucket = this.#buckets.get(keyId);
    if (bucket === undefined || !sameLimit(bucket.config, config)) {
      bucket = { tokens: config.burst, updatedMs: nowMs, config };
      this.#buckets.set(keyId, bucket);
    } else if (nowMs > bucket.updatedMs) {
      bucket.tokens = Math.min(config.burst, bucket.tokens + (nowMs - bucket.updatedMs) * ratePerMs);
      bucket.updatedMs = nowMs;
    }
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    const tokens = bucket.tokens;
    return {
      allowed,
      limit: config.burst,
      remaining: Math.floor(tokens),
      resetTime: nowMs + Math.ceil((config.burst - tokens) / ratePerMs),
      retryTime: allowed ? null : nowMs + Math.ceil((1 - tokens) / ratePerMs),
      config,
    };
  }

  /** Forgets a key's bucket (its limit changed or was removed). */
  forget(keyId: string): void {
    this.#buckets.delete(keyId);
  }
}

function sameLimit(a: RateLimitConfig, b: RateLimitConfig): boolean {
  return a === b || (a.requests === b.requests && a.windowMs === b.windowMs && a.burst === b.burst);
}
