import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { RateLimitSchema, UsageCreditsSchema, type RateLimit, type UsageCredits } from "../../clients/typescript/src/gen/sigil/v1/usage_pb.js";
import { requireAllowedNetworks, requireCredits, requireRateLimit } from "../service/usage-validation.js";
import { parseDurationFlag, parseIntegerFlag, parseList, UsageError } from "./cli-args.js";
import { checkFlag, type FlagNames } from "./flag-checks.js";

/** Flags for a key's usage controls, shared by `keys issue`, `keys update` and `keys import`. */
export const KEY_LIMIT_OPTIONS = {
  "rate-limit": { type: "string" },
  "rate-burst": { type: "string" },
  credits: { type: "string" },
  "credits-refill": { type: "string" },
  network: { type: "string", multiple: true },
} as const;

export const KEY_LIMIT_HELP = `Usage controls:
  --rate-limit <n>/<window> verifications allowed per window, e.g. 100/1s or 5000/1h
  --rate-burst <n>          requests allowed at once after a quiet period (default: n of --rate-limit)
  --credits <n>             usage credits: successful verifications left
  --credits-refill <n>/<interval>  reset the credits to n every interval, e.g. 1000/1d
  --network <cidr>          a client network the key may be used from, e.g. 10.0.0.0/8;
                            repeat or comma-separate (default: any network)`;

export interface KeyLimitValues {
  readonly "rate-limit"?: string | undefined;
  readonly "rate-burst"?: string | undefined;
  readonly credits?: string | undefined;
  readonly "credits-refill"?: string | undefined;
  readonly network?: string[] | undefined;
}

export interface KeyLimits {
  /** Undefined when no rate-limit flag was given. */
  readonly rateLimit: RateLimit | undefined;
  /** Undefined when no credits flag was given. */
  readonly credits: UsageCredits | undefined;
  /** Undefined when no --network flag was given. */
  readonly allowedNetworks: string[] | undefined;
}

const MAX_COUNT = 1_000_000_000_000;
const DAY_MS = 86_400_000;

/** The names of one set of usage-control flags: a key's own, or a tenant's defaults for its new keys. */
export interface UsageFlagNames {
  readonly rateLimit: string;
  readonly rateBurst: string;
  readonly credits: string;
  readonly creditsRefill: string;
  readonly network: string;
}

/** What those flags were given, by name. */
export interface UsageFlagValues {
  readonly rateLimit: string | undefined;
  readonly rateBurst: string | undefined;
  readonly credits: string | undefined;
  readonly creditsRefill: string | undefined;
  readonly network: string[] | undefined;
}

const KEY_FLAGS: UsageFlagNames = { rateLimit: "--rate-limit", rateBurst: "--rate-burst", credits: "--credits", creditsRefill: "--credits-refill", network: "--network" };

/** Parses the usage-control flags. The server checks the bounds it documents; this checks the syntax. */
export function parseKeyLimits(values: KeyLimitValues): KeyLimits {
  return parseUsageFlags(
    { rateLimit: values["rate-limit"], rateBurst: values["rate-burst"], credits: values.credits, creditsRefill: values["credits-refill"], network: values.network },
    KEY_FLAGS,
  );
}

/** Parses one set of usage-control flags, checked with the server's rules; errors name the flags. */
export function parseUsageFlags(values: UsageFlagValues, names: UsageFlagNames): KeyLimits {
  let rateLimit: RateLimit | undefined;
  if (values.rateLimit !== undefined) {
    const [requests, windowMs] = countPer(names.rateLimit, values.rateLimit);
    const burst = values.rateBurst === undefined ? 0 : parseIntegerFlag(names.rateBurst, values.rateBurst, 1, MAX_COUNT);
    rateLimit = create(RateLimitSchema, { requests, window: durationFromMs(windowMs), burst });
  } else if (values.rateBurst !== undefined) {
    throw new UsageError(`${names.rateBurst} needs ${names.rateLimit}`);
  }

  let credits: UsageCredits | undefined;
  if (values.credits !== undefined || values.creditsRefill !== undefined) {
    const remaining = values.credits === undefined ? undefined : parseIntegerFlag(names.credits, values.credits, 0, MAX_COUNT);
    const refill = values.creditsRefill === undefined ? undefined : countPer(names.creditsRefill, values.creditsRefill);
    credits = create(UsageCreditsSchema, {
      // Without a credits count, a refilling key starts full.
      remaining: BigInt(remaining ?? refill![0]),
      refillAmount: BigInt(refill?.[0] ?? 0),
      refillInterval: refill ? durationFromMs(refill[1]) : undefined,
    });
  }

  const allowedNetworks = values.network === undefined ? undefined : parseList(values.network);
  // The server's bounds, checked here so the error names the flag.
  const flags = usageFlags(names);
  checkFlag(flags, () => requireRateLimit(rateLimit));
  checkFlag(flags, () => requireCredits(credits, Date.now()));
  if (allowedNetworks) checkFlag(flags, () => requireAllowedNetworks(allowedNetworks));
  return { rateLimit, credits, allowedNetworks };
}

/** Request fields of the usage controls, by the flag that sets them. */
function usageFlags(names: UsageFlagNames): FlagNames {
  return {
    rate_limit: names.rateLimit,
    "rate_limit.requests": `${names.rateLimit} count`,
    "rate_limit.window": `${names.rateLimit} window`,
    "rate_limit.burst": names.rateBurst,
    credits: names.credits,
    "credits.refill_amount": `${names.creditsRefill} count`,
    "credits.refill_interval": `${names.creditsRefill} interval`,
    allowed_networks: names.network,
  };
}

/** `<count>/<duration>`, e.g. `100/1s`; a bare unit (`100/s`) means one of it. */
function countPer(flag: string, text: string): [number, number] {
  const m = /^(\d+)\/(\d*)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} must be <count>/<duration>, e.g. 100/1s or 1000/1d`);
  const count = parseIntegerFlag(flag, m[1]!, 0, MAX_COUNT);
  const ms = parseDurationFlag(flag, `${m[2] || "1"}${m[3]}`, 1, 3660 * DAY_MS);
  return [count, ms];
}
