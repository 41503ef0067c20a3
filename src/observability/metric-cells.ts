import type { Aggregator, Metric, Registry } from "prom-client";

/**
 * Counters and histograms whose label children are plain objects the hot path increments
 * directly. prom-client's own `counter.labels(...)` hashes and validates the label values on every
 * `inc()` (about 500 ns a counter and 650 ns a histogram here, some 2 µs per VerifyKey: over 3% of
 * a cache hit); a cell costs a field increment. The families register with a prom-client Registry
 * as metrics of its own format (the `get()` of `getMetricsAsJSON`, which is also what the cluster
 * aggregator reads), so exposition, `AggregatorRegistry` and default metrics stay prom-client's.
 * Label values are fixed when a cell is made: callers make cells only from bounded sets.
 */

type Labels = Readonly<Record<string, string>>;

/** One sample as prom-client's registry and cluster aggregator read it. */
interface Sample {
  readonly metricName?: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/** A metric as `Registry.getMetricsAsJSON()` returns it. */
export interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly aggregator: Aggregator;
  readonly values: Sample[];
}

export class CounterCell {
  value = 0;
  constructor(readonly labels: Labels) {}

  inc(by = 1): void {
    this.value += by;
  }
}

export class HistogramCell {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface FamilyOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** How the cluster aggregator combines workers' values (default: sum). */
  readonly aggregator?: Aggregator;
}

abstract class Family<C extends { readonly labels: Labels }> {
  readonly name: string;
  readonly help: string;
  readonly aggregator: Aggregator;
  readonly #labelNames: readonly string[];
  readonly #cells = new Map<string, C>();

  constructor(registry: Registry, options: FamilyOptions) {
    this.name = options.name;
    this.help = options.help;
    this.aggregator = options.aggregator ?? "sum";
    this.#labelNames = options.labelNames;
    // The registry reads `name` and calls `get()` (and `reset()` from resetMetrics).
    registry.registerMetric(this as unknown as Metric);
  }

  /** The cell of these label values (one per distinct set, made on first use): keep it, do not look it up per call. */
  cell(...values: string[]): C {
    if (values.length !== this.#labelNames.length) throw new Error(`${this.name} takes ${this.#labelNames.length} label values`);
    const key = values.join("\u0000");
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = this.make(Object.fromEntries(this.#labelNames.map((n, i) => [n, values[i]!])));
      this.#cells.set(key, cell);
    }
    return cell;
  }

  protected cells(): IterableIterator<C> {
    return this.#cells.values();
  }

  protected abstract make(labels: Labels): C;

  reset(): void {
    this.#cells.clear();
  }
}

export class CounterFamily extends Family<CounterCell> {
  readonly type = "counter";

  protected make(labels: Labels): CounterCell {
    return new CounterCell(labels);
  }

  async get(): Promise<MetricSnapshot> {
    const values = [...this.cells()].map((c) => ({ labels: { ...c.labels }, value: c.value }));
    return { name: this.name, help: this.help, type: "counter", aggregator: this.aggregator, values };
  }
}

export class HistogramFamily extends Family<HistogramCell> {
  readonly type = "histogram";
  readonly #bounds: readonly number[];

  constructor(registry: Registry, options: FamilyOptions & { readonly buckets: readonly number[] }) {
    super(registry, options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  protected make(labels: Labels): HistogramCell {
    return new HistogramCell(labels, this.#bounds);
  }

  /** prom-client's histogram format: cumulative `_bucket{le}` values, then `_sum` and `_count`. */
  async get(): Promise<MetricSnapshot> {
    const values: Sample[] = [];
    for (const c of this.cells()) {
      let cumulative = 0;
      c.bounds.forEach((bound, i) => {
        cumulative += c.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: bound }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: "+Inf" }, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...c.labels }, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...c.labels }, value: c.count });
    }
    return { name: this.name, help: this.help, type: "histogram", aggregator: this.aggregator, values };
  }
}
