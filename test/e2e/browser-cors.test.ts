import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** Debian's chromium (.ci/run installs it; SIGIL_TEST_REQUIRE_CHROMIUM=1 makes its absence a failure). */
function chromiumPath(): string | undefined {
  const which = spawnSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" });
  return which.status === 0 ? which.stdout.trim() || undefined : undefined;
}
const CHROMIUM = chromiumPath();
const REQUIRED = process.env.SIGIL_TEST_REQUIRE_CHROMIUM === "1";

/**
 * The page a browser app would be: it calls Sigil's HTTP listener from its own origin with fetch,
 * exactly as a Connect or gRPC-Web client does (Connect JSON with an Authorization header, which
 * forces a preflight; gRPC-Web with a binary frame), and reports what it could read.
 */
function page(sigilUrl: string, adminKey: string): string {
  return `<!doctype html><html><body><script>
const sigil = ${JSON.stringify(sigilUrl)};
const adminKey = ${JSON.stringify(adminKey)};
async function attempt(name, run) {
  try { return [name, await run()]; } catch (err) { return [name, "blocked: " + err.name]; }
}
async function connect(method, body, auth) {
  const headers = { "content-type": "application/json", "connect-protocol-version": "1" };
  if (auth) headers.authorization = "Bearer " + auth;
  const res = await fetch(sigil + "/sigil.v1.KeyService/" + method, { method: "POST", headers, body: JSON.stringify(body) });
  return res.status + " " + JSON.stringify(await res.json());
}
async function grpcWeb() {
  const json = new TextEncoder().encode(JSON.stringify({ credential: "sgl_nope" }));
  const frame = new Uint8Array(5 + json.length);
  new DataView(frame.buffer).setUint32(1, json.length);
  frame.set(json, 5);
  const res = await fetch(sigil + "/sigil.v1.KeyService/VerifyKey", {
    method: "POST", headers: { "content-type": "application/grpc-web+json", "x-grpc-web": "1" }, body: frame,
  });
  return res.status + " " + new TextDecoder().decode(await res.arrayBuffer()).replace(/[^ -~]/g, " ");
}
(async () => {
  const results = Object.fromEntries(await Promise.all([
    attempt("verify", () => connect("VerifyKey", { credential: "sgl_nope" })),
    attempt("list", () => connect("ListKeys", { pageSize: 1 }, adminKey)),
    attempt("grpcWeb", grpcWeb),
  ]));
  await fetch("/report", { method: "POST", body: JSON.stringify(results) });
})();
</script></body></html>`;
}

interface PageServer {
  readonly origin: string;
  /** The next report the page posts. */
  nextReport(): Promise<Record<string, string>>;
  close(): void;
}

/** Serves the page (made when asked for) on an origin of its own: a port of its own on 127.0.0.1. */
async function servePage(html: () => string): Promise<PageServer> {
  let deliver: ((r: Record<string, string>) => void) | undefined;
  const server = http.createServer((req, res) => {
    if (req.method === "POST" && req.url === "/report") {
      let body = "";
      req.setEncoding("utf8").on("data", (d: string) => (body += d));
      req.on("end", () => {
        res.end("ok");
        deliver?.(JSON.parse(body) as Record<string, string>);
      });
      return;
    }
    res.writeHead(req.url === "/" ? 200 : 404, { "content-type": "text/html" });
    res.end(req.url === "/" ? html() : "");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    nextReport: () => new Promise((resolve) => (deliver = resolve)),
    close: () => server.close(),
  };
}

/** Opens `url` in headless Chromium until the page has reported (or 60 s passed). */
async function inChromium(url: string, report: Promise<Record<string, string>>): Promise<Record<string, string>> {
  const profile = mkdtempSync(path.join(tmpdir(), "sigil-chromium-"));
  // Its own process group: Chromium's helper processes (renderer, zygote, crash handler) go with it.
  const browser = spawn(CHROMIUM!, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions", `--user-data-dir=${profile}`, url], {
    stdio: "ignore",
    detached: true,
  });
  const exited = new Promise((resolve) => browser.once("exit", resolve));
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      report,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("the page never reported")), 60_000))),
    ]);
  } finally {
    clearTimeout(timer);
    try {
      process.kill(-browser.pid!, "SIGKILL");
    } catch {
      // Already gone.
    }
    await exited;
    // A helper may still be finishing a write into the profile for a moment.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

const SKIP = testDialect() === "postgres" ? "no database in it: runs in the SQLite pass" : !CHROMIUM && !REQUIRED && "chromium is not installed (Debian: apt-get install -y chromium)";

describe("a browser page calls Sigil across origins", { skip: SKIP }, () => {
  let sigil: TestServer;
  let listed: PageServer;
  let unlisted: PageServer;
  before(async () => {
    assert.ok(CHROMIUM, "SIGIL_TEST_REQUIRE_CHROMIUM=1 but chromium is not installed");
    const html = () => page(sigil.httpUrl, sigil.adminKey);
    listed = await servePage(html);
    unlisted = await servePage(html);
    sigil = await startTestServer({ SIGIL_CORS_ORIGINS: listed.origin });
  });
  after(async () => {
    listed?.close();
    unlisted?.close();
    await sigil?.close();
  });

  it("from a listed origin: Connect JSON (with Authorization, preflighted) and gRPC-Web answers are readable", async () => {
    const results = await inChromium(`${listed.origin}/`, listed.nextReport());
    assert.match(results.verify!, /^200 .*"reason":"VERIFY_REASON_MALFORMED"/, results.verify);
    assert.match(results.list!, /^200 .*"keys":\[/, results.list);
    assert.match(results.grpcWeb!, /^200 .*VERIFY_REASON_MALFORMED.*grpc-status: ?0/, results.grpcWeb);
  });

  it("from an unlisted origin: the browser withholds every answer", async () => {
    const results = await inChromium(`${unlisted.origin}/`, unlisted.nextReport());
    assert.deepEqual(results, { verify: "blocked: TypeError", list: "blocked: TypeError", grpcWeb: "blocked: TypeError" });
  });
});
