import type { RateLimit, UsageCredits } from "../../clients/typescript/src/gen/sigil/v1/usage_pb.js";
import { ClientNetworks, NetworkSyntaxError, parseAllowedNetworks, parseClientIp, type ClientIp } from "../usage/client-networks.js";
import type { CreditsConfig } from "../usage/credits.js";
import type { RateLimitConfig } from "../usage/rate-limiter.js";
import { durationMs, invalid } from "./request-validation.js";

/** Bounds on usage controls (the proto comments state the same numbers). */
export const USAGE_LIMITS = {
  maxRateLimitRequests: 1_000_000,
  minRateLimitWindowMs: 1000,
  maxRateLimitWindowMs: 86_400_000,
  maxCredits: 1e12,
  minRefillIntervalMs: 1000,
  maxRefillIntervalMs: 366 * 86_400_000,
  maxCost: 1_000_000,
} as const;

/** A rate limit from a request; null when unset (no limit). */
export function requireRateLimit(limit: RateLimit | undefined, field = "rate_limit"): RateLimitConfig | null {
  if (limit === undefined) return null;
  const max = USAGE_LIMITS.maxRateLimitRequests;
  if (limit.requests < 1 || limit.requests > max) throw invalid(`${field}.requests: must be 1 to ${max}`);
  if (limit.burst > max) throw invalid(`${field}.burst: must be 0 (same as requests) to ${max}`);
  if (!limit.window) throw invalid(`${field}.window: required (1s to 1 day)`);
  const windowMs = durationMs(limit.window, `${field}.window`, USAGE_LIMITS.minRateLimitWindowMs, USAGE_LIMITS.maxRateLimitWindowMs);
  return { requests: limit.requests, windowMs, burst: limit.burst === 0 ? limit.requests : limit.burst };
}

/** Usage credits from a request, starting now; null when unset (not metered). */
export function requireCredits(credits: UsageCredits | undefined, nowMs: number, field = "credits"): CreditsConfig | null {
  if (credits === undefined) return null;
  const max = USAGE_LIMITS.maxCredits;
  const remaining = Number(credits.remaining);
  const refillAmount = Number(credits.refillAmount);
  if (remaining < 0 || remaining > max) throw invalid(`${field}.remaining: must be 0 to ${max}`);
  if (refillAmount < 0 || refillAmount > max) throw invalid(`${field}.refill_amount: must be 0 to ${max}`);
  if (!credits.refillInterval) {
    if (refillAmount !== 0) throw invalid(`${field}.refill_amount: needs refill_interval`);
    return { remaining, refillAmount: null, refillIntervalMs: null, refillTime: null };
  }
  const refillIntervalMs = durationMs(credits.refillInterval, `${field}.refill_interval`, USAGE_LIMITS.minRefillIntervalMs, USAGE_LIMITS.maxRefillIntervalMs);
  if (refillAmount === 0) throw invalid(`${field}.refill_amount: must be at least 1 with a refill_interval`);
  return { remaining, refillAmount, refillIntervalMs, refillTime: nowMs };
}

/** Allowed client networks from a request; null for an empty list (any network). */
export function requireAllowedNetworks(entries: readonly string[], field = "allowed_networks"): ClientNetworks | null {
  if (entries.length === 0) return null;
  try {
    return ClientNetworks.of(parseAllowedNetworks(entries));
  } catch (err) {
    if (err instanceof NetworkSyntaxError) throw invalid(`${field}${err.message.startsWith("[") ? "" : ": "}${err.message}`);
    throw err;
  }
}

/** VerifyKey's client_ip; undefined when empty. */
export function requireClientIp(text: string, field = "client_ip"): ClientIp | undefined {
  try {
    return parseClientIp(text);
  } catch (err) {
    if (err instanceof NetworkSyntaxError) throw invalid(`${field}: ${err.message}`);
    throw err;
  }
}

/** VerifyKey's cost: 0 means 1. */
export function requireCost(cost: number, field = "cost"): number {
  if (cost > USAGE_LIMITS.maxCost) throw invalid(`${field}: at most ${USAGE_LIMITS.maxCost}`);
  return cost === 0 ? 1 : cost;
}
