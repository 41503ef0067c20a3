/**
 * Every metric Sigil exports, by name. The README's metric list mirrors this; tests read it.
 * RPC metrics use go-grpc-prometheus's names and labels, so gRPC dashboards work unchanged.
 */
export const METRIC = {
  rpcStarted: "grpc_server_started_total",
  rpcHandled: "grpc_server_handled_total",
  rpcHandlingSeconds: "grpc_server_handling_seconds",
  verifications: "sigil_verifications_total",
  rateLimited: "sigil_rate_limited_total",
  creditsExhausted: "sigil_credits_exhausted_total",
  jwtCacheLookups: "sigil_jwt_cache_lookups_total",
  keyCacheLookups: "sigil_key_cache_lookups_total",
  keyCacheEvictions: "sigil_key_cache_evictions_total",
  keyCacheEntries: "sigil_key_cache_entries",
  keyCacheBytes: "sigil_key_cache_bytes",
  feedLagSeconds: "sigil_change_feed_lag_seconds",
  feedLastAppliedSeq: "sigil_change_feed_last_applied_seq",
  feedChangesApplied: "sigil_change_feed_changes_applied_total",
  feedResets: "sigil_change_feed_resets_total",
  revocationsApplied: "sigil_revocations_applied_total",
  databaseCallSeconds: "sigil_database_call_duration_seconds",
  databaseErrors: "sigil_database_errors_total",
  databaseUp: "sigil_database_up",
  issueBatchSize: "sigil_issue_batch_size",
  watchStreamsOpen: "sigil_watch_revocations_streams_open",
  signingKeysPublished: "sigil_signing_keys_published",
  buildInfo: "sigil_build_info",
} as const;

/** prom-client default metrics that are gauges named `_total` (promtool rejects them); the per-type gauges of the same name without `_total` stay. */
export const DROPPED_DEFAULT_METRICS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"] as const;

/** Handling-time buckets, finer than go-grpc-prometheus's default (5 ms to 10 s): a cache hit takes well under a millisecond. */
export const RPC_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const DATABASE_SECONDS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
export const FEED_LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** IssueKey group commit: keys per transaction (at most 256). */
export const ISSUE_BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
