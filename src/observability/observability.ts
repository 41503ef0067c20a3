import type { Dialect } from "kysely";
import { Registry } from "prom-client";
import type { Logger } from "pino";
import type { Config } from "../config/config.js";
import type { DialectName } from "../store/database.js";
import type { CallObserver } from "./call-observer.js";
import { workerRegistry } from "./cluster-metrics.js";
import { MetricsListener } from "./metrics-listener.js";
import { ObservedCalls } from "./observed-calls.js";
import { ObservedDialect } from "./observed-dialect.js";
import { SigilMetrics } from "./sigil-metrics.js";
import { SigilTracing } from "./tracing.js";

/**
 * Where a process's metrics go: its own /metrics listener (one process), or, in a worker of
 * `serve --workers N`, to the supervisor's aggregator, which serves the one listener.
 */
export type MetricsExport = "listener" | "cluster-worker";

/**
 * Everything `build()` wires for metrics, tracing and the access log, from the config. With
 * SIGIL_METRICS_ADDR empty there is no registry and no metric object at all; with no OTLP
 * endpoint, no tracer: the services' observers are then undefined and cost nothing.
 */
export class Observability {
  readonly metrics: SigilMetrics | undefined;
  readonly tracing: SigilTracing | undefined;
  readonly calls: CallObserver;
  readonly #listener: MetricsListener | undefined;

  constructor(config: Config, options: { log: Logger; version: string; metricsExport: MetricsExport }) {
    if (config.metricsAddress !== undefined) {
      const registry = options.metricsExport === "cluster-worker" ? workerRegistry() : new Registry();
      this.metrics = new SigilMetrics(registry, { version: options.version, tenantLabel: config.metricsTenantLabel });
      if (options.metricsExport === "listener") this.#listener = new MetricsListener(registry, options.log);
    }
    this.tracing = config.tracing ? new SigilTracing(config.tracing, options.version) : undefined;
    this.calls = new ObservedCalls({ log: options.log, accessLog: config.accessLog, metrics: this.metrics?.rpc, tracing: this.tracing });
  }

  /** Observes every database call (latency, errors, spans); the dialect unchanged when both are off. */
  readonly wrapDialect = (dialect: Dialect, name: DialectName): Dialect =>
    this.metrics || this.tracing ? new ObservedDialect(dialect, name, { metrics: this.metrics?.database, tracing: this.tracing }) : dialect;

  /** Binds this process's /metrics listener, if it serves one; resolves with its port. */
  async listen(config: Config): Promise<number | undefined> {
    if (!this.#listener || !config.metricsAddress) return undefined;
    return this.#listener.listen(config.metricsAddress);
  }

  /** After the RPC listeners closed: the metrics listener stops and the last spans are sent. */
  async close(): Promise<void> {
    await Promise.all([this.#listener?.close(), this.tracing?.shutdown()]);
  }
}
