import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { PooledIdGenerator } from "./span-ids.js";
import type { TraceSampling, TracingSettings } from "./tracing-settings.js";

export type { TracingSettings } from "./tracing-settings.js";

function samplerOf({ sampler, ratio }: TraceSampling): Sampler {
  switch (sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

/** Reads one request header (lower-case name). */
export type HeaderReader = (name: string) => string | undefined;

const HEADER_GETTER: TextMapGetter<HeaderReader> = {
  get: (carrier, key) => carrier(key),
  keys: () => [],
};

/** How long shutdown waits for the last spans to reach the collector. */
const FLUSH_TIMEOUT_MS = 5000;

/**
 * OpenTelemetry tracing, built only when an OTLP endpoint is configured. Everything is held here
 * and passed explicitly (the tracer, the context manager, the W3C propagator): nothing is
 * registered with the global OpenTelemetry API, so no other module's instrumentation is touched
 * and, with tracing off, nothing of it runs at all.
 */
export class SigilTracing {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #contexts = new AsyncLocalStorageContextManager();
  readonly #propagator = new W3CTraceContextPropagator();

  constructor(settings: TracingSettings, version: string) {
    const exporterOptions = { url: `${settings.endpoint.replace(/\/+$/, "")}/v1/traces`, headers: { ...settings.headers } };
    // JSON by default: see DEFAULT_OTLP_PROTOCOL.
    const exporter = settings.protocol === "http/protobuf" ? new ProtobufTraceExporter(exporterOptions) : new JsonTraceExporter(exporterOptions);
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: version }),
      sampler: samplerOf(settings.sampling),
      idGenerator: new PooledIdGenerator(),
      // Batched (OTEL_BSP_* tune it): a full queue drops spans rather than slowing calls.
      spanProcessors: [new BatchSpanProcessor(exporter)],
    });
    this.#tracer = this.#provider.getTracer("sigil", version);
    this.#contexts.enable();
  }

  /** A server span for a call, continuing the caller's trace (W3C `traceparent`/`tracestate`) when it sent one. */
  startServerSpan(name: string, attributes: Attributes, header: HeaderReader): { span: Span; context: Context } {
    const parent = this.#propagator.extract(ROOT_CONTEXT, header, HEADER_GETTER);
    const span = this.#tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Runs `fn` with `context` active: spans started below it (database calls) become its children. */
  with<T>(context: Context, fn: () => T): T {
    return this.#contexts.with(context, fn);
  }

  /**
   * A child span of the active call (or of `parent`), or undefined outside any call: background
   * work (feed polls, flushes) makes no spans of its own.
   */
  startChildSpan(name: string, attributes: Attributes, parent?: Span): Span | undefined {
    const active = this.#contexts.active();
    const base = parent ? trace.setSpan(active, parent) : active;
    if (trace.getSpan(base) === undefined) return undefined;
    return this.#tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, base);
  }

  /** Sends what is buffered and stops (graceful shutdown), waiting at most a few seconds for the collector. */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_TIMEOUT_MS)));
    try {
      await Promise.race([this.#provider.shutdown().catch(() => {}), timeout]);
    } finally {
      clearTimeout(timer);
      this.#contexts.disable();
    }
  }
}

export function failSpan(span: Span, errorType: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.setAttribute("error.type", errorType);
}
