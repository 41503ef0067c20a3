import { availableParallelism } from "node:os";
import path from "node:path";
import { parseAuthHeader, parseTrustedProxies } from "../gateway/gateway-settings.js";
import { parseServerSecrets } from "../keys/server-secrets.js";
import { ACCESS_LOG_MODES, type AccessLogMode } from "../observability/access-log.js";
import { DEFAULT_OTLP_PROTOCOL, OTLP_PROTOCOLS, TRACE_SAMPLERS, type OtlpProtocol, type TraceSamplerName, type TraceSampling, type TracingSettings } from "../observability/tracing-settings.js";
import { SERVE_MODES, type ServeMode } from "../transport/surface.js";
import { formatByteSize, parseByteSize } from "./byte-size.js";
import { parseDurationMs } from "./duration.js";
import { defaultCacheMemory, GIB, MIB, MIN_MEMORY_LIMIT } from "./memory-limit.js";
import { PrivateFileError, readPrivateFile } from "./private-files.js";

/** Validated, frozen server configuration. Built once at start-up by `loadConfig`. */
export interface Config {
  readonly grpcAddress: HostPort;
  readonly httpAddress: HostPort;
  readonly dataDir: string;
  /** `sqlite:<path>` (default: `<dataDir>/sigil.db`) or `postgres://...`. */
  readonly databaseUrl: string;
  /** Server secrets spec (see keys/server-secrets.ts); undefined means "generate into the data dir". */
  readonly serverSecret: string | undefined;
  readonly logLevel: LogLevel;
  readonly keyPrefix: string;
  readonly issuer: string;
  readonly tokenDefaultTtlMs: number;
  readonly tokenMaxTtlMs: number;
  readonly signingKeyRotationMs: number;
  readonly cacheSize: number;
  /** Most estimated bytes of key records the cache holds (beside cacheSize records). */
  readonly cacheMemoryBytes: number;
  /** What one serving process aims to stay within; sizes V8's heap (serve) and the cache's default. */
  readonly memoryLimitBytes: number | undefined;
  readonly feedPollIntervalMs: number;
  /** How long change-feed rows are kept (followers further behind reset their caches). */
  readonly feedRetentionMs: number;
  /** Processes `serve` runs on the same ports; 1 runs in-process without a supervisor. */
  readonly workers: number;
  /** PostgreSQL connections per process. */
  readonly databasePoolSize: number;
  /** How long a SQLite write waits for another process's lock before failing with UNAVAILABLE. */
  readonly sqliteBusyTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly shutdownGraceMs: number;
  /** How often coalesced last-use times are written to the database. */
  readonly lastUseFlushIntervalMs: number;
  /** What this instance serves (transport/surface.ts). */
  readonly mode: ServeMode;
  /** How long start-up retries a database that is out of reach before giving up. */
  readonly databaseStartTimeoutMs: number;
  /** Browser origins the HTTP listener answers CORS requests for (lowercase; "*" is any); empty: CORS off. */
  readonly corsOrigins: readonly string[];
  /** Most WatchRevocations streams one key may hold open in one process. */
  readonly watchStreamsPerKey: number;
  /** Failed imported-key guesses a client may make before it is throttled. */
  readonly verifyFailureBurst: number;
  /** A throttled client regains one failure per this many ms. */
  readonly verifyFailureRefillMs: number;
  /** Most clients the failure throttle tracks. */
  readonly verifyThrottleClients: number;
  /** PEM certificate chain and key for TLS on both listeners; undefined: plaintext. */
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** PEM CA bundle: both listeners then require a client certificate it signed (mTLS). */
  readonly tlsClientCaFile: string | undefined;
  /** How often the TLS files are checked for a new certificate (SIGHUP reloads at once). */
  readonly tlsReloadIntervalMs: number;
  /** Bounds of each listener (see transport/listener-limits.ts). */
  readonly maxConnections: number;
  readonly maxStreamsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly receiveTimeoutMs: number;
  /** Bytes of unfinished requests each listener buffers at once. */
  readonly maxPendingRequestBytes: number;
  /** Count verifications per key and minute (usage analytics, GetKeyUsage). */
  readonly usageAnalytics: boolean;
  /** How long usage-analytics minutes are kept. */
  readonly usageRetentionMs: number;
  /** Header holding the credential for /v1/authorize and Envoy's Check (lower-case), besides Authorization: Bearer. */
  readonly authHeader: string | undefined;
  /** Networks of proxies whose X-Forwarded-For / X-Real-IP the gateway adapters believe (canonical CIDRs). */
  readonly trustedProxies: readonly string[];
  /** The Prometheus /metrics listener; undefined: metrics off (nothing is collected). */
  readonly metricsAddress: HostPort | undefined;
  /** Most tenants sigil_verifications_total names in its `tenant` label (observability/tenant-label.ts); 0: no tenant label. */
  readonly metricsTenantLabel: number;
  /** OTLP/HTTP trace export; undefined: tracing off. */
  readonly tracing: TracingSettings | undefined;
  /** Which calls get a log line (observability/access-log.ts). */
  readonly accessLog: AccessLogMode;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A setting with a bad value. The message names the setting; it never repeats a secret value. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

interface Setting<T> {
  readonly env: string;
  readonly flag: string;
  readonly help: string;
  readonly defaultText: string;
  readonly secret?: boolean;
  parse(text: string): T;
}

function setting<T>(env: string, flag: string, defaultText: string, help: string, parse: (text: string) => T, secret = false): Setting<T> {
  return { env, flag, defaultText, help, parse, secret };
}

function hostPort(text: string): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`must be host:port (port 0 picks a free one), got "${text}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

function duration(min: number, max: number) {
  return (text: string): number => {
    const ms = parseDurationMs(text);
    if (ms === undefined) throw new Error(`must be a duration like 250ms, 30s, 15m, 1h or 7d, got "${text}"`);
    if (ms < min || ms > max) throw new Error(`must be between ${min}ms and ${max}ms, got "${text}"`);
    return ms;
  };
}

function byteSize(min: number, max: number) {
  return (text: string): number => {
    const bytes = parseByteSize(text);
    if (bytes === undefined) throw new Error(`must be a size like 64MiB, 512KiB or 1GiB, got "${text}"`);
    if (bytes < min || bytes > max) throw new Error(`must be between ${formatByteSize(min)} and ${formatByteSize(max)}, got "${text}"`);
    return bytes;
  };
}

function integer(min: number, max: number) {
  return (text: string): number => {
    if (!/^\d{1,12}$/.test(text)) throw new Error(`must be a whole number, got "${text}"`);
    const n = Number(text);
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** SIGIL_METRICS_TENANT_LABEL: off (0), on (100) or a number of tenants. */
function parseTenantLabelSetting(text: string): number {
  if (text === "off") return 0;
  if (text === "on") return 100;
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 1000) throw new Error(`must be off, on or a number of tenants from 1 to 1000, got "${text}"`);
  return Number(text);
}

function oneOf<T extends string>(values: readonly T[]) {
  return (text: string): T => {
    if (!(values as readonly string[]).includes(text)) throw new Error(`must be one of ${values.join(", ")}, got "${text}"`);
    return text as T;
  };
}

function pattern(re: RegExp, what: string) {
  return (text: string): string => {
    if (!re.test(text)) throw new Error(`must be ${what}, got "${text}"`);
    return text;
  };
}

function origins(text: string): string[] {
  const list = text.split(",").map((o) => o.trim().toLowerCase()).filter((o) => o.length > 0);
  if (list.length > 64) throw new Error(`must list at most 64 origins, got ${list.length}`);
  for (const o of list) {
    if (o !== "*" && !/^https?:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(o)) {
      throw new Error(`must be origins like https://app.example.com (scheme, host and optional port; no path), or *, got "${o}"`);
    }
  }
  return list;
}

