import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { METRIC } from "../../src/observability/metric-names.js";
import { scrapeSamples, valueOf, type MetricSample } from "../support/metrics-scrape.js";
import { databaseForTest, testDialect } from "../support/postgres.js";
import { startSigilProcess } from "../support/sigil-process.js";
import { clientOnWorker } from "../support/worker-client.js";

/**
 * Issue #11 item 1 with `serve --workers 2`: the supervisor's one /metrics sums both workers
 * (prom-client's cluster aggregator), and a real Prometheus server (Debian's `prometheus`) scrapes
 * it and answers a query for grpc_server_handled_total through its HTTP API.
 */

const VERIFY = { grpc_service: "sigil.v1.KeyService", grpc_method: "VerifyKey", grpc_code: "OK", protocol: "grpc" };

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function verifyTimes(client: SigilClient, credential: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) assert.equal((await client.verifyKey({ credential })).valid, true);
}

interface PromQueryResult {
  status: string;
  data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

describe(`metrics with --workers 2 (${testDialect()})`, () => {
  it("one scrape sums both workers, and a real Prometheus scrapes it and answers a query", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-metrics-workers-"));
    const database = await databaseForTest(dataDir);
    const server = startSigilProcess(["--workers", "2", "--data-dir", dataDir], { SIGIL_DATABASE_URL: database.url, SIGIL_LOG_LEVEL: "info" });
    let prometheus: ReturnType<typeof spawn> | undefined;
    let prometheusLog = "";
    try {
      const workers = await server.waitForListening(2);
      const pids = [...new Set(workers.map((w) => w.pid))];
      const url = workers[0]!.grpcUrl;
      const metricsUrl = await server.metricsUrl();
      const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
      const admin = createSigilClient({ baseUrl: url, adminKey });
      const [first, second] = [await clientOnWorker(server, url, pids[0]!, adminKey), await clientOnWorker(server, url, pids[1]!, adminKey)];
      const { secret } = await admin.issueKey({ name: "cluster", owner: "svc:cluster" });

      const before = await scrapeSamples(metricsUrl);
      await verifyTimes(first!, secret, 7);
      await verifyTimes(second!, secret, 5);
      const after = await scrapeSamples(metricsUrl);
      assert.equal(valueOf(after, METRIC.rpcHandled, VERIFY) - valueOf(before, METRIC.rpcHandled, VERIFY), 12, "7 calls on one worker and 5 on the other, in one scrape");
      const verified = (s: readonly MetricSample[]) => valueOf(s, METRIC.verifications, { kind: "api_key", reason: "valid" });
      assert.equal(verified(after) - verified(before), 12);
      // Each worker logged its own share: the sum is over two processes, not one process's view.
      const calls = server.logs().filter((l) => l.msg === "call" && l.method === "sigil.v1.KeyService/GetKey");
      assert.deepEqual(new Set(calls.map((l) => l.pid)), new Set(pids));
      // Gauges that must not be summed say how they combine: one build, one database.
      assert.equal(valueOf(after, METRIC.buildInfo), 1);
      assert.equal(valueOf(after, METRIC.databaseUp), 1);

      // A real Prometheus server scrapes the supervisor every second.
      const promPort = await freePort();
      const promDir = path.join(dataDir, "prometheus");
      const target = new URL(metricsUrl).host;
      writeFileSync(
        path.join(dataDir, "prometheus.yml"),
        `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: sigil\n    static_configs:\n      - targets: ["${target}"]\n`,
      );
      prometheus = spawn(
        "prometheus",
        [`--config.file=${path.join(dataDir, "prometheus.yml")}`, `--storage.tsdb.path=${promDir}`, `--web.listen-address=127.0.0.1:${promPort}`],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      prometheus.stderr!.on("data", (d: Buffer) => (prometheusLog += d.toString()));
      prometheus.on("error", (err) => (prometheusLog += `spawn failed (install Debian's prometheus): ${err.message}\n`));
      const api = `http://127.0.0.1:${promPort}/api/v1`;
      const expected = valueOf(after, METRIC.rpcHandled, VERIFY);
      const answer = await waitFor(`Prometheus to answer grpc_server_handled_total (log: ${prometheusLog.slice(-2000)})`, async () => {
        const query = encodeURIComponent(`sum(grpc_server_handled_total{job="sigil",grpc_method="VerifyKey",grpc_code="OK",protocol="grpc"})`);
        const res = (await (await fetch(`${api}/query?query=${query}`)).json()) as PromQueryResult;
        return res.status === "success" && res.data.result.length > 0 ? res : undefined;
      });
      assert.equal(Number(answer.data.result[0]!.value[1]), expected, "Prometheus stored what the supervisor served");
      const targets = (await (await fetch(`${api}/targets`)).json()) as { data: { activeTargets: Array<{ health: string; lastError: string }> } };
      assert.equal(targets.data.activeTargets[0]?.health, "up", targets.data.activeTargets[0]?.lastError);
      // Every series of the metric, by its labels: go-grpc-prometheus's, plus protocol.
      const series = (await (await fetch(`${api}/query?query=grpc_server_handled_total`)).json()) as PromQueryResult;
      const labels = Object.keys(series.data.result[0]!.metric).sort();
      assert.deepEqual(labels, ["__name__", "grpc_code", "grpc_method", "grpc_service", "grpc_type", "instance", "job", "protocol"]);
    } finally {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((resolve) => prometheus!.once("exit", resolve));
        prometheus.kill("SIGTERM");
        await exited;
      }
      const exit = await server.stop("SIGTERM");
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
      assert.equal(exit.code, 0);
    }
  });
});
