import http, { type IncomingHttpHeaders } from "node:http";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";

/** Debian's nginx (with the auth_request module), or the one named by SIGIL_TEST_NGINX. */
export const NGINX_BIN = process.env.SIGIL_TEST_NGINX ?? "/usr/sbin/nginx";

export interface NginxProcess {
  readonly url: string;
  /** nginx's error log so far (for failure messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * A real nginx as an unprivileged foreground process with a temporary prefix: `servers` is the
 * inside of the `http {}` block, with `$PORT` standing for the port it is given to listen on.
 */
export async function startNginx(servers: (port: number) => string): Promise<NginxProcess> {
  const prefix = mkdtempSync(path.join(tmpdir(), "sigil-nginx-"));
  const temp = path.join(prefix, "temp");
  mkdirSync(temp);
  const errorLog = path.join(prefix, "error.log");
  const port = await freePort();
  const temps = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${temp}/${t};`).join(" ");
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${errorLog} notice;
events { worker_connections 256; }
http {
  access_log off;
  ${temps}
${servers(port)}
}
`;
  const confFile = path.join(prefix, "nginx.conf");
  writeFileSync(confFile, conf);
  const child = spawn(NGINX_BIN, ["-p", prefix, "-c", confFile, "-e", errorLog], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const readLog = () => (existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "") + stderr;
  await waitForPort(port, child, readLog);
  return {
    url: `http://127.0.0.1:${port}`,
    errorLog: readLog,
    async stop() {
      await stopChild(child);
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${log().slice(-2000)}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stopChild(child);
  throw new Error(`nginx did not listen on ${port} within 15 s: ${log().slice(-2000)}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    // SIGQUIT: nginx's graceful stop; SIGKILL if it takes too long.
    child.kill("SIGQUIT");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One GET on a fresh connection (no agent), optionally from `localAddress` (a loopback address of its own, as a distinct client). */
export function httpRequest(url: string, headers: Record<string, string>, localAddress?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers, localAddress, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
