// Micro-benchmark of what observing one call costs in-process (issue #11): the listeners' CallObserver
// begin/run/end for a VerifyKey, plus the verification and key-cache metric increments of a cache hit,
// with metrics off, metrics on, and metrics and tracing on (spans made and queued; their export is
// not measured: the endpoint refuses). `node dist/bench/observability-cost.js`.
import pino from "pino";
import { Registry } from "prom-client";
import { KeyService } from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { CallObserver } from "../src/observability/call-observer.js";
import { ObservedCalls } from "../src/observability/observed-calls.js";
import { SigilMetrics } from "../src/observability/sigil-metrics.js";
import { SigilTracing } from "../src/observability/tracing.js";
import { CredentialKind, VerifyReason } from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { Verification } from "../src/service/credential-verifier.js";

const CALLS = 300_000;
const log = pino({ level: "info" }, { write() {} });
const header = (): string | undefined => undefined;

function nsPerCall(calls: CallObserver, perCall: () => void): number {
  const method = calls.method(KeyService.method.verifyKey);
  const once = () => {
    const scope = method.begin("grpc", header);
    scope.run(perCall);
    scope.end(0, "0123456789abcdef");
  };
  for (let i = 0; i < CALLS / 5; i++) once();
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) once();
  return Number(process.hrtime.bigint() - start) / CALLS;
}

const metrics = new SigilMetrics(new Registry(), { version: "bench" });
const hit = { kind: CredentialKind.API_KEY, reason: VerifyReason.VALID } as Verification;
const countHit = () => {
  metrics.verification.verified(hit);
  metrics.keyCache.hit();
};
const tracing = new SigilTracing({ endpoint: "http://127.0.0.1:9", serviceName: "bench", headers: {} }, "bench");
const setups: Array<[string, CallObserver, () => void]> = [
  ["metrics off, tracing off", new ObservedCalls({ log, accessLog: "default" }), () => {}],
  ["metrics on, tracing off", new ObservedCalls({ log, accessLog: "default", metrics: metrics.rpc }), countHit],
  ["metrics on, tracing on", new ObservedCalls({ log, accessLog: "default", metrics: metrics.rpc, tracing }), countHit],
];
for (let round = 1; round <= 3; round++) {
  console.log(`round ${round}: ` + setups.map(([name, calls, perCall]) => `${name} ${Math.round(nsPerCall(calls, perCall))} ns`).join("; "));
}
await tracing.shutdown();
