import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { build, type SigilApp } from "../../src/app/build.js";
import { loadConfig } from "../../src/config/config.js";

/** A real Sigil on ephemeral ports in a temporary data dir, with its log lines captured. */
export interface TestServer {
  readonly app: SigilApp;
  readonly grpcUrl: string;
  readonly httpUrl: string;
  readonly adminKey: string;
  readonly dataDir: string;
  /** Every log line written so far. */
  readonly logs: string[];
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-test-"));
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString("utf8").split("\n").filter((l) => l.length > 0));
      cb();
    },
  });
  let offset = 0;
  const config = loadConfig([], {
    SIGIL_DATA_DIR: dataDir,
    SIGIL_GRPC_ADDR: "127.0.0.1:0",
    SIGIL_HTTP_ADDR: "127.0.0.1:0",
    SIGIL_LOG_LEVEL: "info",
    SIGIL_SHUTDOWN_GRACE: "2s",
    ...env,
  });
  const app = await build(config, { logDestination: destination, now: () => Date.now() + offset });
  return {
    app,
    grpcUrl: `http://127.0.0.1:${app.grpcPort}`,
    httpUrl: `http://127.0.0.1:${app.httpPort}`,
    adminKey: readFileSync(path.join(dataDir, "admin.key"), "utf8").trim(),
    dataDir,
    logs,
    advance(ms) {
      offset += ms;
    },
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
