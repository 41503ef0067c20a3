// What a Talos-profile run measures, as k6 reports it: every request's latency (overall and for the
// requests k6 tags `verify`), requests per second (for the peak), failed requests (an unexpected
// error status), checks, and the profile's counters (key_creations, verifications, …).
import { Code, ConnectError } from "@connectrpc/connect";
import type { Histogram } from "hdr-histogram-js";
import { newLatencyHistogram, summarizeLatency, type LatencySummaryMs } from "../histogram.js";

export type TalosCounter = "key_creations" | "key_rotations" | "key_revocations" | "key_imports" | "key_self_revocations" | "key_updates" | "verifications" | "token_derivations";

export interface TalosSummary {
  durationMs: number;
  totalRequests: number;
  failedRequests: number;
  errorRatePercent: number;
  /** The most requests completed within one second of the run. */
  peakThroughput: number;
  overall: LatencySummaryMs & { p95: number };
  verify: LatencySummaryMs & { p95: number };
  checks: { passed: number; failed: number; failedNames: string[] };
  counters: Record<TalosCounter, number>;
  perSecond: Record<TalosCounter, number>;
  /** Requests and latency per operation, slowest p99 first. */
  operations: Array<{ operation: string; requests: number; p50: number; p99: number }>;
}

export class TalosRecorder {
  readonly #start = performance.now();
  readonly #all = newLatencyHistogram();
  readonly #verify = newLatencyHistogram();
  readonly #completedPerSecond: number[] = [];
  readonly #counters: Record<TalosCounter, number> = {
    key_creations: 0,
    key_rotations: 0,
    key_revocations: 0,
    key_imports: 0,
    key_self_revocations: 0,
    key_updates: 0,
    verifications: 0,
    token_derivations: 0,
  };
  readonly #failedChecks = new Map<string, number>();
  /** Per operation (RPC or route), to show where the time goes. */
  readonly #byOperation = new Map<string, Histogram>();
  #requests = 0;
  #failed = 0;
  #checksPassed = 0;

  /** One request: timed, counted, failed unless it succeeds. Resolves with the answer, or undefined when it failed. */
  async request<T>(tag: "verify" | "other", operation: string, send: () => Promise<T>): Promise<T | undefined> {
    const started = performance.now();
    let answer: T | undefined;
    let failed = false;
    try {
      answer = await send();
    } catch {
      failed = true;
    }
    this.#finish(tag, operation, started, failed);
    return answer;
  }

  /** A request that must be refused with `expected` (k6's expectedStatuses): true when it was, else it failed. */
  async refused(operation: string, send: () => Promise<unknown>, expected: Code): Promise<boolean> {
    const started = performance.now();
    let refused = false;
    try {
      await send();
    } catch (err) {
      refused = ConnectError.from(err).code === expected;
    }
    this.#finish("other", operation, started, !refused);
    return refused;
  }

  #finish(tag: "verify" | "other", operation: string, started: number, failed: boolean): void {
    const ended = performance.now();
    this.#record(tag, operation, ended - started, ended);
    if (failed) this.#failed++;
  }

  /** A plain HTTP GET (health, JWKS), failed unless 200. */
  async get(url: string): Promise<Response | undefined> {
    const started = performance.now();
    let response: Response | undefined;
    try {
      response = await fetch(url);
      await response.arrayBuffer();
    } catch {
      response = undefined;
    }
    const ended = performance.now();
    this.#record("other", `GET ${new URL(url).pathname}`, ended - started, ended);
    if (response?.status !== 200) {
      this.#failed++;
      return undefined;
    }
    return response;
  }

  check(name: string, ok: boolean): boolean {
    if (ok) this.#checksPassed++;
    else this.#failedChecks.set(name, (this.#failedChecks.get(name) ?? 0) + 1);
    return ok;
  }

  count(counter: TalosCounter, n = 1): void {
    this.#counters[counter] += n;
  }

  #record(tag: "verify" | "other", operation: string, ms: number, endedAt: number): void {
    const us = Math.max(1, Math.round(ms * 1000));
    this.#all.recordValue(us);
    let perOperation = this.#byOperation.get(operation);
    if (!perOperation) this.#byOperation.set(operation, (perOperation = newLatencyHistogram()));
    perOperation.recordValue(us);
    if (tag === "verify") this.#verify.recordValue(us);
    this.#requests++;
    const second = Math.floor((endedAt - this.#start) / 1000);
    this.#completedPerSecond[second] = (this.#completedPerSecond[second] ?? 0) + 1;
  }

  summary(): TalosSummary {
    const durationMs = performance.now() - this.#start;
    const withP95 = (h: Histogram) => ({ ...summarizeLatency(h), p95: Math.round(h.getValueAtPercentile(95)) / 1000 });
    const perSecond = Object.fromEntries(Object.entries(this.#counters).map(([k, v]) => [k, Math.round((v / durationMs) * 1000)])) as Record<TalosCounter, number>;
    const failedChecks = [...this.#failedChecks.values()].reduce((a, b) => a + b, 0);
    return {
      durationMs: Math.round(durationMs),
      totalRequests: this.#requests,
      failedRequests: this.#failed,
      errorRatePercent: this.#requests === 0 ? 0 : Math.round((this.#failed / this.#requests) * 10_000) / 100,
      peakThroughput: Math.max(0, ...this.#completedPerSecond.map((n) => n ?? 0)),
      overall: withP95(this.#all),
      verify: withP95(this.#verify),
      checks: { passed: this.#checksPassed, failed: failedChecks, failedNames: [...this.#failedChecks.keys()].slice(0, 20) },
      counters: { ...this.#counters },
      perSecond,
      operations: [...this.#byOperation]
        .map(([operation, h]) => ({ operation, requests: h.totalCount, p50: summarizeLatency(h).p50, p99: summarizeLatency(h).p99 }))
        .sort((a, b) => b.p99 - a.p99),
    };
  }

  destroy(): void {
    this.#all.destroy();
    this.#verify.destroy();
    for (const h of this.#byOperation.values()) h.destroy();
  }
}
