// The bench's open loop measures from each call's scheduled time: a server stall shows in the
// latency of every call scheduled during it, and a server slower than the rate builds a queue
// that the figures show (a closed loop would report neither).
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import { mergeEncodedHistograms, summarizeLatency } from "../../bench/histogram.js";
import type { Connection } from "../../bench/load/connection.js";
import { runOpenLoop } from "../../bench/load/open-loop.js";
import type { LoadSpec } from "../../bench/load/spec.js";

function spec(overrides: Partial<LoadSpec>): LoadSpec {
  return {
    protocol: "grpc",
    grpcClient: "wire",
    host: "127.0.0.1",
    port: 1,
    path: "/sigil.v1.KeyService/VerifyKey",
    headers: {},
    requests: { kind: "fixed", bodies: [new Uint8Array([1, 2, 3])] },
    connections: 1,
    streamsPerConnection: 1,
    warmupMs: 100,
    durationMs: 1000,
    maxRequests: 1_000_000,
    openLoop: { ratePerSecond: 1000 },
    ...overrides,
  };
}

/** A connection that answers OK after `delayMs(now)` milliseconds, and counts its calls in flight. */
function fakeConnection(delayMs: (sinceStartMs: number) => number, started = performance.now()): Connection & { maxInFlight: number } {
  let inFlight = 0;
  const connection = {
    maxInFlight: 0,
    ready: () => Promise.resolve(),
    send(_body: Buffer, done: (status: number) => void) {
      inFlight++;
      connection.maxInFlight = Math.max(connection.maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        done(0);
      }, delayMs(performance.now() - started));
    },
    close() {},
  };
  return connection;
}

const latencyOf = (encoded: string) => {
  const histogram = mergeEncodedHistograms([encoded]);
  try {
    return summarizeLatency(histogram);
  } finally {
    histogram.destroy();
  }
};

describe("open-loop load", () => {
  it("keeps the schedule through a server stall and charges the stall to every call scheduled in it", async () => {
    const started = performance.now();
    // Answers at once, except that calls sent between 500 and 600 ms are held until 600 ms.
    const connection = fakeConnection((t) => (t >= 500 && t < 600 ? 600 - t : 0), started);
    const result = await runOpenLoop(spec({ streamsPerConnection: 128 }), [connection]);
    assert.ok(result.openLoop, "an open-loop result");
    // 1000 calls per second over a 1 s window, whatever the server did.
    assert.ok(Math.abs(result.openLoop.scheduled - 1000) <= 20, `scheduled ${result.openLoop.scheduled}`);
    assert.equal(result.completed, result.openLoop.scheduled);
    assert.equal(result.openLoop.dropped, 0);
    assert.equal(result.statusCounts.OK, result.completed);
    assert.ok(connection.maxInFlight >= 50, `the stall held many calls at once (${connection.maxInFlight})`);
    const latency = latencyOf(result.histogram);
    // About a tenth of the calls waited up to 100 ms: p99 shows it, the median does not. (The
    // median's bound leaves room for timers firing late on a loaded machine: 30 ms was seen.)
    assert.ok(latency.p99 >= 50, `p99 ${latency.p99} ms`);
    assert.ok(latency.p50 < 45, `p50 ${latency.p50} ms`);
  });

  it("measures the queue when the server is slower than the rate", async () => {
    // One stream, 5 ms per call: 200 calls per second against a schedule of 1000.
    const connection = fakeConnection(() => 5);
    const result = await runOpenLoop(spec({ warmupMs: 0, durationMs: 500 }), [connection]);
    assert.equal(connection.maxInFlight, 1);
    const latency = latencyOf(result.histogram);
    // A closed loop would say 5 ms; calls scheduled late in the window waited for hundreds of others.
    assert.ok(latency.p99 > 200, `p99 ${latency.p99} ms`);
    const lag = latencyOf(result.openLoop!.sendLagHistogram);
    assert.ok(lag.p99 > 200, `send lag p99 ${lag.p99} ms`);
    // The backlog (about 2.5 s of work) drains within the grace period: every scheduled call answered.
    assert.equal(result.completed, result.openLoop!.scheduled);
    assert.equal(result.abandoned, 0);
  });
});
