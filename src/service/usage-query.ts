import type { GetKeyUsageRequest } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { formatDurationMs } from "../config/duration.js";
import { USAGE_MINUTE_MS } from "../store/usage-repository.js";
import { UNATTRIBUTED } from "../usage/usage-counter.js";
import { durationMs, invalid, requireKeyId, timestampMs } from "./request-validation.js";

/** Most buckets one GetKeyUsage answer holds (a day of minutes, two months of hours). */
export const MAX_USAGE_BUCKETS = 1440;
export const MAX_USAGE_BUCKET_MS = 366 * 86_400_000;
export const DEFAULT_USAGE_BUCKET_MS = 3_600_000;
export const DEFAULT_USAGE_RANGE_MS = 86_400_000;
/** google.protobuf.Timestamp's range in ms: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. */
const MIN_TIMESTAMP_MS = -62_135_596_800_000;
const MAX_TIMESTAMP_MS = 253_402_300_799_999;

/** A checked GetKeyUsage request: the range widened to whole buckets. */
export interface UsageQuery {
  /** The key, or UNATTRIBUTED. */
  readonly keyId: string;
  readonly startTime: number;
  readonly endTime: number;
  readonly bucketMs: number;
  readonly buckets: number;
}

/** A bucket width (already within 1 minute to 366 days) must be a whole number of minutes. */
export function requireUsageBucket(ms: number, field = "bucket"): number {
  if (ms % USAGE_MINUTE_MS !== 0) throw invalid(`${field}: must be a whole number of minutes (60s, 300s, 3600s, …)`);
  return ms;
}

/**
 * The range rounded out to bucket boundaries (multiples of the width since the epoch), refused
 * when it holds more than MAX_USAGE_BUCKETS buckets.
 */
export function usageRange(startMs: number, endMs: number, bucketMs: number): { startTime: number; endTime: number; buckets: number } {
  if (endMs <= startMs) throw invalid("end_time: must be after start_time");
  const startTime = Math.floor(startMs / bucketMs) * bucketMs;
  const endTime = Math.ceil(endMs / bucketMs) * bucketMs;
  // The answer's times are Timestamps too (JSON cannot write one outside years 1 to 9999).
  if (startTime < MIN_TIMESTAMP_MS || endTime > MAX_TIMESTAMP_MS) throw invalid("start_time: the range, rounded out to whole buckets, must lie within 0001-01-01 and 9999-12-31");
  const buckets = (endTime - startTime) / bucketMs;
  if (buckets > MAX_USAGE_BUCKETS) {
    throw invalid(
      `bucket: the range holds ${buckets} buckets of ${formatDurationMs(bucketMs)}; at most ${MAX_USAGE_BUCKETS} per call (widen the bucket or shorten the range)`,
    );
  }
  return { startTime, endTime, buckets };
}

/** Checks a GetKeyUsage request; every field is bounded, every default applied. */
export function usageQuery(req: GetKeyUsageRequest, nowMs: number): UsageQuery {
  let keyId: string;
  if (req.unattributed) {
    if (req.keyId !== "") throw invalid("key_id: must be empty when unattributed is set");
    keyId = UNATTRIBUTED;
  } else {
    keyId = requireKeyId(req.keyId);
  }
  let bucketMs = DEFAULT_USAGE_BUCKET_MS;
  if (req.bucket) {
    bucketMs = durationMs(req.bucket, "bucket", USAGE_MINUTE_MS, MAX_USAGE_BUCKET_MS);
    if (req.bucket.nanos !== 0) throw invalid("bucket: must be a whole number of minutes (60s, 300s, 3600s, …)");
    requireUsageBucket(bucketMs);
  }
  const endMs = req.endTime ? timestampMs(req.endTime, "end_time") : nowMs;
  const startMs = req.startTime ? timestampMs(req.startTime, "start_time") : endMs - DEFAULT_USAGE_RANGE_MS;
  return { keyId, bucketMs, ...usageRange(startMs, endMs, bucketMs) };
}
