import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { fitConnectionsToFileLimit } from "../../src/transport/listener-limits.js";
import { MessageLimits } from "../../src/transport/message-limits.js";
import { RequestByteBudget } from "../../src/transport/request-byte-budget.js";

describe("listener limits", () => {
  it("fits the connection limit of every listener under the open-file limit", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-limits-"));
    try {
      const limits = path.join(dir, "limits");
      writeFileSync(limits, "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 1024                 files     \n");
      assert.deepEqual(fitConnectionsToFileLimit(1000, 2, limits), { maxConnections: 448, fileLimit: 1024 });
      assert.deepEqual(fitConnectionsToFileLimit(100, 2, limits), { maxConnections: 100, fileLimit: 1024 });
      assert.deepEqual(fitConnectionsToFileLimit(1000, 2, path.join(dir, "missing")), { maxConnections: 1000, fileLimit: undefined });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives each method its request limit, never above SIGIL_MAX_MESSAGE_BYTES", () => {
    const limits = new MessageLimits(1 << 20);
    assert.equal(limits.forMethod("sigil.v1.KeyService/VerifyKey"), 32 * 1024);
    assert.equal(limits.forMethod("sigil.v1.KeyService/BatchImportKeys"), 1 << 20);
    assert.equal(limits.forMethod("sigil.v1.KeyService/GetKey"), 16 * 1024);
    assert.equal(limits.forMethod("grpc.health.v1.Health/Check"), 1024);
    assert.equal(new MessageLimits(4096).forMethod("sigil.v1.KeyService/VerifyKey"), 4096);
  });

  it("reserves and releases request bytes within the budget", () => {
    const budget = new RequestByteBudget(100);
    assert.ok(budget.tryReserve(60));
    assert.ok(!budget.tryReserve(41));
    assert.ok(budget.tryReserve(40));
    budget.release(60);
    assert.equal(budget.used, 40);
  });

  it("reads the bounds and TLS settings, naming the setting of a wrong one", () => {
    const c = loadConfig([], {});
    assert.deepEqual([c.maxConnections, c.maxStreamsPerConnection, c.idleTimeoutMs, c.receiveTimeoutMs, c.maxPendingRequestBytes], [1000, 100, 65_000, 10_000, 64 << 20]);
    assert.equal(c.tlsCertFile, undefined);
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ SIGIL_MAX_CONNECTIONS: "0" }, /^SIGIL_MAX_CONNECTIONS \(--max-connections\) must be between 1/],
      [{ SIGIL_IDLE_TIMEOUT: "soon" }, /^SIGIL_IDLE_TIMEOUT \(--idle-timeout\) must be a duration/],
      [{ SIGIL_TLS_CERT_FILE: "/x.pem" }, /^SIGIL_TLS_KEY_FILE \(--tls-key-file\) must be set with SIGIL_TLS_CERT_FILE/],
      [{ SIGIL_TLS_KEY_FILE: "/x.key" }, /^SIGIL_TLS_CERT_FILE \(--tls-cert-file\) must be set with SIGIL_TLS_KEY_FILE/],
      [{ SIGIL_TLS_CLIENT_CA_FILE: "/ca.pem" }, /^SIGIL_TLS_CLIENT_CA_FILE \(--tls-client-ca-file\) needs TLS/],
      [{ SIGIL_MAX_PENDING_REQUEST_BYTES: "1048576", SIGIL_MAX_MESSAGE_BYTES: "2097152" }, /^SIGIL_MAX_PENDING_REQUEST_BYTES .* must be at least SIGIL_MAX_MESSAGE_BYTES/],
    ];
    for (const [env, message] of cases) assert.throws(() => loadConfig([], env), (e: Error) => e instanceof ConfigError && message.test(e.message));
  });
});
