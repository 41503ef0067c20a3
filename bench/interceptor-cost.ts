// `node dist/bench/interceptor-cost.js [--quick]`: what @sigil/client's grpc-js interceptor adds to a
// call on a cache hit. The same bare grpc-js service (reference/guarded-grpc.ts) runs without and
// with the interceptor, pinned to core 0, with a real Sigil (core 1) behind the interceptor; a grpc-js
// client on core 1 drives it, saturated (server CPU per call) and one call at a time (latency). The
// goal of issue 12: at most 30 µs per call.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { createSigilClient } from "../clients/typescript/src/index.js";
import { GUARDED_METHOD } from "./reference/guarded-method.js";
import { PinnedProcess } from "./servers/pinned-process.js";
import { readCpuSeconds } from "./servers/proc-stats.js";
import { startSigil, stopSigil } from "./servers/sigil-server.js";

const GOAL_US = 30;
const quick = process.argv.includes("--quick");
const SECONDS = quick ? 3 : 10;
const IN_FLIGHT = 32;
const SERVER = fileURLToPath(new URL("./reference/guarded-grpc.js", import.meta.url));

interface Figures {
  callsPerSecond: number;
  serverCpuUsPerCall: number;
  latencyUs: number;
}

function call(client: grpc.Client, metadata: grpc.Metadata): Promise<grpc.status> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(GUARDED_METHOD, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), metadata, (err) => resolve(err ? err.code : grpc.status.OK)),
  );
}

/** Calls for `seconds` with `inFlight` outstanding; every call must succeed. */
async function drive(client: grpc.Client, metadata: grpc.Metadata, inFlight: number, seconds: number): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let calls = 0;
  const loop = async () => {
    while (Date.now() < end) {
      const code = await call(client, metadata);
      if (code !== grpc.status.OK) throw new Error(`call failed with status ${code}`);
      calls++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return calls;
}

async function measure(name: string, args: string[], env: Record<string, string>, metadata: grpc.Metadata, logFile: string): Promise<Figures> {
  const server = new PinnedProcess({ name, cpus: "0", command: process.execPath, args: [SERVER, "--port", "0", ...args], env: { ...process.env, ...env }, logFile });
  try {
    const [, port] = await server.waitForLine(/^listening (\d+)$/, 30_000);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    if (args.length > 0 && (await call(client, new grpc.Metadata())) !== grpc.status.UNAUTHENTICATED) throw new Error("the interceptor let a call without credential through");
    await drive(client, metadata, IN_FLIGHT, quick ? 1 : 3); // warm-up (and the one cache miss)
    const cpuBefore = readCpuSeconds(server.pid)!;
    const started = process.hrtime.bigint();
    const calls = await drive(client, metadata, IN_FLIGHT, SECONDS);
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = readCpuSeconds(server.pid)! - cpuBefore;
    const sequentialStart = process.hrtime.bigint();
    const sequential = await drive(client, metadata, 1, SECONDS / 2);
    const latencyUs = Number(process.hrtime.bigint() - sequentialStart) / 1e3 / sequential;
    client.close();
    return { callsPerSecond: calls / elapsed, serverCpuUsPerCall: (cpu * 1e6) / calls, latencyUs };
  } finally {
    await server.stop();
  }
}

const dir = mkdtempSync(path.join(tmpdir(), "sigil-interceptor-bench-"));
const sigil = await startSigil({ dataDir: path.join(dir, "data"), cpus: "1", logFile: path.join(dir, "sigil.log") });
try {
  const admin = createSigilClient({ baseUrl: `http://127.0.0.1:${sigil.grpcPort}`, adminKey: sigil.adminKey });
  const verifier = await admin.issueKey({ name: "bench verifier", owner: "svc:bench", scopes: ["sigil:verify"] });
  const caller = await admin.issueKey({ name: "bench caller", owner: "svc:caller", scopes: ["orders:read"] });
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${caller.secret}`);
  const bare = await measure("bare grpc-js", [], {}, metadata, path.join(dir, "bare.log"));
  const guarded = await measure("grpc-js + interceptor", ["--sigil", `http://127.0.0.1:${sigil.grpcPort}`], { SIGIL_VERIFIER_KEY: verifier.secret }, metadata, path.join(dir, "guarded.log"));
  const row = (name: string, f: Figures) =>
    `${name.padEnd(24)} ${f.callsPerSecond.toFixed(0).padStart(8)} calls/s  ${f.serverCpuUsPerCall.toFixed(1).padStart(6)} µs server CPU/call  ${f.latencyUs.toFixed(0).padStart(5)} µs 1×1`;
  const added = guarded.serverCpuUsPerCall - bare.serverCpuUsPerCall;
  console.log(`${row("bare grpc-js", bare)}\n${row("with sigilGrpcInterceptor", guarded)}`);
  const signed = (n: number, digits: number) => `${n >= 0 ? "+" : "−"}${Math.abs(n).toFixed(digits)}`;
  console.log(`${added <= GOAL_US ? "pass" : "miss"}  interceptor, cache hit: ${signed(added, 1)} µs server CPU per call, ${signed(guarded.latencyUs - bare.latencyUs, 0)} µs 1×1 latency (goal ≤ ${GOAL_US} µs of CPU)`);
} finally {
  await stopSigil(sigil);
  rmSync(dir, { recursive: true, force: true });
}
// The admin client's HTTP/2 session would keep the process alive.
process.exit(0);
