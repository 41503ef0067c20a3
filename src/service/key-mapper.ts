import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { keyState, type KeyRecord } from "../keys/key-record.js";
import { creditsAt } from "../usage/credits.js";
import { KeySchema, KeyStatus, type Key } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { KeySecretSchema, type KeySecret } from "../../clients/typescript/src/gen/sigil/v1/key_secret_pb.js";
import { RateLimitSchema, UsageCreditsSchema, type RateLimit } from "../../clients/typescript/src/gen/sigil/v1/usage_pb.js";
import type { RateLimitConfig } from "../usage/rate-limiter.js";

const STATUS = { active: KeyStatus.ACTIVE, revoked: KeyStatus.REVOKED, expired: KeyStatus.EXPIRED, disabled: KeyStatus.DISABLED } as const;

export function optionalTimestamp(ms: number | null | undefined): Timestamp | undefined {
  return ms === null || ms === undefined ? undefined : timestampFromMs(ms);
}

/**
 * The public record of a key (never its hash). `lastUseTime` overrides the record's when this
 * process knows a later use that is not written yet.
 */
export function keyToProto(r: KeyRecord, nowMs: number, lastUseTime?: number): Key {
  const lastUse = Math.max(r.lastUseTime ?? 0, lastUseTime ?? 0);
  const credits = r.credits
    ? creditsAt(
        {
          credits_remaining: r.credits.remaining,
          credits_refill_amount: r.credits.refillAmount,
          credits_refill_time: r.credits.refillTime,
          credits_refill_interval_ms: r.credits.refillIntervalMs,
        },
        nowMs,
      )
    : undefined;
  return create(KeySchema, {
    keyId: r.keyId,
    name: r.name,
    owner: r.owner,
    scopes: [...r.scopes],
    metadata: { ...r.metadata },
    createTime: timestampFromMs(r.createTime),
    expireTime: optionalTimestamp(r.expireTime),
    revokeTime: optionalTimestamp(r.revokeTime),
    revokeReason: r.revokeReason ?? "",
    status: STATUS[keyState(r, nowMs)],
    prefix: r.prefix,
    // The enabled switch means nothing once a key is revoked; "enabled: true" beside REVOKED misleads.
    enabled: r.enabled && r.revokeTime === null,
    updateTime: timestampFromMs(r.updateTime),
    lastUseTime: lastUse > 0 ? timestampFromMs(lastUse) : undefined,
    secrets: secretsOf(r, nowMs),
    rateLimit: r.rateLimit ? rateLimitToProto(r.rateLimit) : undefined,
    credits:
      r.credits && credits
        ? create(UsageCreditsSchema, {
            remaining: BigInt(credits.remaining),
            refillAmount: BigInt(r.credits.refillAmount ?? 0),
            refillInterval: r.credits.refillIntervalMs === null ? undefined : durationFromMs(r.credits.refillIntervalMs),
            nextRefillTime: optionalTimestamp(credits.nextRefillTime),
          })
        : undefined,
    allowedNetworks: r.allowedNetworks ? [...r.allowedNetworks.cidrs] : [],
    imported: r.imported,
    tenantId: r.tenantId,
  });
}

/** The current secret, then the old one while its grace period runs (a rotation in progress). */
function secretsOf(r: KeyRecord, nowMs: number): KeySecret[] {
  const secrets = [create(KeySecretSchema, { createTime: timestampFromMs(r.secretCreateTime), hint: r.secretHint ?? "", current: true, imported: r.secretImported })];
  const previous = r.previousSecret;
  if (previous && previous.expireTime > nowMs) {
    secrets.push(
      create(KeySecretSchema, {
        createTime: timestampFromMs(previous.createTime),
        expireTime: timestampFromMs(previous.expireTime),
        hint: previous.hint ?? "",
        current: false,
        imported: previous.imported,
      }),
    );
  }
  return secrets;
}

export function rateLimitToProto(limit: RateLimitConfig): RateLimit {
  return create(RateLimitSchema, { requests: limit.requests, window: durationFromMs(limit.windowMs), burst: limit.burst });
}
