// Child processes pinned to one core with taskset (which execs, so the pid is the program's own).
// Output goes to a log file in the run directory; stdout lines can also be awaited (readiness).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";

export interface PinnedProcessOptions {
  /** Short name for messages, e.g. "sigil" or "bare-grpc". */
  name: string;
  /** CPU list for taskset, e.g. "0"; undefined runs unpinned. */
  cpus: string | undefined;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
}

export class PinnedProcess {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly lineWaiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  constructor(options: PinnedProcessOptions) {
    this.name = options.name;
    const [command, args] =
      options.cpus === undefined ? [options.command, options.args] : ["taskset", ["-c", options.cpus, options.command, ...options.args]];
    this.child = spawn(command, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    if (this.child.pid === undefined) throw new Error(`could not start ${options.name}`);
    this.pid = this.child.pid;
    const log = createWriteStream(options.logFile, { flags: "a" });
    this.child.stderr!.pipe(log);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      log.write(line + "\n");
      for (const waiter of this.lineWaiters) {
        const match = line.match(waiter.pattern);
        if (match) waiter.resolve(match);
      }
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first stdout line matching `pattern`; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
      this.lineWaiters.push({ pattern, resolve: (match) => (clearTimeout(timer), resolve(match)) });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with code ${code} before it was ready`));
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
