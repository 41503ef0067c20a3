// The open loop of a load worker: calls are scheduled at a fixed rate whatever the server does, and
// each call's latency runs from its scheduled send time, not from when a stream was free to send it.
// A closed loop slows down with the server and so hides the queueing a real client population
// sees (coordinated omission); this one charges every delay to the call that suffered it.
import { performance } from "node:perf_hooks";
import { encodeHistogram, newLatencyHistogram } from "../histogram.js";
import { countsByStatusName } from "../grpc-status.js";
import type { Connection } from "./connection.js";
import { createRequestSource } from "./request-source.js";
import type { LoadSpec, WorkerResult } from "./spec.js";

/** How long calls still in flight (or waiting for a stream) at the end may take before they are abandoned. */
const DRAIN_GRACE_MS = 5_000;
/** Below this wait the scheduler spins on setImmediate: a timer can be a millisecond late, which would count as latency. */
const SPIN_BELOW_MS = 2;

/** FIFO of scheduled send times waiting for a free stream. */
class Backlog {
  #times: number[] = [];
  #head = 0;

  get length(): number {
    return this.#times.length - this.#head;
  }

  push(time: number): void {
    this.#times.push(time);
  }

  shift(): number | undefined {
    if (this.#head === this.#times.length) return undefined;
    const time = this.#times[this.#head++]!;
    // Compact now and then so the array does not grow with the run.
    if (this.#head > 4096 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    return time;
  }
}

export function runOpenLoop(spec: LoadSpec, connections: Connection[]): Promise<WorkerResult> {
  const rate = spec.openLoop!.ratePerSecond;
  if (!(rate > 0)) throw new Error(`open loop needs a positive rate, got ${rate}`);
  const intervalMs = 1000 / rate;
  // At most one second of calls waits for a stream; beyond that the server is not keeping up at all.
  const maxBacklog = Math.max(1000, Math.ceil(rate));
  const nextBody = createRequestSource(spec.requests, spec.protocol);
  const latency = newLatencyHistogram();
  const sendLag = newLatencyHistogram();
  const statusCodes = new Array<number>(17).fill(0);
  const free: Connection[] = [];
  for (const connection of connections) for (let i = 0; i < spec.streamsPerConnection; i++) free.push(connection);
  const backlog = new Backlog();

  const start = performance.now();
  const windowStart = start + spec.warmupMs;
  const windowEnd = windowStart + spec.durationMs;
  const inWindow = (time: number): boolean => time >= windowStart && time < windowEnd;
  let next = 0;
  let started = 0;
  let inFlight = 0;
  let scheduled = 0;
  let completed = 0;
  let dropped = 0;
  let hitRequestCap = false;
  let stopped = false;

  return new Promise((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (drainTimer === undefined) return;
      clearTimeout(drainTimer);
      drainTimer = undefined;
      const statusCounts = countsByStatusName(statusCodes);
      resolve({
        completed,
        windowMs: spec.durationMs,
        statusCounts,
        histogram: encodeHistogram(latency),
        abandoned: inFlight + backlog.length,
        hitRequestCap,
        openLoop: { scheduled, dropped, sendLagHistogram: encodeHistogram(sendLag) },
      });
    };
    const settled = (): boolean => inFlight === 0 && backlog.length === 0;

    const send = (connection: Connection, scheduledAt: number): void => {
      started++;
      inFlight++;
      const counted = inWindow(scheduledAt);
      if (counted) sendLag.recordValue(Math.max(1, Math.round((performance.now() - scheduledAt) * 1000)));
      connection.send(nextBody(), (status) => {
        inFlight--;
        // Everything about a call is counted by when it was scheduled: the window's calls are the ones judged.
        if (counted) {
          latency.recordValue(Math.max(1, Math.round((performance.now() - scheduledAt) * 1000)));
          statusCodes[status] = (statusCodes[status] ?? 0) + 1;
          completed++;
        }
        const waiting = backlog.shift();
        if (waiting !== undefined) send(connection, waiting);
        else free.push(connection);
        if (stopped && settled()) finish();
      });
    };

    const stop = (): void => {
      stopped = true;
      drainTimer = setTimeout(finish, DRAIN_GRACE_MS);
      if (settled()) finish();
    };

    const tick = (): void => {
      const now = performance.now();
      for (let at = start + next * intervalMs; at <= now && at < windowEnd; at = start + next * intervalMs) {
        next++;
        if (started + backlog.length >= spec.maxRequests) {
          hitRequestCap = true;
          return stop();
        }
        if (inWindow(at)) scheduled++;
        const connection = free.pop();
        if (connection) send(connection, at);
        else if (backlog.length < maxBacklog) backlog.push(at);
        else if (inWindow(at)) dropped++;
      }
      if (now >= windowEnd) return stop();
      const wait = start + next * intervalMs - performance.now();
      if (wait >= SPIN_BELOW_MS) setTimeout(tick, wait - 1);
      else setImmediate(tick);
    };
    tick();
  });
}
