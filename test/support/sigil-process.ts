import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Where one Sigil process (a worker or a single server) said it listens. */
export interface ListeningLine {
  readonly pid: number;
  readonly grpcUrl: string;
  readonly httpUrl: string;
}

/**
 * `sigil serve` as a real child process (what operators run, with workers and signals), its
 * stdout and stderr captured line by line.
 */
export class SigilProcess {
  readonly child: ChildProcess;
  /** Every output line so far (JSON log lines and plain stderr). */
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<() => void>();

  constructor(args: readonly string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [MAIN, "serve", ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop()!;
        this.lines.push(...parts.filter((l) => l.length > 0));
        for (const wake of this.#waiters) wake();
      });
    }
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /** Parsed JSON log lines (plain lines skipped). */
  logs(): Array<Record<string, unknown>> {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** Every "sigil is listening" line so far: one per process that started. */
  listening(): ListeningLine[] {
    return this.logs()
      .filter((l) => l.msg === "sigil is listening")
      .map((l) => ({ pid: l.pid as number, grpcUrl: `http://${l.grpc as string}`, httpUrl: `http://${l.http as string}` }));
  }

  /** Resolves once `predicate` holds for the output; rejects on timeout or if the process exits first. */
  async waitFor<T>(what: string, predicate: () => T | undefined, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value !== undefined) return value;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`sigil exited (${this.child.exitCode ?? this.child.signalCode}) while waiting for ${what}:\n${this.lines.slice(-20).join("\n")}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}:\n${this.lines.slice(-20).join("\n")}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 200));
        this.#waiters.add(done);
      });
    }
  }

  /** The /metrics URL: the supervisor's (with workers) or the one process's; waits for it to be logged. */
  metricsUrl(timeoutMs?: number): Promise<string> {
    return this.waitFor("the metrics listener", () => {
      const line = this.logs().find((l) => typeof l.metrics === "string");
      return line ? `http://${line.metrics as string}/metrics` : undefined;
    }, timeoutMs);
  }

  /** Waits until `count` distinct processes have logged "sigil is listening". */
  waitForListening(count: number, timeoutMs?: number): Promise<ListeningLine[]> {
    return this.waitFor(`${count} listening process(es)`, () => {
      const lines = this.listening();
      return new Set(lines.map((l) => l.pid)).size >= count ? lines : undefined;
    }, timeoutMs);
  }

  /** Sends a signal and waits for the exit (SIGKILLs after `timeoutMs` so a test never hangs). */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts `sigil serve <args>` on free ports of 127.0.0.1. */
export function startSigilProcess(args: readonly string[], env: Record<string, string> = {}): SigilProcess {
  return new SigilProcess(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--shutdown-grace", "2s", ...args], env);
}
