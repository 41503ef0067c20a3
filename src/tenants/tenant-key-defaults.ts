import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { UsageCreditsSchema, type UsageCredits } from "../../clients/typescript/src/gen/sigil/v1/usage_pb.js";
import type { NewKeyRow } from "../store/tables/keys-table.js";
import type { TenantPolicy } from "./tenant-policy.js";

/** A tenant's default credits: what a new key starts with (its refills count from the key's creation). */
export interface DefaultCredits {
  readonly remaining: number;
  readonly refillAmount: number | null;
  readonly refillIntervalMs: number | null;
}

export function hasKeyDefaults(policy: TenantPolicy): boolean {
  return policy.defaultRateLimit !== undefined || policy.defaultCredits !== undefined;
}

/**
 * Gives a new key's row the tenant's default rate limit and credits where the key names none.
 * Called in the writing transaction with the policy it read, so a default set concurrently is
 * either wholly applied or not at all. A key that names its own keeps it (even a looser one: the
 * defaults are defaults, not caps).
 */
export function applyKeyDefaults(row: NewKeyRow, policy: TenantPolicy): void {
  const limit = policy.defaultRateLimit;
  if (limit && row.rate_limit_requests == null) {
    row.rate_limit_requests = limit.requests;
    row.rate_limit_window_ms = limit.windowMs;
    row.rate_limit_burst = limit.burst;
  }
  const credits = policy.defaultCredits;
  if (credits && row.credits_remaining == null) {
    row.credits_remaining = credits.remaining;
    row.credits_refill_amount = credits.refillAmount;
    row.credits_refill_interval_ms = credits.refillIntervalMs;
    row.credits_refill_time = credits.refillIntervalMs === null ? null : Number(row.create_time);
  }
}

export function creditsToProto(credits: DefaultCredits): UsageCredits {
  return create(UsageCreditsSchema, {
    remaining: BigInt(credits.remaining),
    refillAmount: BigInt(credits.refillAmount ?? 0),
    refillInterval: credits.refillIntervalMs === null ? undefined : durationFromMs(credits.refillIntervalMs),
  });
}
