import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { startSigilProcess } from "../support/sigil-process.js";

/** A local port with nothing listening on it: a PostgreSQL that is not up (yet). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("signals while sigil serve is still starting", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  for (const workers of ["1", "2"]) {
    it(`--workers ${workers}: SIGHUP does not stop it and SIGTERM stops it at once, with code 0, while it waits for its database`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "sigil-signals-"));
      dirs.push(dir);
      const url = `postgres://sigil:unused@127.0.0.1:${await closedPort()}/sigil`;
      const sigil = startSigilProcess(["--workers", workers], { SIGIL_DATA_DIR: dir, SIGIL_DATABASE_URL: url, SIGIL_DATABASE_START_TIMEOUT: "120s" });
      try {
        await sigil.waitFor("a retry", () => (sigil.logs().some((l) => l.msg === "database not reachable yet; waiting for it") ? true : undefined));
        sigil.child.kill("SIGHUP");
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(sigil.child.exitCode, null, "SIGHUP did not stop it");
        assert.equal(sigil.child.signalCode, null, "SIGHUP did not kill it");
        const started = Date.now();
        const exit = await sigil.stop("SIGTERM", 20_000);
        assert.deepEqual(exit, { code: 0, signal: null });
        // Far below the 120 s it would otherwise wait (and the test's 20 s SIGKILL).
        assert.ok(Date.now() - started < 10_000, `stopped after ${Date.now() - started} ms`);
      } finally {
        await sigil.stop("SIGKILL");
      }
    });
  }
});
