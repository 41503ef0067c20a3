import { AggregatorRegistry, type PrometheusContentType, type Registry } from "prom-client";
import type { MetricsSource } from "./metrics-listener.js";

/**
 * The registry of a worker of `serve --workers N`: it answers the supervisor's aggregator over
 * the cluster IPC channel (prom-client's protocol). Constructing an AggregatorRegistry is what
 * installs prom-client's listener for those requests, and `setRegistries` (prom-client's one
 * process-wide switch for it) makes the worker answer with this registry.
 */
export function workerRegistry(): Registry {
  const registry = new AggregatorRegistry<PrometheusContentType>();
  AggregatorRegistry.setRegistries([registry]);
  return registry;
}

/**
 * What the supervisor's metrics listener serves: every live worker's registry, combined by each
 * metric's aggregator (counters and histograms summed; gauges as they declare: min, max, first).
 * A worker that does not answer within prom-client's 5 s makes the scrape fail (HTTP 500), never a
 * partial sum that would look like a drop in every counter.
 */
export function clusterMetricsSource(): MetricsSource {
  const aggregator = new AggregatorRegistry<PrometheusContentType>();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}
