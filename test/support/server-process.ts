import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI_PATH = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** `sigil serve` as a child process, with its output collected. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly grpcUrl: string;
  readonly httpUrl: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the real executable on ephemeral ports and waits for its "listening" log line. */
export function startServerProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI_PATH, "serve"], {
    env: { ...process.env, SIGIL_GRPC_ADDR: "127.0.0.1:0", SIGIL_HTTP_ADDR: "127.0.0.1:0", SIGIL_METRICS_ADDR: "127.0.0.1:0", SIGIL_WORKERS: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start in ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}\nstdout: ${out}\nstderr: ${err}`));
    };
    child.once("exit", onEarlyExit);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l) => l.includes('"sigil is listening"'));
      if (!line) return;
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      const { grpc, http } = JSON.parse(line) as { grpc: string; http: string };
      resolve({
        child,
        grpcUrl: `http://${grpc}`,
        httpUrl: `http://${http}`,
        stdout: () => out,
        stderr: () => err,
        stop(signal = "SIGTERM") {
          child.kill(signal);
          return exited;
        },
      });
    });
  });
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SIGIL_METRICS_ADDR: "127.0.0.1:0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
