// Micro-benchmark of what observing one call costs in-process (issue #11): the listeners' CallObserver
// begin/run/end for a VerifyKey around an asynchronous handler (a few awaits, as a cache hit's
// handler makes: with tracing on, each runs under the call's context), plus the verification and
// key-cache metric increments of a cache hit, with metrics off, metrics on, and metrics and tracing
// on. With tracing on, spans are exported for real, to a counting OTLP/HTTP receiver in a child
// process (so serializing and sending them is in the figure, receiving them is not); each call also
// spins for --work-us (default 50) to stand in for the rest of a cache hit, so that spans come at a
// server's rate (the figures printed are without it). Setups
// alternate within each round, so drift of a shared machine falls on all of them.
// `node dist/bench/observability-cost.js [--calls N] [--rounds N] [--work-us N] [--json]` (--json: OTLP/JSON, not protobuf).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import pino from "pino";
import { Registry } from "prom-client";
import { CredentialKind, KeyService, VerifyReason } from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { CallObserver } from "../src/observability/call-observer.js";
import { ObservedCalls } from "../src/observability/observed-calls.js";
import { SigilMetrics } from "../src/observability/sigil-metrics.js";
import { SigilTracing } from "../src/observability/tracing.js";
import type { Verification } from "../src/service/credential-verifier.js";

const arg = (flag: string, fallback: number): number => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const CALLS = arg("--calls", 20_000);
/** Busy work per call standing in for the rest of a cache hit (~55 µs of server CPU), so spans come at a server's rate, not faster than any exporter. */
const WORK_NS = arg("--work-us", 50) * 1000;
const ROUNDS = arg("--rounds", 5);
const PROTOCOL = process.argv.includes("--json") ? "http/json" : "http/protobuf";
const log = pino({ level: "info" }, { write() {} });
const header = (): string | undefined => undefined;

async function nsPerCall(calls: CallObserver, perCall: () => void, n: number): Promise<number> {
  const method = calls.method(KeyService.method.verifyKey);
  const handler = async () => {
    await Promise.resolve();
    const until = process.hrtime.bigint() + BigInt(WORK_NS);
    while (process.hrtime.bigint() < until);
    perCall();
    await Promise.resolve();
  };
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const scope = method.begin("grpc", header);
    await scope.run(handler);
    scope.end(0, "0123456789abcdef");
    // Back to the event loop, as a server is between calls: the exporter's I/O runs here.
    if (i % 8 === 7) await new Promise(setImmediate);
  }
  return Number(process.hrtime.bigint() - start) / n - WORK_NS;
}

/** A counting receiver in a child process: what the collector's side costs is not this process's. */
async function startReceiver(): Promise<{ endpoint: string; stop: () => Promise<string> }> {
  const receiverModule = new URL("../test/support/otlp-receiver.js", import.meta.url).href;
  const source = `const { OtlpReceiver } = await import(${JSON.stringify(receiverModule)});
const r = new OtlpReceiver({ keep: false }); console.log(await r.start());
process.stdin.on("end", async () => { console.log(r.requests + " exports, " + r.spanCount + " spans"); await r.close(); });
process.stdin.resume();`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", source], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const endpoint = (await lines.next()).value as string;
  return {
    endpoint,
    stop: async () => {
      child.stdin.end();
      const summary = (await lines.next()).value as string;
      await once(child, "exit");
      return summary;
    },
  };
}

const metrics = new SigilMetrics(new Registry(), { version: "bench" });
const hit = { kind: CredentialKind.API_KEY, reason: VerifyReason.VALID } as Verification;
const countHit = () => {
  metrics.verification.verified(hit);
  metrics.keyCache.hit();
};
const receiver = await startReceiver();
const tracing = new SigilTracing({ endpoint: receiver.endpoint, serviceName: "bench", headers: {}, protocol: PROTOCOL, sampling: { sampler: "parentbased_always_on", ratio: 1 } }, "bench");
const setups: Array<[string, CallObserver, () => void]> = [
  ["metrics off, tracing off", new ObservedCalls({ log, accessLog: "default" }), () => {}],
  ["metrics on, tracing off", new ObservedCalls({ log, accessLog: "default", metrics: metrics.rpc }), countHit],
  ["metrics on, tracing on", new ObservedCalls({ log, accessLog: "default", metrics: metrics.rpc, tracing }), countHit],
];
for (const [, calls, perCall] of setups) await nsPerCall(calls, perCall, CALLS / 5);
const results = setups.map((): number[] => []);
for (let round = 1; round <= ROUNDS; round++) {
  const line: string[] = [];
  for (const [i, [name, calls, perCall]] of setups.entries()) {
    const ns = await nsPerCall(calls, perCall, CALLS);
    results[i]!.push(ns);
    line.push(`${name} ${Math.round(ns)} ns`);
  }
  console.log(`round ${round}: ${line.join("; ")}`);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const [off, on, traced] = results.map(median) as [number, number, number];
console.log(`medians: metrics cost ${Math.round(on - off)} ns per call, tracing (on top) ${Math.round(traced - on)} ns per call`);
await tracing.shutdown();
console.log(`receiver: ${await receiver.stop()} (of ${setups.length === 3 ? (ROUNDS + 0.2) * CALLS : "?"} traced calls)`);
