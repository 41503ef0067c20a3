import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../src/config/config.js";

describe("configuration", () => {
  it("has working defaults", () => {
    const c = loadConfig([], {});
    assert.deepEqual(c.grpcAddress, { host: "127.0.0.1", port: 4420 });
    assert.deepEqual(c.httpAddress, { host: "127.0.0.1", port: 4421 });
    assert.equal(c.tokenDefaultTtlMs, 15 * 60_000);
    assert.equal(c.tokenMaxTtlMs, 3600_000);
    assert.match(c.databaseUrl, /^sqlite:.*data\/sigil\.db$/);
    assert.equal(c.mode, "all");
    assert.equal(c.signingKeyRotationMs, 30 * 86_400_000);
    assert.ok(Object.isFrozen(c));
  });

  it("takes a serving mode and a short rotation when the token lifetime allows it", () => {
    const c = loadConfig(["--mode", "verify", "--signing-key-rotation", "10s", "--token-max-ttl", "5s", "--token-default-ttl", "5s"], {});
    assert.equal(c.mode, "verify");
    assert.equal(c.signingKeyRotationMs, 10_000);
    assert.equal(loadConfig([], { SIGIL_MODE: "admin" }).mode, "admin");
  });

  it("takes flags over environment variables", () => {
    const c = loadConfig(["--grpc-addr", "0.0.0.0:5000", "--log-level=warn"], { SIGIL_GRPC_ADDR: "127.0.0.1:1", SIGIL_LOG_LEVEL: "debug", SIGIL_HTTP_ADDR: "[::1]:0" });
    assert.deepEqual(c.grpcAddress, { host: "0.0.0.0", port: 5000 });
    assert.equal(c.logLevel, "warn");
    assert.deepEqual(c.httpAddress, { host: "::1", port: 0 });
  });

  it("names the setting in every error", () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [[], { SIGIL_CACHE_SIZE: "lots" }, /^SIGIL_CACHE_SIZE \(--cache-size\) must be a whole number/],
      [[], { SIGIL_LOG_LEVEL: "loud" }, /^SIGIL_LOG_LEVEL .* must be one of/],
      [[], { SIGIL_TOKEN_DEFAULT_TTL: "2h" }, /^SIGIL_TOKEN_DEFAULT_TTL .* must not exceed SIGIL_TOKEN_MAX_TTL/],
      [[], { SIGIL_DATABASE_URL: "mysql://x" }, /^SIGIL_DATABASE_URL/],
      [["--nope", "1"], {}, /unknown option "--nope"/],
      [["--grpc-addr"], {}, /needs a value/],
      [[], { SIGIL_MODE: "readonly" }, /^SIGIL_MODE \(--mode\) must be one of all, verify, admin, got "readonly"/],
      [[], { SIGIL_SIGNING_KEY_ROTATION: "5s" }, /^SIGIL_SIGNING_KEY_ROTATION .* must be between 10000ms/],
      [["--signing-key-rotation", "30m"], {}, /^SIGIL_SIGNING_KEY_ROTATION \(--signing-key-rotation\) must be at least SIGIL_TOKEN_MAX_TTL/],
    ];
    for (const [argv, env, message] of cases) assert.throws(() => loadConfig(argv, env), (e: Error) => e instanceof ConfigError && message.test(e.message));
    // A database URL carries a password: a wrong one is named, never repeated.
    assert.throws(
      () => loadConfig([], { SIGIL_DATABASE_URL: "mysql://sigil:hunter2@db/sigil" }),
      (e: Error) => /^SIGIL_DATABASE_URL .*is not valid/.test(e.message) && !e.message.includes("hunter2"),
    );
  });

  it("reads CORS origins and the database start timeout", () => {
    const c = loadConfig([], { SIGIL_CORS_ORIGINS: " https://App.example.com ,http://localhost:5173,", SIGIL_DATABASE_START_TIMEOUT: "5s" });
    assert.deepEqual(c.corsOrigins, ["https://app.example.com", "http://localhost:5173"]);
    assert.equal(c.databaseStartTimeoutMs, 5000);
    const d = loadConfig([], {});
    assert.deepEqual(d.corsOrigins, [], "CORS is off by default");
    assert.equal(d.databaseStartTimeoutMs, 60_000);
    for (const bad of ["https://app.example.com/", "app.example.com", "https://a.example.com/path", "ftp://a.example.com"]) {
      assert.throws(() => loadConfig([], { SIGIL_CORS_ORIGINS: bad }), (e: Error) => e instanceof ConfigError && /^SIGIL_CORS_ORIGINS \(--cors-origins\) must be origins/.test(e.message), bad);
    }
    assert.throws(() => loadConfig([], { SIGIL_DATABASE_START_TIMEOUT: "2h" }), (e: Error) => /^SIGIL_DATABASE_START_TIMEOUT/.test(e.message));
  });

  it("reads the usage-analytics switch and retention", () => {
    const d = loadConfig([], {});
    assert.equal(d.usageAnalytics, true);
    assert.equal(d.usageRetentionMs, 30 * 86_400_000);
    const c = loadConfig(["--usage-analytics", "off"], { SIGIL_USAGE_RETENTION: "7d" });
    assert.equal(c.usageAnalytics, false);
    assert.equal(c.usageRetentionMs, 7 * 86_400_000);
    assert.throws(() => loadConfig([], { SIGIL_USAGE_ANALYTICS: "yes" }), (e: Error) => e instanceof ConfigError && /^SIGIL_USAGE_ANALYTICS \(--usage-analytics\) must be one of on, off, got "yes"/.test(e.message));
    assert.throws(() => loadConfig([], { SIGIL_USAGE_RETENTION: "forever" }), (e: Error) => e instanceof ConfigError && /^SIGIL_USAGE_RETENTION \(--usage-retention\) must be a duration/.test(e.message));
  });

  it("reads the tenant label switch of the metrics: off by default, on (100) or a bound", () => {
    assert.equal(loadConfig([], {}).metricsTenantLabel, 0);
    assert.equal(loadConfig([], { SIGIL_METRICS_TENANT_LABEL: "on" }).metricsTenantLabel, 100);
    assert.equal(loadConfig(["--metrics-tenant-label", "250"], {}).metricsTenantLabel, 250);
    for (const bad of ["0", "1001", "yes", "-1"]) {
      assert.throws(() => loadConfig([], { SIGIL_METRICS_TENANT_LABEL: bad }), (e: Error) => e instanceof ConfigError && /^SIGIL_METRICS_TENANT_LABEL \(--metrics-tenant-label\) must be off, on or a number of tenants from 1 to 1000/.test(e.message), bad);
    }
  });

  it("reads the metrics address, tracing and the access log", () => {
    const d = loadConfig([], {});
    assert.deepEqual(d.metricsAddress, { host: "127.0.0.1", port: 4422 });
    assert.equal(d.tracing, undefined);
    assert.equal(d.accessLog, "default");
    assert.equal(loadConfig([], { SIGIL_METRICS_ADDR: "" }).metricsAddress, undefined, "empty turns metrics off");
    assert.deepEqual(loadConfig(["--metrics-addr", "0.0.0.0:9100"], {}).metricsAddress, { host: "0.0.0.0", port: 9100 });
    assert.throws(() => loadConfig([], { SIGIL_METRICS_ADDR: "4422" }), (e: Error) => e instanceof ConfigError && /^SIGIL_METRICS_ADDR \(--metrics-addr\) must be host:port/.test(e.message));

    const standard = loadConfig([], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SERVICE_NAME: "auth", OTEL_EXPORTER_OTLP_HEADERS: "x-token=a%20b, other=1" });
    assert.deepEqual(standard.tracing, {
      endpoint: "http://collector:4318",
      serviceName: "auth",
      headers: { "x-token": "a b", other: "1" },
      protocol: "http/json",
      sampling: { sampler: "parentbased_always_on", ratio: 1 },
    });
    // The standard sampler and protocol variables, as the OpenTelemetry SDKs read them.
    const c = "http://c:4318";
    const sampled = loadConfig([], { SIGIL_OTEL_ENDPOINT: c, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }).tracing;
    assert.deepEqual(sampled?.sampling, { sampler: "parentbased_traceidratio", ratio: 0.25 });
    assert.deepEqual(loadConfig([], { SIGIL_OTEL_ENDPOINT: c, OTEL_TRACES_SAMPLER: "traceidratio" }).tracing?.sampling, { sampler: "traceidratio", ratio: 1 }, "the ratio defaults to 1");
    assert.equal(loadConfig([], { SIGIL_OTEL_ENDPOINT: c, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" }).tracing?.protocol, "http/protobuf");
    assert.equal(
      loadConfig([], { SIGIL_OTEL_ENDPOINT: c, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf" }).tracing?.protocol,
      "http/protobuf",
      "the traces variable wins over the general one",
    );
    for (const [env, message] of [
      [{ OTEL_TRACES_SAMPLER: "sometimes" }, /^OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on/],
      [{ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" }, /^OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/],
      [{ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "" }, /^OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/],
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, /^OTEL_EXPORTER_OTLP_PROTOCOL must be one of http\/json, http\/protobuf \(OTLP over HTTP\)/],
    ] as const) {
      assert.throws(() => loadConfig([], { SIGIL_OTEL_ENDPOINT: c, ...env }), (e: Error) => e instanceof ConfigError && message.test(e.message), JSON.stringify(env));
    }
    const own = loadConfig(["--otel-endpoint", "https://otel.internal/base"], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318" });
    assert.equal(own.tracing?.endpoint, "https://otel.internal/base", "SIGIL_OTEL_ENDPOINT wins over the standard variable");
    assert.equal(own.tracing?.serviceName, "sigil");
    // A collector URL or header may hold credentials: the errors never repeat the value.
    for (const [env, message] of [
      [{ SIGIL_OTEL_ENDPOINT: "ftp://secret-host" }, /^SIGIL_OTEL_ENDPOINT \(--otel-endpoint\) is not valid: must be an http:\/\/ or https:\/\/ URL/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url secret-host" }, /^OTEL_EXPORTER_OTLP_ENDPOINT must be an http/],
      [{ SIGIL_OTEL_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_HEADERS: "secret-host" }, /^OTEL_EXPORTER_OTLP_HEADERS must be comma-separated key=value pairs/],
    ] as const) {
      assert.throws(() => loadConfig([], env), (e: Error) => e instanceof ConfigError && message.test(e.message) && !e.message.includes("secret-host"), JSON.stringify(env));
    }

    assert.equal(loadConfig(["--access-log", "errors"], {}).accessLog, "errors");
    assert.throws(() => loadConfig([], { SIGIL_ACCESS_LOG: "some" }), (e: Error) => e instanceof ConfigError && /^SIGIL_ACCESS_LOG \(--access-log\) must be one of default, all, errors, none/.test(e.message));
  });
});
