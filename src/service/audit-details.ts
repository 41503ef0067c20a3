import type { ClientNetworks } from "../usage/client-networks.js";
import type { CreditsConfig } from "../usage/credits.js";
import type { RateLimitConfig } from "../usage/rate-limiter.js";

/** The settings of a key as the audit trail records them: everything but secrets and hashes. */
export interface AuditedKeySettings {
  readonly name?: string;
  readonly owner?: string;
  readonly scopes?: readonly string[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly expireTime?: number | null;
  readonly enabled?: boolean;
  readonly rateLimit?: RateLimitConfig | null;
  readonly credits?: CreditsConfig | null;
  readonly allowedNetworks?: ClientNetworks | null;
}

/** JSON-ready details; fields absent from `s` are left out, cleared ones are null. */
export function auditKeySettings(s: AuditedKeySettings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.name !== undefined) out.name = s.name;
  if (s.owner !== undefined) out.owner = s.owner;
  if (s.scopes !== undefined) out.scopes = [...s.scopes];
  if (s.metadata !== undefined) out.metadata = { ...s.metadata };
  if (s.expireTime !== undefined) out.expire_time = s.expireTime === null ? null : new Date(s.expireTime).toISOString();
  if (s.enabled !== undefined) out.enabled = s.enabled;
  if (s.rateLimit !== undefined) {
    out.rate_limit = s.rateLimit === null ? null : { requests: s.rateLimit.requests, window_seconds: s.rateLimit.windowMs / 1000, burst: s.rateLimit.burst };
  }
  if (s.credits !== undefined) {
    out.credits =
      s.credits === null
        ? null
        : {
            remaining: s.credits.remaining,
            refill_amount: s.credits.refillAmount,
            refill_interval_seconds: s.credits.refillIntervalMs === null ? null : s.credits.refillIntervalMs / 1000,
          };
  }
  if (s.allowedNetworks !== undefined) out.allowed_networks = s.allowedNetworks === null ? [] : [...s.allowedNetworks.cidrs];
  return out;
}
