// Micro-benchmark of what observing one call costs in-process (issue #11): the listeners' CallObserver
// begin/run/end for a VerifyKey around an asynchronous handler (a few awaits, as a cache hit's
// handler makes: with tracing on, each runs under the call's context), plus the verification and
// key-cache metric increments of a cache hit, with metrics off, metrics on, and metrics and tracing
// on (exporting OTLP/JSON, the default, and OTLP/protobuf). With tracing on, spans are exported for real, to a counting OTLP/HTTP receiver in a child
// process (so serializing and sending them is in the figure, receiving them is not); each call also
// does --work-hashes SHA-256 rounds (default 20) standing in for the rest of a cache hit, so that
// spans come at a server's rate. Figures are CPU time per call (work included), so that time the
// process spent preempted on a shared machine does not count; compare differences. Setups
// alternate within each round, so drift of a shared machine falls on all of them.
// `node dist/bench/observability-cost.js [--calls N] [--rounds N] [--work-hashes N]`.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
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
/** Fixed work per call standing in for the rest of a cache hit (SHA-256 rounds), so spans come at a server's rate, not faster than any exporter. */
const WORK_HASHES = arg("--work-hashes", 20);
const WORK_INPUT = Buffer.alloc(64, 7);
const ROUNDS = arg("--rounds", 5);
const log = pino({ level: "info" }, { write() {} });
const header = (): string | undefined => undefined;

async function nsPerCall(calls: CallObserver, perCall: () => void, n: number): Promise<number> {
  const method = calls.method(KeyService.method.verifyKey);
  const handler = async () => {
    await Promise.resolve();
    for (let h = 0; h < WORK_HASHES; h++) createHash("sha256").update(WORK_INPUT).digest();
    perCall();
    await Promise.resolve();
  };
  // CPU time, not wall time: on a shared machine, time the process spent preempted is not its cost.
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const scope = method.begin("grpc", header);
    await scope.run(handler);
    scope.end(0, "0123456789abcdef");
    // Back to the event loop, as a server is between calls: the exporter's I/O runs here.
    if (i % 8 === 7) await new Promise(setImmediate);
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / n;
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
const tracingWith = (protocol: "http/protobuf" | "http/json") =>
  new SigilTracing({ endpoint: receiver.endpoint, serviceName: "bench", headers: {}, protocol, sampling: { sampler: "parentbased_always_on", ratio: 1 } }, "bench");
const tracing = tracingWith("http/json");
const tracingProtobuf = tracingWith("http/protobuf");
const setups: Array<[string, CallObserver, () => void]> = [
  ["metrics off, tracing off", new ObservedCalls({ log, accessLog: "default" }), () => {}],
  ["metrics on, tracing off", new ObservedCalls({ log, accessLog: "default", metrics: metrics.rpc }), countHit],
  ["metrics on, tracing on", new ObservedCalls({ log, accessLog: "default", metrics: metrics.rpc, tracing }), countHit],
  ["metrics on, tracing on (OTLP/protobuf)", new ObservedCalls({ log, accessLog: "default", metrics: metrics.rpc, tracing: tracingProtobuf }), countHit],
];
for (const [, calls, perCall] of setups) await nsPerCall(calls, perCall, CALLS / 5);
const results = setups.map((): number[] => []);
for (let round = 1; round <= ROUNDS; round++) {
  const line: string[] = [];
  for (const [i, [name, calls, perCall]] of setups.entries()) {
    const ns = await nsPerCall(calls, perCall, CALLS);
    results[i]!.push(ns);
    line.push(`${name} ${(ns / 1000).toFixed(2)} µs`);
  }
  console.log(`round ${round}: ${line.join("; ")}`);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const [off, on, traced, tracedProtobuf] = results.map(median) as [number, number, number, number];
console.log(
  `medians: metrics cost ${Math.round(on - off)} ns per call, tracing (on top) ${Math.round(traced - on)} ns per call ` +
    `(OTLP/JSON, the default; with OTLP/protobuf ${Math.round(tracedProtobuf - on)} ns)`,
);
await Promise.all([tracing.shutdown(), tracingProtobuf.shutdown()]);
console.log(`receiver: ${await receiver.stop()} (of ${2 * (ROUNDS + 0.2) * CALLS} traced calls)`);