function filePath(t: string): string {
  if (t.length === 0 || t.length > 4096) throw new Error("must be a path of 1 to 4096 characters");
  return path.resolve(t);
}

/** A secret read from a *_FILE setting is at most this long. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

const HOUR = 3_600_000;

/** An OTLP/HTTP base URL (as OTEL_EXPORTER_OTLP_ENDPOINT): http or https, no query or fragment. */
function otlpEndpoint(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash || text.length > 2048) {
    throw new Error("must be an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318");
  }
  return text;
}

/** OTEL_EXPORTER_OTLP_HEADERS: `key=value,key2=value2`, values percent-encoded (W3C baggage format). */
function otlpHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    const key = part.slice(0, eq).trim().toLowerCase();
    let value: string | undefined;
    try {
      value = eq > 0 ? decodeURIComponent(part.slice(eq + 1).trim()) : undefined;
    } catch {
      value = undefined;
    }
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]{1,128}$/.test(key) || value === undefined || /[\r\n\0]/.test(value)) {
      throw new Error("must be comma-separated key=value pairs (values percent-encoded)");
    }
    headers[key] = value;
  }
  return headers;
}

/** Every setting, its environment variable, its flag and its default. The README table mirrors this. */
export const SETTINGS = {
  grpcAddress: setting("SIGIL_GRPC_ADDR", "--grpc-addr", "127.0.0.1:4420", "gRPC listener (grpc-js): gRPC, reflection, health", hostPort),
  httpAddress: setting("SIGIL_HTTP_ADDR", "--http-addr", "127.0.0.1:4421", "HTTP listener (connect-node): Connect, gRPC-Web, JSON, /.well-known/jwks.json, /healthz", hostPort),
  dataDir: setting("SIGIL_DATA_DIR", "--data-dir", "./data", "directory for the SQLite database, the server secret and the first admin key", (t) => {
    if (t.length === 0 || t.length > 1024) throw new Error("must be a path of 1 to 1024 characters");
    return path.resolve(t);
  }),
  databaseUrl: setting("SIGIL_DATABASE_URL", "--database-url", "sqlite:<data dir>/sigil.db", "database: sqlite:<path> or postgres://user:pass@host/db", pattern(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, "sqlite:<path> or postgres://..."), true),
  serverSecret: setting("SIGIL_SERVER_SECRET", "--server-secret", "generated into <data dir>/server-secret", "HMAC/sealing secret: base64 of >= 32 bytes, or v2:<b64>,v1:<b64> to rotate", (t) => {
    parseServerSecrets(t);
    return t;
  }, true),
  logLevel: setting("SIGIL_LOG_LEVEL", "--log-level", "info", "log level; one JSON line per call at info", oneOf(LOG_LEVELS)),
  keyPrefix: setting("SIGIL_KEY_PREFIX", "--key-prefix", "sgl", "first part of every API key (2-16 lowercase letters/digits)", pattern(/^[a-z][a-z0-9]{1,15}$/, "2 to 16 lowercase letters or digits, starting with a letter")),
  issuer: setting("SIGIL_ISSUER", "--issuer", "sigil", "`iss` claim of derived JWTs", pattern(/^[\x21-\x7e]{1,256}$/, "1 to 256 printable characters")),
  tokenDefaultTtlMs: setting("SIGIL_TOKEN_DEFAULT_TTL", "--token-default-ttl", "15m", "lifetime of a derived token when the request gives none", duration(1000, 24 * HOUR)),
  tokenMaxTtlMs: setting("SIGIL_TOKEN_MAX_TTL", "--token-max-ttl", "1h", "longest lifetime of a derived token", duration(1000, 24 * HOUR)),
  signingKeyRotationMs: setting("SIGIL_SIGNING_KEY_ROTATION", "--signing-key-rotation", "30d", "age after which the JWT signing key is replaced (while running; one process rotates, all follow); at least SIGIL_TOKEN_MAX_TTL", duration(10_000, 3650 * 24 * HOUR)),
  cacheSize: setting("SIGIL_CACHE_SIZE", "--cache-size", "50000", "most key records kept in memory (about 800 bytes each)", integer(1, 10_000_000)),
  cacheMemoryBytes: setting("SIGIL_CACHE_MEMORY", "--cache-memory", "64MiB, or a quarter of SIGIL_MEMORY_LIMIT", "most memory the key records in the cache may take (estimated per record); whichever of it and SIGIL_CACHE_SIZE is reached first bounds the cache", byteSize(MIB, 64 * GIB)),
  memoryLimitBytes: setting("SIGIL_MEMORY_LIMIT", "--memory-limit", "unset (V8's own heap limit)", "memory each serving process aims to stay within, e.g. 256MiB: caps V8's heap at it minus 64MiB and gives the key cache a quarter of it", byteSize(MIN_MEMORY_LIMIT, 1024 * GIB)),
  feedPollIntervalMs: setting("SIGIL_FEED_POLL_INTERVAL", "--feed-poll-interval", "250ms", "how often the change feed is polled to invalidate caches", duration(10, 60_000)),
  feedRetentionMs: setting("SIGIL_FEED_RETENTION", "--feed-retention", "7d", "how long change-feed rows (revocation history, WatchRevocations cursors) are kept", duration(1000, 3650 * 24 * HOUR)),
  workers: setting("SIGIL_WORKERS", "--workers", "number of cores", "processes serving the same ports (restarted when they crash); 1 = one process, no supervisor", integer(1, 256)),
  databasePoolSize: setting("SIGIL_DATABASE_POOL_SIZE", "--database-pool-size", "10", "PostgreSQL connections per process", integer(1, 1000)),
  sqliteBusyTimeoutMs: setting("SIGIL_SQLITE_BUSY_TIMEOUT", "--sqlite-busy-timeout", "5s", "how long a SQLite write waits for another process's lock before failing with UNAVAILABLE", duration(0, 60_000)),
  maxMessageBytes: setting("SIGIL_MAX_MESSAGE_BYTES", "--max-message-bytes", "1048576", "largest request message accepted", integer(1024, 16 * 1024 * 1024)),
  shutdownGraceMs: setting("SIGIL_SHUTDOWN_GRACE", "--shutdown-grace", "10s", "how long in-flight calls may run after SIGTERM", duration(0, 600_000)),
  lastUseFlushIntervalMs: setting("SIGIL_LAST_USE_FLUSH_INTERVAL", "--last-use-flush-interval", "5s", "how often keys' last-use times are written (one write per used key per interval)", duration(50, 600_000)),
  mode: setting("SIGIL_MODE", "--mode", "all", "what this instance serves: all, verify (VerifyKey, BatchVerifyKeys, DeriveToken, GetJwks, WatchRevocations, self-revocation) or admin (everything)", oneOf(SERVE_MODES)),
  databaseStartTimeoutMs: setting("SIGIL_DATABASE_START_TIMEOUT", "--database-start-timeout", "60s", "how long start-up waits (with back-off) for a database that is out of reach; 0s tries once", duration(0, 3600_000)),
  corsOrigins: setting("SIGIL_CORS_ORIGINS", "--cors-origins", "off", "browser origins allowed to call the HTTP listener (comma-separated, e.g. https://app.example.com; * for any)", origins),
  serverSecretFile: setting("SIGIL_SERVER_SECRET_FILE", "--server-secret-file", "unset", "file holding SIGIL_SERVER_SECRET (owner-only, not a link; trailing newline ignored)", filePath),
  databaseUrlFile: setting("SIGIL_DATABASE_URL_FILE", "--database-url-file", "unset", "file holding SIGIL_DATABASE_URL (owner-only, not a link; trailing newline ignored)", filePath),
  verifyFailureBurst: setting("SIGIL_VERIFY_FAILURE_BURST", "--verify-failure-burst", "20", "imported key strings a client may fail to verify in a row before it is throttled (per process)", integer(1, 1_000_000)),
  verifyFailureRefillMs: setting("SIGIL_VERIFY_FAILURE_REFILL", "--verify-failure-refill", "1s", "a throttled client regains one failed try per this interval", duration(1, 3_600_000)),
  verifyThrottleClients: setting("SIGIL_VERIFY_THROTTLE_CLIENTS", "--verify-throttle-clients", "100000", "most clients the failure throttle tracks (about 200 bytes each)", integer(1, 10_000_000)),
  usageAnalytics: setting("SIGIL_USAGE_ANALYTICS", "--usage-analytics", "on", "count verifications per key, minute and outcome (GetKeyUsage, sigil keys usage): on or off", (t) => oneOf(["on", "off"] as const)(t) === "on"),
  usageRetentionMs: setting("SIGIL_USAGE_RETENTION", "--usage-retention", "30d", "how long usage-analytics counts (one row per key, minute and outcome) are kept", duration(1000, 3650 * 24 * HOUR)),
  watchStreamsPerKey: setting("SIGIL_WATCH_STREAMS_PER_KEY", "--watch-streams-per-key", "8", "most WatchRevocations streams one key may hold open in one process (of the 1000 a process allows)", integer(1, 1000)),
  tlsCertFile: setting("SIGIL_TLS_CERT_FILE", "--tls-cert-file", "none (plaintext)", "PEM certificate (chain allowed) for TLS on both listeners; needs --tls-key-file", filePath),
  tlsKeyFile: setting("SIGIL_TLS_KEY_FILE", "--tls-key-file", "none", "PEM private key of --tls-cert-file", filePath),
  tlsClientCaFile: setting("SIGIL_TLS_CLIENT_CA_FILE", "--tls-client-ca-file", "none", "PEM CA certificate(s): both listeners then require a client certificate signed by one (mTLS)", filePath),
  tlsReloadIntervalMs: setting("SIGIL_TLS_RELOAD_INTERVAL", "--tls-reload-interval", "10s", "how often the TLS files are checked for a new certificate (SIGHUP reloads at once)", duration(1000, 3_600_000)),
  maxConnections: setting("SIGIL_MAX_CONNECTIONS", "--max-connections", "1000", "open connections per listener and process; more are closed at once (lowered to fit the open-file limit)", integer(1, 1_000_000)),
  maxStreamsPerConnection: setting("SIGIL_MAX_STREAMS_PER_CONNECTION", "--max-streams-per-connection", "100", "concurrent HTTP/2 streams (calls) per connection", integer(1, 10_000)),
  idleTimeoutMs: setting("SIGIL_IDLE_TIMEOUT", "--idle-timeout", "65s", "a connection without calls for this long is closed", duration(1000, 86_400_000)),
  maxPendingRequestBytes: setting("SIGIL_MAX_PENDING_REQUEST_BYTES", "--max-pending-request-bytes", "67108864", "bytes of unfinished requests a listener buffers at once (all calls together); more is RESOURCE_EXHAUSTED", integer(1024 * 1024, 64 * 1024 ** 3)),
  authHeader: setting("SIGIL_AUTH_HEADER", "--auth-header", "none", "request header holding the credential for /v1/authorize and Envoy ext_authz (e.g. X-API-Key), read before Authorization: Bearer", parseAuthHeader),
  trustedProxies: setting("SIGIL_TRUSTED_PROXIES", "--trusted-proxies", "none", "networks of proxies whose X-Forwarded-For / X-Real-IP /v1/authorize and Envoy ext_authz believe (comma-separated CIDRs)", parseTrustedProxies),
  metricsAddress: setting("SIGIL_METRICS_ADDR", "--metrics-addr", "127.0.0.1:4422", "Prometheus listener (GET /metrics; with --workers, summed over every worker); empty turns metrics off", (t) => (t === "" ? undefined : hostPort(t))),
  metricsTenantLabel: setting("SIGIL_METRICS_TENANT_LABEL", "--metrics-tenant-label", "off", "add a tenant label to sigil_verifications_total: off, on (the first 100 tenants seen by name, the rest as _other), or that number of tenants (1 to 1000)", parseTenantLabelSetting),
  otelEndpoint: setting("SIGIL_OTEL_ENDPOINT", "--otel-endpoint", "off (or OTEL_EXPORTER_OTLP_ENDPOINT)", "OTLP/HTTP collector for traces, e.g. http://127.0.0.1:4318 (spans go to <url>/v1/traces)", otlpEndpoint, true),
  accessLog: setting("SIGIL_ACCESS_LOG", "--access-log", "default", "call log lines: default (VerifyKey/BatchVerifyKeys and gateway-check successes at debug, the rest at info), all, errors (failures and mutations), none", oneOf(ACCESS_LOG_MODES)),
  receiveTimeoutMs: setting("SIGIL_RECEIVE_TIMEOUT", "--receive-timeout", "10s", "time a client has to send a whole request (and a new connection its TLS handshake and first frames)", duration(100, 600_000)),
} as const;

