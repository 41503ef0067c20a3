import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { METRIC } from "../../src/observability/metric-names.js";
import { scrapeSamples, valueOf } from "../support/metrics-scrape.js";
import { databaseForTest, testDialect } from "../support/postgres.js";
import { startSigilProcess, type SigilProcess } from "../support/sigil-process.js";

/**
 * Issue #14 item 2: memory bounded by configuration at any key count. SIGIL_CACHE_MEMORY bounds the
 * key cache in (estimated) bytes, not only in records; SIGIL_MEMORY_LIMIT caps V8's heap of the
 * serving process (started with the flag, since a heap's size is fixed at start) and sizes the cache.
 */

const MIB = 1024 * 1024;

async function withServer(args: string[], env: Record<string, string>, fn: (server: SigilProcess, dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-memory-"));
  const database = await databaseForTest(dataDir);
  const server = startSigilProcess(["--data-dir", dataDir, ...args], { SIGIL_DATABASE_URL: database.url, SIGIL_LOG_LEVEL: "info", ...env });
  try {
    await fn(server, dataDir);
    const exit = await server.stop();
    assert.equal(exit.code, 0, server.lines.slice(-10).join("\n"));
  } finally {
    await server.stop("SIGKILL");
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe(`memory bounds (${testDialect()})`, () => {
  it("SIGIL_CACHE_MEMORY bounds the key cache in bytes: records with large metadata are evicted before SIGIL_CACHE_SIZE is reached, and every key still verifies", async () => {
    await withServer(["--workers", "1", "--cache-memory", "1MiB"], {}, async (server, dataDir) => {
      const [listening] = await server.waitForListening(1);
      const metricsUrl = await server.metricsUrl();
      const admin = createSigilClient({ baseUrl: listening!.grpcUrl, adminKey: readFileSync(path.join(dataDir, "admin.key"), "utf8").trim() });
      // 32 metadata values of 200 characters: about 8 KB a record, so 1 MiB holds about 125 of them.
      const metadata = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`label-${i}`, `${i}`.padEnd(200, "x")]));
      const secrets: string[] = [];
      for (let i = 0; i < 300; i++) secrets.push((await admin.issueKey({ name: `big ${i}`, owner: "svc:memory", metadata })).secret);
      for (const credential of secrets) assert.equal((await admin.verifyKey({ credential })).valid, true);
      const samples = await scrapeSamples(metricsUrl);
      const bytes = valueOf(samples, METRIC.keyCacheBytes);
      const entries = valueOf(samples, METRIC.keyCacheEntries);
      assert.ok(bytes > 0.5 * MIB && bytes <= MIB, `the cache holds ${bytes} bytes, within its 1 MiB bound and near it`);
      assert.ok(entries > 50 && entries < 200, `${entries} records cached (the record bound, 50000, is far away)`);
      assert.ok(valueOf(samples, METRIC.keyCacheEvictions) >= 300 - entries, "records were evicted by the byte bound");
      const listeningLine = server.logs().find((l) => l.msg === "sigil is listening")!;
      assert.equal(listeningLine.cacheMemory, "1MiB");
    });
  });

  it("SIGIL_MEMORY_LIMIT caps V8's heap of the serving process (one worker started with the cap) and gives the cache a quarter", async () => {
    await withServer(["--workers", "1"], { SIGIL_MEMORY_LIMIT: "256MiB" }, async (server) => {
      const [listening] = await server.waitForListening(1);
      const line = server.logs().find((l) => l.msg === "sigil is listening")!;
      // 256 MiB less 64 MiB for code and native memory: V8 reports its old space (192 MiB) plus
      // its young generation. Without the cap this machine's heap limit is gigabytes.
      const heapLimitMb = line.heapLimitMb as number;
      assert.ok(heapLimitMb >= 192 && heapLimitMb <= 448, `heap limit ${heapLimitMb} MiB`);
      assert.equal(line.cacheMemory, "64MiB", "a quarter of the limit");
      // The supervisor logs this once its first worker is ready, so possibly just after the worker's own line.
      await server.waitFor("the supervisor's line", () => (server.logs().some((l) => l.msg === "sigil workers started") ? true : undefined));
      assert.notEqual(listening!.pid, server.child.pid, "the serving process is the worker, not the one the operator started");
      const health = await fetch(`${listening!.httpUrl}/healthz`);
      assert.equal(health.status, 200);
    });
  });

  it("a node already started with a cap within SIGIL_MEMORY_LIMIT serves in-process, and without the limit the heap is left to V8", async () => {
    await withServer(["--workers", "1", "--memory-limit", "512MiB"], { NODE_OPTIONS: "--max-old-space-size=256" }, async (server) => {
      const [listening] = await server.waitForListening(1);
      assert.equal(listening!.pid, server.child.pid, "no supervisor: the node's own cap (256 MiB) is within the limit's (448 MiB)");
      assert.equal(server.logs().find((l) => l.msg === "sigil is listening")!.cacheMemory, "128MiB");
    });
    await withServer(["--workers", "1"], {}, async (server) => {
      const [listening] = await server.waitForListening(1);
      assert.equal(listening!.pid, server.child.pid);
      assert.equal(server.logs().find((l) => l.msg === "sigil is listening")!.cacheMemory, "64MiB", "the default bound");
    });
  });

  it("a wrong size, or a cache bound past half the memory limit, stops start-up with one line naming the setting", async () => {
    for (const [env, expected] of [
      [{ SIGIL_MEMORY_LIMIT: "100MiB" }, /SIGIL_MEMORY_LIMIT \(--memory-limit\) must be between 128MiB and 1024GiB, got "100MiB"/],
      [{ SIGIL_CACHE_MEMORY: "lots" }, /SIGIL_CACHE_MEMORY \(--cache-memory\) must be a size like 64MiB, 512KiB or 1GiB, got "lots"/],
      [{ SIGIL_CACHE_MEMORY: "512KiB" }, /SIGIL_CACHE_MEMORY \(--cache-memory\) must be between 1MiB and 64GiB/],
      [{ SIGIL_CACHE_MEMORY: "200MiB", SIGIL_MEMORY_LIMIT: "256MiB" }, /SIGIL_CACHE_MEMORY \(--cache-memory\) must be at most half of SIGIL_MEMORY_LIMIT \(256MiB\)/],
    ] as const) {
      const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-memory-bad-"));
      const server = startSigilProcess(["--data-dir", dataDir, "--workers", "1"], { ...env });
      try {
        const exit = await server.exited;
        assert.equal(exit.code, 2, "a usage error, as for every wrong setting");
        assert.ok(server.lines.some((l) => expected.test(l)), server.lines.join("\n"));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  });
});
