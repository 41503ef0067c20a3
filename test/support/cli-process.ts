import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The compiled `sigil` executable (dist/src/cli/main.js), next to this file's compiled copy. */
export const CLI_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  /** The whole environment of the child besides PATH (and SIGIL_METRICS_ADDR, a free port unless set here): nothing leaks in from the test process. */
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  readonly stdin?: string;
  readonly timeoutMs?: number;
}

/**
 * Runs `node dist/src/cli/main.js <args>` as a subprocess, asynchronously (the test server runs in
 * this process and must keep answering), and collects its output and exit code.
 */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: options.cwd,
      // A `serve` that starts must not take the fixed default metrics port (tests run in parallel).
      env: { PATH: process.env["PATH"] ?? "", SIGIL_METRICS_ADDR: "127.0.0.1:0", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}
