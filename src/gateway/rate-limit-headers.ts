import type { Verification } from "../service/credential-verifier.js";
import type { CreditsOutcome } from "../usage/credits.js";
import type { RateLimitOutcome } from "../usage/rate-limiter.js";

/** [name, value] pairs, in the order they are sent. */
export type HeaderList = Array<readonly [string, string]>;

/**
 * The IETF RateLimit and RateLimit-Policy fields, as draft-ietf-httpapi-ratelimit-headers-11
 * (May 2026) defines them: Structured Field Lists of String items with Integer parameters.
 *
 *   RateLimit-Policy: "rate";q=100;w=60, "credits";q=1000;w=86400
 *   RateLimit: "rate";r=42;t=35, "credits";r=998;t=3600
 *
 * "rate" is the key's rate limit, a token bucket of `burst` refilled at `requests` per `window`:
 * q/w state the refill rate (a window that is not whole seconds is rounded up and q scaled to it,
 * rounded down), `sigil-burst` the bucket size when it differs from q; r is the requests left in
 * the bucket and t the seconds until it is full again (VerifyKey's rate_limit.reset_time).
 * "credits" are the key's usage credits: r is what is left; with refills the policy gives the
 * refill amount per interval and t the seconds to the next refill. Credits without refills get no
 * policy item (they have no window). Nothing is sent for a key without either.
 */
export function addRateLimitFields(out: HeaderList, v: Verification, nowMs: number): void {
  const rate = v.rateLimit;
  const credits = v.credits;
  if (rate === undefined && credits === undefined) return;
  const policies: string[] = [];
  const limits: string[] = [];
  if (rate !== undefined) {
    policies.push(ratePolicy(rate));
    limits.push(`"rate";r=${rate.remaining};t=${secondsUntil(rate.resetTime, nowMs)}`);
  }
  if (credits !== undefined) {
    const policy = creditsPolicy(credits);
    if (policy !== undefined) policies.push(policy);
    limits.push(`"credits";r=${Math.max(0, credits.remaining)}` + (credits.nextRefillTime === null ? "" : `;t=${secondsUntil(credits.nextRefillTime, nowMs)}`));
  }
  if (policies.length > 0) out.push(["ratelimit-policy", policies.join(", ")]);
  out.push(["ratelimit", limits.join(", ")]);
}

/** Retry-After (delay-seconds) of a refused request: when one more is allowed, if that is known. */
export function retryAfterSeconds(v: Verification, nowMs: number): number | undefined {
  if (v.rateLimit?.retryTime != null && !v.rateLimit.allowed) return Math.max(1, secondsUntil(v.rateLimit.retryTime, nowMs));
  if (v.credits !== undefined && !v.credits.allowed && v.credits.nextRefillTime !== null) return Math.max(1, secondsUntil(v.credits.nextRefillTime, nowMs));
  return undefined;
}

function ratePolicy(rate: RateLimitOutcome): string {
  const { requests, windowMs, burst } = rate.config;
  const w = Math.ceil(windowMs / 1000);
  const q = w * 1000 === windowMs ? requests : Math.floor((requests * w * 1000) / windowMs);
  return `"rate";q=${q};w=${w}` + (burst === q ? "" : `;sigil-burst=${burst}`);
}

function creditsPolicy(credits: CreditsOutcome): string | undefined {
  if (credits.refillAmount === null || credits.refillIntervalMs === null) return undefined;
  return `"credits";q=${credits.refillAmount};w=${Math.ceil(credits.refillIntervalMs / 1000)}`;
}

function secondsUntil(timeMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((timeMs - nowMs) / 1000));
}
