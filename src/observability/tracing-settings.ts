// What tracing is configured with, apart from the tracer itself, so that reading the config does
// not load the OpenTelemetry SDK (with tracing off, nothing of it is loaded or run).

/** OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL values Sigil exports with (OTLP over HTTP). */
export const OTLP_PROTOCOLS = ["http/json", "http/protobuf"] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
/**
 * JSON, although the OpenTelemetry SDKs default to protobuf: the official protobuf serializer took
 * more of the server's CPU per span than JSON.stringify in bench/observability-cost.ts (about 1 µs
 * more on average), and CPU on the hot path is what tracing costs here. Protobuf sends about a
 * third of the bytes: set OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf where bytes matter more.
 */
export const DEFAULT_OTLP_PROTOCOL: OtlpProtocol = "http/json";

/** OTEL_TRACES_SAMPLER values (the standard ones a tracer SDK knows), with OTEL_TRACES_SAMPLER_ARG for the ratio ones. */
export const TRACE_SAMPLERS = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"] as const;
export type TraceSamplerName = (typeof TRACE_SAMPLERS)[number];
export interface TraceSampling {
  readonly sampler: TraceSamplerName;
  /** The ratio of traceidratio samplers, 0..1. */
  readonly ratio: number;
}

/** Where spans go and how this service is named (config.ts reads them from the standard OTEL_* variables too). */
export interface TracingSettings {
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT semantics): spans are POSTed to `<endpoint>/v1/traces`. */
  readonly endpoint: string;
  /** OTEL_SERVICE_NAME, default "sigil". */
  readonly serviceName: string;
  /** OTEL_EXPORTER_OTLP_HEADERS, parsed (the collector's credentials, say). */
  readonly headers: Readonly<Record<string, string>>;
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL, default http/json (DEFAULT_OTLP_PROTOCOL). */
  readonly protocol: OtlpProtocol;
  /** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, default parentbased_always_on (every call, unless the caller's trace is not sampled). */
  readonly sampling: TraceSampling;
}

