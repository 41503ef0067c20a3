// Resource figures of a process from /proc: peak and current RSS, CPU time.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

function statusFieldKb(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const match = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set size since start (or since the last resetPeakRss), in kB. */
export const readPeakRssKb = (pid: number): number | undefined => statusFieldKb(pid, "VmHWM");
export const readRssKb = (pid: number): number | undefined => statusFieldKb(pid, "VmRSS");

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, `echo 5 > clear_refs`), so a peak can be read per scenario. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

let clockTicksPerSecond: number | undefined;

function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** User + system CPU seconds of all the process's threads. */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Samples VmRSS at an interval; the maximum is the fallback when VmHWM cannot be reset. */
export class RssSampler {
  private maxKb = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, intervalMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    this.maxKb = Math.max(this.maxKb, readRssKb(this.pid) ?? 0);
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.maxKb;
  }
}

/** Busy (steal included), steal and total clock ticks of one CPU since boot, from /proc/stat. */
export function readCoreTicks(cpu: number): { busy: number; steal: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").match(new RegExp(`^cpu${cpu} (.*)$`, "m"))?.[1];
    if (line === undefined) return undefined;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq! + steal!;
    return { busy, steal: steal!, total: busy + idle! + iowait! };
  } catch {
    return undefined;
  }
}

/** Parent pid of every process, from /proc/<pid>/stat. */
function parentPids(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // exited meanwhile
    }
  }
  return parents;
}

/** `roots` and all their live descendants (a supervisor's workers, a postmaster's backends). */
export function processTree(roots: readonly number[]): number[] {
  const parents = parentPids();
  const tree = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (tree.has(parent) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Direct children of `pid`. */
export const childPids = (pid: number): number[] => [...parentPids()].filter(([, parent]) => parent === pid).map(([child]) => child);

/**
 * CPU seconds of `roots` and their descendants: each live process's own time plus that of the
 * children it has reaped, so a process that exits between two readings still counts once.
 */
export function readTreeCpuSeconds(roots: readonly number[]): number | undefined {
  let total = 0;
  let found = false;
  for (const pid of processTree(roots)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      found = true;
    } catch {
      // exited meanwhile
    }
  }
  return found ? total / clockTicks() : undefined;
}
