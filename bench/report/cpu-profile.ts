// Summarizes a V8 .cpuprofile (node --cpu-prof) into the functions and the packages that took the
// most self time: enough to see where a slow scenario spends the server's core.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Sampled time with the event loop busy; percentages are of this. */
  busyMs: number;
  idleMs: number;
  topFunctions: ProfileEntry[];
  topModules: ProfileEntry[];
}

/** node_modules/<package>, src/<dir>/<file>, node:internal, or (program/idle/gc). */
function moduleOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : `(${functionName || "native"})`;
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1]!;
  const own = url.match(/\/dist\/((?:src|gen|bench)\/.*)\.js$/);
  if (own) return own[1]!;
  if (url.startsWith("node:")) return url.split("/").slice(0, 2).join("/");
  return url;
}

function top(map: Map<string, number>, totalMs: number, count: number): ProfileEntry[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), percent: Math.round(us / totalMs) / 10 }));
}

export function summarizeCpuProfile(file: string, count = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) return;
    if (frame.functionName === "(idle)") {
      idleUs += delta;
      return;
    }
    busyUs += delta;
    const where = frame.url === "" ? "" : ` ${moduleOf(frame.url, frame.functionName)}:${frame.lineNumber + 1}`;
    const fn = `${frame.functionName || "(anonymous)"}${where}`;
    functions.set(fn, (functions.get(fn) ?? 0) + delta);
    const mod = moduleOf(frame.url, frame.functionName);
    modules.set(mod, (modules.get(mod) ?? 0) + delta);
  });
  const busyMs = busyUs / 1000;
  return {
    file,
    busyMs: Math.round(busyMs),
    idleMs: Math.round(idleUs / 1000),
    topFunctions: top(functions, busyMs, count),
    topModules: top(modules, busyMs, count),
  };
}
