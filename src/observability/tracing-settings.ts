// What tracing is configured with, apart from the tracer itself, so that reading the config does
// not load the OpenTelemetry SDK (with tracing off, nothing of it is loaded or run).

/** OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL values Sigil exports with (OTLP/HTTP; protobuf is the standard default). */
export const OTLP_PROTOCOLS = ["http/protobuf", "http/json"] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

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
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL, default http/protobuf. */
  readonly protocol: OtlpProtocol;
  /** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, default parentbased_always_on (every call, unless the caller's trace is not sampled). */
  readonly sampling: TraceSampling;
}