type SettingName = keyof typeof SETTINGS;

/**
 * Reads settings from flags (which win) and environment variables, validates every one and returns
 * a frozen Config. Throws ConfigError naming the first wrong setting.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const flags = parseFlags(argv);
  const raw = (name: SettingName): string | undefined => {
    const s = SETTINGS[name];
    return flags.get(s.flag) ?? env[s.env] ?? undefined;
  };
  const parse = <K extends SettingName>(name: K, text: string, label = `${SETTINGS[name].env} (${SETTINGS[name].flag})`) => {
    const s = SETTINGS[name];
    try {
      return s.parse(text) as ReturnType<(typeof SETTINGS)[K]["parse"]>;
    } catch (err) {
      // Secret settings (the server secret, a database URL with its password) never reach the
      // message, whatever the parser wrote.
      const message = (err as Error).message;
      const detail = s.secret ? "is not valid: " + message.split(text).join("<redacted>") : message;
      throw new ConfigError(`${label} ${detail}`);
    }
  };
  const value = <K extends SettingName>(name: K, fallback: string | undefined): ReturnType<(typeof SETTINGS)[K]["parse"]> | undefined => {
    const text = raw(name) ?? fallback;
    return text === undefined ? undefined : parse(name, text);
  };
  /** A secret setting given as a file (SIGIL_SERVER_SECRET_FILE, ...): the same rules as the data dir's secret files. */
  const fromFile = (name: "serverSecret" | "databaseUrl", fileName: "serverSecretFile" | "databaseUrlFile"): string | undefined => {
    const file = value(fileName, undefined);
    if (file === undefined) return undefined;
    const f = SETTINGS[fileName];
    const plain = SETTINGS[name];
    if (raw(name) !== undefined) throw new ConfigError(`${f.env} (${f.flag}) and ${plain.env} (${plain.flag}) are both set: use one`);
    let content: Buffer | undefined;
    try {
      content = readPrivateFile(file, MAX_SECRET_FILE_BYTES);
    } catch (err) {
      if (err instanceof PrivateFileError) throw new ConfigError(`${f.env} (${f.flag}): ${err.message}`);
      throw err;
    }
    if (content === undefined) throw new ConfigError(`${f.env} (${f.flag}): ${file} does not exist`);
    return parse(name, content.toString("utf8").replace(/[\r\n]+$/, ""), `${f.env} (${f.flag}): ${file}`);
  };
  const dataDir = value("dataDir", "./data")!;
  const config: Config = {
    grpcAddress: value("grpcAddress", "127.0.0.1:4420")!,
    httpAddress: value("httpAddress", "127.0.0.1:4421")!,
    dataDir,
    databaseUrl: fromFile("databaseUrl", "databaseUrlFile") ?? value("databaseUrl", `sqlite:${path.join(dataDir, "sigil.db")}`)!,
    serverSecret: fromFile("serverSecret", "serverSecretFile") ?? value("serverSecret", undefined),
    logLevel: value("logLevel", "info")!,
    keyPrefix: value("keyPrefix", "sgl")!,
    issuer: value("issuer", "sigil")!,
    tokenDefaultTtlMs: value("tokenDefaultTtlMs", "15m")!,
    tokenMaxTtlMs: value("tokenMaxTtlMs", "1h")!,
    signingKeyRotationMs: value("signingKeyRotationMs", "30d")!,
    cacheSize: value("cacheSize", "50000")!,
    cacheMemoryBytes: value("cacheMemoryBytes", undefined) ?? defaultCacheMemory(value("memoryLimitBytes", undefined)),
    memoryLimitBytes: value("memoryLimitBytes", undefined),
    feedPollIntervalMs: value("feedPollIntervalMs", "250ms")!,
    feedRetentionMs: value("feedRetentionMs", "7d")!,
    workers: value("workers", String(Math.min(availableParallelism(), 256)))!,
    databasePoolSize: value("databasePoolSize", "10")!,
    sqliteBusyTimeoutMs: value("sqliteBusyTimeoutMs", "5s")!,
    maxMessageBytes: value("maxMessageBytes", "1048576")!,
    shutdownGraceMs: value("shutdownGraceMs", "10s")!,
    lastUseFlushIntervalMs: value("lastUseFlushIntervalMs", "5s")!,
    mode: value("mode", "all")!,
    databaseStartTimeoutMs: value("databaseStartTimeoutMs", "60s")!,
    corsOrigins: Object.freeze(value("corsOrigins", "")!),
    watchStreamsPerKey: value("watchStreamsPerKey", "8")!,
    verifyFailureBurst: value("verifyFailureBurst", "20")!,
    verifyFailureRefillMs: value("verifyFailureRefillMs", "1s")!,
    verifyThrottleClients: value("verifyThrottleClients", "100000")!,
    tlsCertFile: value("tlsCertFile", undefined),
    tlsKeyFile: value("tlsKeyFile", undefined),
    tlsClientCaFile: value("tlsClientCaFile", undefined),
    tlsReloadIntervalMs: value("tlsReloadIntervalMs", "10s")!,
    maxConnections: value("maxConnections", "1000")!,
    maxStreamsPerConnection: value("maxStreamsPerConnection", "100")!,
    idleTimeoutMs: value("idleTimeoutMs", "65s")!,
    receiveTimeoutMs: value("receiveTimeoutMs", "10s")!,
    maxPendingRequestBytes: value("maxPendingRequestBytes", "67108864")!,
    usageAnalytics: value("usageAnalytics", "on")!,
    usageRetentionMs: value("usageRetentionMs", "30d")!,
    authHeader: value("authHeader", "none"),
    trustedProxies: Object.freeze(value("trustedProxies", "")!),
    metricsAddress: value("metricsAddress", "127.0.0.1:4422"),
    metricsTenantLabel: value("metricsTenantLabel", "off")!,
    tracing: tracingSettings(raw("otelEndpoint") === undefined ? env.OTEL_EXPORTER_OTLP_ENDPOINT : undefined, value("otelEndpoint", undefined), env),
    accessLog: value("accessLog", "default")!,
  };
  requireTlsPair(config);
  requireCacheWithinMemoryLimit(config);
  if (config.maxPendingRequestBytes < config.maxMessageBytes) {
    const { maxPendingRequestBytes: p, maxMessageBytes: m } = SETTINGS;
    throw new ConfigError(`${p.env} (${p.flag}) must be at least ${m.env} (${config.maxMessageBytes})`);
  }
  if (config.tokenDefaultTtlMs > config.tokenMaxTtlMs) {
    throw new ConfigError(`${SETTINGS.tokenDefaultTtlMs.env} (${SETTINGS.tokenDefaultTtlMs.flag}) must not exceed ${SETTINGS.tokenMaxTtlMs.env}`);
  }
  // Each retired key stays published for about a token lifetime: rotating faster would pile them up.
  if (config.signingKeyRotationMs < config.tokenMaxTtlMs) {
    throw new ConfigError(`${SETTINGS.signingKeyRotationMs.env} (${SETTINGS.signingKeyRotationMs.flag}) must be at least ${SETTINGS.tokenMaxTtlMs.env}`);
  }
  return Object.freeze(config);
}

