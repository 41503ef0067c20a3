// Keeps the load generator off the server's core: the harness pins all its own threads to the load
// core at start, and worker threads created later inherit that affinity from the main thread.
import { execFileSync } from "node:child_process";
import os from "node:os";
import { readdirSync, readFileSync } from "node:fs";

/** Pins every thread of this process to `cpus`; returns why not when it cannot. */
export function pinThisProcess(cpus: string): string | undefined {
  if (os.availableParallelism() < 2) return "fewer than 2 cores: server and load generator share the CPU";
  try {
    execFileSync("taskset", ["-a", "-p", "-c", cpus, String(process.pid)], { stdio: "ignore" });
    return undefined;
  } catch (err) {
    return `taskset failed (${err instanceof Error ? err.message : String(err)}): the load generator is not pinned`;
  }
}

/** The distinct CPU lists this process's threads may run on, e.g. ["1"]: a check that pinning held. */
export function threadCpuLists(pid = process.pid): string[] {
  const lists = new Set<string>();
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const match = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8").match(/^Cpus_allowed_list:\s*(\S+)/m);
      if (match) lists.add(match[1]!);
    }
  } catch {
    // thread listing unavailable: report nothing
  }
  return [...lists];
}
