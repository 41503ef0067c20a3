import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Envoy's ext_authz Check on the gRPC listener, called by Python's grpcio with stubs generated from
 * proto/envoy (a client that shares no code with the server). `/usr/bin/python3` on purpose: a
 * pyenv `python3` earlier on PATH does not see Debian's python3-grpcio / python3-grpc-tools.
 */
const PYTHON = "/usr/bin/python3";
// Compiled to dist/test/support/; the client and the protos stay in the source tree.
const CLIENT = fileURLToPath(new URL("../../../test/support/envoy_check_client.py", import.meta.url));
const PROTO_DIR = fileURLToPath(new URL("../../../proto", import.meta.url));

export interface HeaderOption {
  header: { key: string; value: string };
  append_action?: string;
}
export interface CheckAnswer {
  code: number;
  details?: string;
  response?: {
    status?: { code?: number; message?: string };
    ok_response?: { headers?: HeaderOption[]; headers_to_remove?: string[]; response_headers_to_add?: HeaderOption[] };
    denied_response?: { status?: { code?: string }; headers?: HeaderOption[]; body?: string };
  };
}

/** Runs the checks in one Python process (its start-up and stub generation take most of the time). */
export async function envoyChecks(target: string, checks: object[], raw: Buffer[] = []): Promise<{ answers: CheckAnswer[]; raw: CheckAnswer[] }> {
  assert.ok(existsSync(PYTHON), `${PYTHON} not found (apt-get install python3-grpcio python3-grpc-tools)`);
  const child = spawn(PYTHON, ["-I", CLIENT], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(JSON.stringify({ proto_dir: PROTO_DIR, target, checks, raw: raw.map((b) => b.toString("base64")) }));
  const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  assert.equal(status, 0, `the Python ext_authz client failed: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout) as { answers: CheckAnswer[]; raw: CheckAnswer[] };
}

/** A CheckRequest as Envoy sends it, in proto3 JSON. */
export function check(headers: Record<string, string>, options: { path?: string; source?: string; contextExtensions?: Record<string, string>; rawHeaders?: boolean } = {}): object {
  const http = options.rawHeaders
    ? { headerMap: { headers: Object.entries(headers).map(([key, value]) => ({ key, rawValue: Buffer.from(value).toString("base64") })) } }
    : { headers };
  return {
    attributes: {
      source: { address: { socketAddress: { address: options.source ?? "192.0.2.10", portValue: 51234 } } },
      destination: { address: { socketAddress: { address: "10.0.0.1", portValue: 8080 } } },
      request: { http: { id: "req-1", method: "GET", path: options.path ?? "/api/orders", host: "api.example.com", scheme: "http", protocol: "HTTP/1.1", ...http } },
      contextExtensions: options.contextExtensions ?? {},
    },
  };
}

export const headersOf = (options: HeaderOption[] | undefined) => Object.fromEntries((options ?? []).map((o) => [o.header.key, o.header.value]));