/**
 * Tracing from SIGIL_OTEL_ENDPOINT, or else the standard OTEL_EXPORTER_OTLP_ENDPOINT, with the
 * standard OTEL_SERVICE_NAME and OTEL_EXPORTER_OTLP_HEADERS. Values are never repeated in errors
 * (a URL or a header may hold the collector's credentials).
 */
function tracingSettings(standardEndpoint: string | undefined, endpoint: string | undefined, env: NodeJS.ProcessEnv): TracingSettings | undefined {
  const standard = (name: string, parse: (t: string) => unknown) => {
    try {
      return parse(env[name]!);
    } catch (err) {
      throw new ConfigError(`${name} ${(err as Error).message}`);
    }
  };
  const url = endpoint ?? (standardEndpoint ? (standard("OTEL_EXPORTER_OTLP_ENDPOINT", otlpEndpoint) as string) : undefined);
  if (url === undefined) return undefined;
  const serviceName = env.OTEL_SERVICE_NAME === undefined ? "sigil" : (standard("OTEL_SERVICE_NAME", pattern(/^[\x20-\x7e]{1,256}$/, "1 to 256 printable characters")) as string);
  const headers = env.OTEL_EXPORTER_OTLP_HEADERS === undefined ? {} : (standard("OTEL_EXPORTER_OTLP_HEADERS", otlpHeaders) as Record<string, string>);
  const protocolVariable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL === undefined ? "OTEL_EXPORTER_OTLP_PROTOCOL" : "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
  const protocol = env[protocolVariable] === undefined ? DEFAULT_OTLP_PROTOCOL : (standard(protocolVariable, oneOfStandard(OTLP_PROTOCOLS, "(OTLP over HTTP)")) as OtlpProtocol);
  return Object.freeze({ endpoint: url, serviceName, headers: Object.freeze(headers), protocol, sampling: traceSampling(env, standard) });
}

