// Evidence that the load generator is not the bottleneck: against the bare servers, compare its
// throughput with h2load's (nghttp2's C load generator, when installed) and with a grpc-js client,
// all pinned to the same load core with the same concurrency.
import { execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import type { BenchConfig } from "./config.js";
import { LOAD_CPUS } from "./config.js";
import type { Fixtures } from "./fixtures.js";
import { frameGrpcMessage } from "./load/grpc-wire-connection.js";
import { measure } from "./measure.js";
import { concurrencyLabel, concurrencyOf, type Scenario } from "./scenarios.js";
import type { ReferenceServer } from "./servers/reference-servers.js";
import { METHOD_PATHS } from "./sigil-rpc.js";

export interface GeneratorCheck {
  server: ReferenceServer["kind"];
  concurrency: string;
  tool: string;
  requestsPerSecond?: number;
  serverCpuPercent?: number;
  loadCpuPercent?: number;
  note?: string;
}

function h2loadAvailable(): boolean {
  try {
    execFileSync("h2load", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function runH2load(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("taskset", ["-c", LOAD_CPUS, "h2load", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`h2load exited with ${code}: ${output.slice(-300)}`));
    });
  });
}

/** h2load against a bare server with the throughput concurrency of its protocol. */
async function h2loadCheck(scenario: Scenario, server: ReferenceServer, body: Uint8Array, config: BenchConfig, dataFile: string): Promise<GeneratorCheck> {
  const concurrency = concurrencyOf(config, "throughput", scenario.protocol);
  const check: GeneratorCheck = { server: server.kind, concurrency: concurrencyLabel(concurrency), tool: "h2load" };
  const isGrpc = scenario.protocol === "grpc";
  writeFileSync(dataFile, isGrpc ? frameGrpcMessage(Buffer.from(body)) : body);
  const seconds = (ms: number): string => `${Math.max(1, Math.round(ms / 1000))}s`;
  const args = [
    "-t", "1",
    "-c", String(concurrency.connections),
    "-m", String(concurrency.streamsPerConnection),
    "-D", seconds(config.durationMs),
    "--warm-up-time", seconds(config.warmupMs),
    "-d", dataFile,
    "-H", `content-type: ${isGrpc ? "application/grpc" : "application/json"}`,
    ...(isGrpc ? ["-H", "te: trailers"] : ["--h1"]),
    `http://127.0.0.1:${server.port}${METHOD_PATHS[scenario.method]}`,
  ];
  try {
    const output = await runH2load(args, config.warmupMs + config.durationMs + 30_000);
    const rate = output.match(/finished in [\d.]+\w*, ([\d.]+) req\/s/);
    const statuses = output.match(/status codes: (.*)/);
    check.requestsPerSecond = rate ? Math.round(Number(rate[1])) : undefined;
    check.note = `HTTP statuses only (h2load cannot read grpc-status): ${statuses?.[1] ?? "?"}`;
  } catch (err) {
    check.note = err instanceof Error ? err.message : String(err);
  }
  return check;
}

export async function checkGenerator(
  scenario: Scenario,
  server: ReferenceServer,
  fixtures: Fixtures,
  config: BenchConfig,
  dataFile: string,
): Promise<GeneratorCheck[]> {
  const checks: GeneratorCheck[] = [];
  const requests = scenario.requests(fixtures);
  if (requests?.kind === "fixed" && h2loadAvailable()) {
    checks.push(await h2loadCheck(scenario, server, requests.bodies[0]!, config, dataFile));
  } else {
    checks.push({ server: server.kind, concurrency: "", tool: "h2load", note: "h2load not installed (apt-get install nghttp2-client)" });
  }
  if (scenario.protocol === "grpc") {
    const viaGrpcJs = await measure(scenario, "throughput", { pid: server.process.pid, port: server.port }, fixtures, config, "grpc-js");
    checks.push({
      server: server.kind,
      concurrency: viaGrpcJs.concurrency,
      tool: "grpc-js client (same harness)",
      ...(viaGrpcJs.result ? { requestsPerSecond: viaGrpcJs.result.requestsPerSecond } : {}),
      ...(viaGrpcJs.serverCpuPercent === undefined ? {} : { serverCpuPercent: viaGrpcJs.serverCpuPercent }),
      ...(viaGrpcJs.loadCpuPercent === undefined ? {} : { loadCpuPercent: viaGrpcJs.loadCpuPercent }),
      ...(viaGrpcJs.problems.length ? { note: viaGrpcJs.problems.join("; ") } : {}),
    });
  }
  return checks;
}
