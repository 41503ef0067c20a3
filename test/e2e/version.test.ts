import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createSigilClient, type SigilProtocol } from "../../clients/typescript/src/index.js";
import { runCli } from "../support/cli-process.js";
import { startTestServer } from "../support/test-server.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** A server that records the headers of every request and answers nothing useful: what the SDK sends, on a real socket. */
async function headerRecorder(kind: "h2" | "http1"): Promise<{ url: string; headers: http.IncomingHttpHeaders[]; close(): void }> {
  const headers: http.IncomingHttpHeaders[] = [];
  const handler = (req: { headers: http.IncomingHttpHeaders }, res: { writeHead(s: number): unknown; end(): unknown }) => {
    headers.push(req.headers);
    res.writeHead(503);
    res.end();
  };
  const server = kind === "h2" ? http2.createServer(handler as never) : http.createServer(handler as never);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, headers, close: () => server.close() };
}

describe("the version, everywhere an operator looks", () => {
  it("sigil --version prints the package version", async () => {
    for (const flag of ["--version", "-V"]) {
      const run = await runCli([flag]);
      assert.equal(run.code, 0);
      assert.equal(run.stdout, `sigil ${VERSION}\n`);
    }
  });

  it("is in /healthz and in the start-up log line", async () => {
    const server = await startTestServer();
    try {
      const health = (await (await fetch(`${server.httpUrl}/healthz`)).json()) as { status: string; version: string };
      assert.deepEqual(health, { status: "SERVING", version: VERSION });
      const listening = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "sigil is listening");
      assert.equal(listening?.version, VERSION);
      assert.equal(listening?.node, process.version);
    } finally {
      await server.close();
    }
  });

  it("is the SDK's User-Agent on every protocol, unless the caller sets its own", async () => {
    const cases: Array<[SigilProtocol, "h2" | "http1"]> = [["grpc", "h2"], ["connect", "http1"], ["grpc-web", "http1"]];
    for (const [protocol, kind] of cases) {
      const recorder = await headerRecorder(kind);
      try {
        const client = createSigilClient({ baseUrl: recorder.url, protocol });
        await client.verifyKey({ credential: "sgl_x" }).catch(() => undefined);
        await client.verifyKey({ credential: "sgl_x" }, { headers: { "user-agent": "billing-api/3.1" } }).catch(() => undefined);
        assert.equal(recorder.headers.length, 2, protocol);
        assert.equal(recorder.headers[0]!["user-agent"], `sigil-client/${VERSION}`, protocol);
        if (protocol === "grpc-web") assert.equal(recorder.headers[0]!["x-user-agent"], `sigil-client/${VERSION}`);
        assert.equal(recorder.headers[1]!["user-agent"], "billing-api/3.1", `${protocol}: the caller's own stays`);
      } finally {
        recorder.close();
      }
    }
  });
});