/** OTEL_TRACES_SAMPLER and, for the ratio samplers, OTEL_TRACES_SAMPLER_ARG (default 1), as the OpenTelemetry SDKs read them. */
function traceSampling(env: NodeJS.ProcessEnv, standard: (name: string, parse: (t: string) => unknown) => unknown): TraceSampling {
  const sampler = env.OTEL_TRACES_SAMPLER === undefined ? "parentbased_always_on" : (standard("OTEL_TRACES_SAMPLER", oneOfStandard(TRACE_SAMPLERS, "")) as TraceSamplerName);
  const ratioArg = sampler.endsWith("traceidratio") && env.OTEL_TRACES_SAMPLER_ARG !== undefined;
  const ratio = ratioArg
    ? (standard("OTEL_TRACES_SAMPLER_ARG", (t) => {
        const n = Number(t);
        if (t.trim() === "" || !(n >= 0 && n <= 1)) throw new Error("must be a number from 0 to 1 (the share of traces sampled)");
        return n;
      }) as number)
    : 1;
  return Object.freeze({ sampler, ratio });
}

function oneOfStandard<T extends string>(values: readonly T[], what: string): (t: string) => T {
  return (t) => {
    const v = t.trim().toLowerCase() as T;
    if (!values.includes(v)) throw new Error(`must be one of ${values.join(", ")}${what ? ` ${what}` : ""}`);
    return v;
  };
}

/** A certificate needs its key and the reverse; mTLS needs TLS. */
function requireTlsPair(config: Config): void {
  const { tlsCertFile: cert, tlsKeyFile: key, tlsClientCaFile: ca } = SETTINGS;
  if (config.tlsCertFile !== undefined && config.tlsKeyFile === undefined) throw new ConfigError(`${key.env} (${key.flag}) must be set with ${cert.env}`);
  if (config.tlsKeyFile !== undefined && config.tlsCertFile === undefined) throw new ConfigError(`${cert.env} (${cert.flag}) must be set with ${key.env}`);
  if (config.tlsClientCaFile !== undefined && config.tlsCertFile === undefined) {
    throw new ConfigError(`${ca.env} (${ca.flag}) needs TLS: set ${cert.env} and ${key.env} too`);
  }
}

/** A cache bound past half the memory limit leaves too little for everything else to keep to it. */
function requireCacheWithinMemoryLimit(config: Config): void {
  const { cacheMemoryBytes: cache, memoryLimitBytes: limit } = SETTINGS;
  if (config.memoryLimitBytes !== undefined && config.cacheMemoryBytes > config.memoryLimitBytes / 2) {
    throw new ConfigError(`${cache.env} (${cache.flag}) must be at most half of ${limit.env} (${formatByteSize(config.memoryLimitBytes)})`);
  }
}

function parseFlags(argv: readonly string[]): Map<string, string> {
  const known = new Set(Object.values(SETTINGS).map((s) => s.flag));
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!known.has(name)) throw new ConfigError(`unknown option "${name}" (see --help)`);
    const v = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new ConfigError(`option ${name} needs a value`);
    flags.set(name, v);
  }
  return flags;
}
