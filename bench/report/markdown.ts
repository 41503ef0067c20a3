// bench/results/latest.md: the run's context, the targets, every Sigil figure beside its limit.
import path from "node:path";
import { COMPARED_SCENARIO_IDS, comparedId, POSTGRES, WORKERS_1, WORKERS_2, type ComparedSetup } from "../comparison-scenarios.js";
import { LOAD_CPUS, POSTGRES_CPUS, WORKERS_SERVER_CPUS } from "../config.js";
import type { RunRecord } from "../measure.js";
import { pacedLimitOf, type BenchResults, type Comparison } from "../results.js";
import { int, ms, percent, statusSummary } from "./format.js";

const cpu = (value: number | undefined): string => (value === undefined ? "–" : `${value}%`);
/** Marks a run that other processes disturbed. */
const noisyMark = (r: RunRecord, threshold: number): string => ((r.otherCpuPercent ?? 0) > threshold ? " ⚠" : "");
/** Other CPU with, when the hypervisor took any, the steal time of the two cores beside it: noise no process on the machine caused. */
const otherCpu = (r: RunRecord, threshold: number): string =>
  cpu(r.otherCpuPercent) + ((r.stealCpuPercent ?? 0) >= 1 ? ` (steal ${r.stealCpuPercent}%)` : "") + noisyMark(r, threshold);
/** Server CPU time per successful call, in µs: at a fixed rate it shows what a call costs when it does not share its wake-up. */
const cpuPerCall = (r: RunRecord): string =>
  r.serverCpuPercent === undefined || !r.okPerSecond ? "–" : `${int((r.serverCpuPercent * 10_000) / r.okPerSecond)} µs`;
const row = (cells: Array<string | number>): string => `| ${cells.join(" | ")} |`;
const header = (cells: string[]): string => [row(cells), row(cells.map(() => "---"))].join("\n");

function comparisonTable(comparisons: readonly Comparison[], threshold: number): string {
  const lines = [
    header(["Scenario", "Conc.", "req/s (OK)", "limit req/s", "ratio", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "limit p50 / p99 ms", "errors", "server CPU", "other CPU", "peak RSS"]),
  ];
  for (const c of comparisons) {
    const r = c.run;
    const l = r.result?.latencyMs;
    if (r.skipped) {
      lines.push(row([r.title, r.concurrency, `skipped: ${r.skipped}`, ...new Array<string>(11).fill("")]));
      continue;
    }
    lines.push(
      row([
        r.title,
        r.concurrency,
        int(r.okPerSecond),
        int(c.limitRequestsPerSecond) + (c.limitSpreadPercent === undefined ? "" : ` (±${Math.ceil(c.limitSpreadPercent / 2)}%)`),
        percent(c.ratio),
        ms(l?.p50),
        ms(l?.p90),
        ms(l?.p99),
        ms(l?.p999),
        `${ms(c.limitLatencyMs?.p50)} / ${ms(c.limitLatencyMs?.p99)}`,
        statusSummary(r.result?.statusCounts),
        cpu(r.serverCpuPercent),
        otherCpu(r, threshold),
        r.peakRssMb === undefined ? "–" : `${int(r.peakRssMb)} MB`,
      ]),
    );
  }
  return lines.join("\n");
}

function limitTable(runs: readonly RunRecord[], threshold: number): string {
  const lines = [header(["Limit", "Conc.", "round", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "errors", "server CPU", "generator CPU", "other CPU"])];
  // Saturated and 1×1 only: a limit's open-loop runs sit beside Sigil's in the open-loop table.
  const limitRuns = runs.filter((run) => (run.target === "bare-grpc" || run.target === "bare-grpc-tls" || run.target === "bare-connect") && run.level !== "open-loop");
  for (const r of limitRuns) {
    const l = r.result?.latencyMs;
    lines.push(
      row([
        r.title,
        r.concurrency,
        r.round,
        int(r.result?.requestsPerSecond),
        ms(l?.p50),
        ms(l?.p90),
        ms(l?.p99),
        ms(l?.p999),
        statusSummary(r.result?.statusCounts),
        cpu(r.serverCpuPercent),
        cpu(r.loadCpuPercent),
        otherCpu(r, threshold),
      ]),
    );
  }
  return lines.join("\n");
}

function featureCostSection(results: BenchResults, threshold: number): string {
  const costs = results.featureCosts ?? [];
  if (costs.length === 0) return "";
  const fc = results.config.featureCost;
  const lines = [header(["Feature", "on", "off", "median req/s on / off", "ratio", "round ratios", "spread on / off", "server CPU per call on / off", "goal", "other CPU (max)"])];
  for (const c of costs) {
    const noisiest = Math.max(0, ...c.rounds.map((r) => r.run.otherCpuPercent ?? 0));
    lines.push(
      row([
        c.title,
        c.onName,
        c.offName,
        `${int(c.onMedian)} / ${int(c.offMedian)}`,
        c.ratio === undefined ? "–" : `**${percent(c.ratio)}**`,
        c.roundRatioRange ? c.roundRatioRange.map((r) => percent(r)).join(" – ") : "–",
        `±${c.onSpreadPercent === undefined ? "–" : Math.ceil(c.onSpreadPercent / 2)}% / ±${c.offSpreadPercent === undefined ? "–" : Math.ceil(c.offSpreadPercent / 2)}%`,
        `${c.onCpuMicros ?? "–"} / ${c.offCpuMicros ?? "–"} µs`,
        c.atLeast === undefined ? "(control)" : `≥ ${percent(c.atLeast)}`,
        `${noisiest}%${noisiest > threshold ? " ⚠" : ""}`,
      ]),
    );
  }
  const rounds = costs.flatMap((c) =>
    c.rounds.map((r) => row([c.id, r.round, r.side, r.process, int(r.run.okPerSecond), cpu(r.run.serverCpuPercent), otherCpu(r.run, threshold)])),
  );
  return `## What a feature costs, interleaved (VerifyKey cache hit, saturated)
${lines.join("\n")}

Each pair's servers (${fc.processesPerSide} per side) were started at once on the main database file, all pinned to the server
core, and warmed up; then ${fc.rounds} saturated rounds per side (${fc.warmupMs / 1000} s warm-up + ${fc.durationMs / 1000} s measured)
alternated between the sides (on, off; off, on; …)${fc.processesPerSide > 1 ? ", rotating over each side's servers" : ""}. "ratio" is the
median of the "on" rounds over the median of the "off" rounds; "round ratios" the lowest and highest on/off ratio of rounds taken
together; "spread" half the range of a side's rates around its median. Server CPU per call (server CPU over successful calls per
second) is less sensitive to CPU taken by other processes than the rate. The control pair runs identical servers on both sides:
its ratio shows what this method cannot tell apart from noise.

<details><summary>Rounds</summary>

${header(["pair", "round", "side", "server", "req/s", "server CPU", "other CPU"])}
${rounds.join("\n")}

</details>

`;
}

function openLoopSection(results: BenchResults, threshold: number): string {
  const all = results.runs.filter((r) => r.level === "open-loop");
  const sigil = all.filter((r) => r.openLoop!.pacedTo === undefined);
  if (sigil.length === 0) return "";
  // The bare server's run at the same rate follows each Sigil run.
  const lines = [
    header(["Scenario", "% of saturated", "scheduled req/s", "OK req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "send lag p99 ms", "dropped", "errors", "server CPU", "CPU per call", "other CPU"]),
  ];
  for (const r of sigil.flatMap((s) => [s, pacedLimitOf(all, s)].filter((x): x is RunRecord => x !== undefined))) {
    const l = r.result?.latencyMs;
    const o = r.openLoop!;
    lines.push(
      row([
        o.pacedTo === undefined ? r.title : `↳ ${r.title}, same rate`,
        `${o.percentOfSaturation}%`,
        int(o.targetRatePerSecond),
        int(r.okPerSecond),
        ms(l?.p50),
        ms(l?.p99),
        ms(l?.p999),
        ms(l?.max),
        ms(o.sendLagMs?.p99),
        int(o.dropped),
        statusSummary(r.result?.statusCounts),
        cpu(r.serverCpuPercent),
        cpuPerCall(r),
        otherCpu(r, threshold),
      ]),
    );
  }
  return `## Open-loop latency
Calls sent at a fixed rate (a fraction of the same server's saturated rate just measured), one load thread, up to
the saturated run's streams in flight; each latency runs from the call's **scheduled** send time, so queueing in
the server, the connection or the generator counts against it (no coordinated omission). "send lag" is how late
calls left against their schedule (the generator's own lag plus waiting for a free stream): when it is near the
latency itself, the generator, not the server, is what was measured. Each Sigil row is followed (↳) by the bare
grpc-js server of the limits loaded at exactly the same rate, at the end of the run: what the platform alone
(kernel, loopback TCP, Node's HTTP/2, the generator, the hypervisor) does to latency at that rate. "CPU per call"
is the server's CPU time per answered call: calls that arrive one at a time each pay a wake-up, a socket read and a
write of their own, which saturated calls share.

${lines.join("\n")}
`;
}

function keyCountTable(results: BenchResults): string {
  const ids = ["verify-uncached-small", "verify-uncached-large", "verify-cache-miss"];
  const lines = [header(["Scenario", "1×1 p50 ms", "1×1 p99 ms", "1×1 p99.9 ms", "saturated req/s", "saturated p99 ms", "peak RSS"])];
  for (const id of ids) {
    const latency = results.runs.find((r) => r.scenarioId === id && r.level === "latency");
    const throughput = results.runs.find((r) => r.scenarioId === id && r.level === "throughput");
    if (!latency && !throughput) continue;
    const l = latency?.result?.latencyMs;
    const rss = Math.max(latency?.peakRssMb ?? 0, throughput?.peakRssMb ?? 0);
    lines.push(
      row([
        (latency ?? throughput)!.title,
        ms(l?.p50),
        ms(l?.p99),
        ms(l?.p999),
        int(throughput?.okPerSecond),
        ms(throughput?.result?.latencyMs.p99),
        rss > 0 ? `${int(rss)} MB` : "–",
      ]),
    );
  }
  return lines.length > 1 ? lines.join("\n") : "Not measured in this run.";
}

/** Each multi-tenant VerifyKey scenario beside its single-tenant twin of the same run, per level. */
function tenantTable(results: BenchResults): string {
  const pairs: Array<[string, string]> = [
    ["verify-cache-hit", "verify-cache-hit-tenants"],
    ["verify-cache-miss", "verify-cache-miss-tenants"],
    ["verify-uncached-large", "verify-uncached-tenants"],
  ];
  const lines = [header(["Scenario", "Level", "single tenant req/s", "tenants req/s", "tenants / single", "single p50 / p99 ms", "tenants p50 / p99 ms"])];
  for (const [single, tenants] of pairs) {
    for (const level of ["latency", "throughput"]) {
      const a = results.runs.find((r) => r.scenarioId === single && r.level === level);
      const b = results.runs.find((r) => r.scenarioId === tenants && r.level === level);
      if (!b) continue;
      const [ca, cb] = [pairCells(a), pairCells(b)];
      const ratio = a?.okPerSecond && b.okPerSecond ? percent(b.okPerSecond / a.okPerSecond) : "–";
      lines.push(row([b.title, level, ca.rate, cb.rate, ratio, ca.latency, cb.latency]));
    }
  }
  return lines.length > 1 ? lines.join("\n") : "Not measured in this run.";
}

/** A run's figures in a pairwise comparison, or why there are none. */
function pairCells(r: RunRecord | undefined): { rate: string; latency: string; cpu: string; errors: string } {
  if (r === undefined) return { rate: "not run", latency: "–", cpu: "–", errors: "–" };
  if (r.skipped || r.result === undefined) return { rate: r.skipped ? `skipped: ${r.skipped}` : "failed", latency: "–", cpu: "–", errors: "–" };
  return {
    rate: int(r.okPerSecond),
    latency: `${ms(r.result.latencyMs.p50)} / ${ms(r.result.latencyMs.p99)}`,
    cpu: cpu(r.serverCpuPercent),
    errors: statusSummary(r.result.statusCounts),
  };
}

/**
 * One row per compared scenario and level: `base` (a comparison setup, or the core scenarios on
 * core 0 when undefined) beside `other`, with other's rate over base's.
 */
function pairTable(results: BenchResults, base: ComparedSetup | undefined, other: ComparedSetup, names: [string, string]): string | undefined {
  const threshold = results.config.noiseThresholdPercent;
  const lines = [
    header([
      "Scenario",
      "Conc.",
      `${names[0]} req/s`,
      `${names[1]} req/s`,
      `${names[1]} / ${names[0]}`,
      `${names[0]} p50 / p99 ms`,
      `${names[1]} p50 / p99 ms`,
      `server CPU ${names[0]} / ${names[1]}`,
      "generator CPU",
      "other CPU",
      "errors",
    ]),
  ];
  for (const id of COMPARED_SCENARIO_IDS) {
    for (const level of ["latency", "throughput"] as const) {
      const find = (setup: ComparedSetup | undefined) =>
        results.runs.find((r) => r.scenarioId === (setup ? comparedId(setup, id) : id) && r.level === level);
      const [a, b] = [find(base), find(other)];
      if (b === undefined) continue;
      const [ca, cb] = [pairCells(a), pairCells(b)];
      const ratio = a?.okPerSecond && b.okPerSecond !== undefined ? b.okPerSecond / a.okPerSecond : undefined;
      const noisy = [a, b].some((r) => r && (r.otherCpuPercent ?? 0) > threshold) ? " ⚠" : "";
      lines.push(
        row([
          b.title.replace(/ \([^)]*\)$/, ""),
          b.concurrency,
          ca.rate,
          cb.rate,
          ratio === undefined ? "–" : `${ratio.toFixed(2)}×`,
          ca.latency,
          cb.latency,
          `${ca.cpu} / ${cb.cpu}`,
          `${cpu(a?.loadCpuPercent)} / ${cpu(b.loadCpuPercent)}`,
          `${cpu(a?.otherCpuPercent)} / ${cpu(b.otherCpuPercent)}${noisy}`,
          `${ca.errors} / ${cb.errors}`,
        ]),
      );
    }
  }
  return lines.length > 2 ? lines.join("\n") : undefined;
}

function workersSection(results: BenchResults): string {
  const table = pairTable(results, WORKERS_1, WORKERS_2, ["1 worker", "2 workers"]);
  if (table === undefined) return "## Workers: `--workers 2` against 1 worker\nNot measured in this run.";
  return `## Workers: \`--workers 2\` against 1 worker
${table}

Both servers run on the large SQLite database pinned to cores ${WORKERS_SERVER_CPUS} (two workers need both cores), so
**the load generator has no core to itself**: it shares core ${LOAD_CPUS} with the server, runs in one worker thread to stay
light, and its CPU (column "generator CPU") is CPU the server did not get. The 1-worker figures are measured under the same
pinning, so the ratio compares like with like; they differ from the core scenarios above, where the server has core 0 alone.
The supervisor hands each new connection to the next worker, so the 4 connections of a saturated run are split 2 + 2; a 1×1
run uses one connection and so one worker. Server CPU and peak RSS cover the supervisor and every worker. Each worker has its
own verified-key cache.`;
}

function postgresSection(results: BenchResults): string {
  const pg = results.postgres;
  const table = pairTable(results, undefined, POSTGRES, ["SQLite", "PostgreSQL"]);
  if (table === undefined) return "## PostgreSQL against SQLite\nNot measured in this run (see the notes).";
  return `## PostgreSQL against SQLite
${table}

Sigil with one worker on core 0 in both columns; the SQLite column is the core scenarios' run above. PostgreSQL${pg ? ` ${pg.version} (${pg.binDir})` : ""}
is a throwaway cluster (test/support/postgres.ts: local TCP, trust authentication, \`fsync=off\`) pinned to core ${POSTGRES_CPUS}
with Sigil: the whole service gets one core, as with SQLite, whose work runs inside the Sigil process. Its CPU is part of
"server CPU". It holds as many seeded keys as the SQLite database. \`fsync=off\` is close to Sigil's SQLite setting
(WAL, \`synchronous=NORMAL\`: no sync per commit either); a production PostgreSQL would sync each commit, which lowers IssueKey.`;
}

function revocationSection(results: BenchResults): string {
  const windows = results.revocationWindows ?? [];
  if (windows.length === 0) return "## Revocation window\nNot measured in this run.";
  const lines = [header(["Setup", "revocations", "median ms", "p90 ms", "max ms", "min ms", "timeouts", "how"])];
  for (const w of windows) {
    lines.push(row([w.title, `${w.windowsMs.length} of ${w.rounds}`, ms(w.medianMs), ms(w.p90Ms), ms(w.maxMs), ms(w.minMs), w.timeouts, w.setup]));
  }
  const poll = windows[0]!.feedPollIntervalMs;
  return `## Revocation window
${lines.join("\n")}

Time from \`RevokeKey\` returning on one process to the first \`REVOKED\` answer from the other process, which had the key
cached (it verified the key just before). Each round waits a random part of the feed poll interval (${poll} ms) before revoking,
so revocations fall at every phase of the other process's poll timer; the other process is then asked every
${windows[0]!.probeIntervalMs} ms (after each answer), so each figure is late by up to that plus one call (~0.3 ms). The harness
(core ${LOAD_CPUS}) is the client of both. On SQLite the other process learns of the revocation at its next poll of the change
feed: expect about half the poll interval on median and at most the interval plus one feed query. On PostgreSQL the change-feed
insert also sends a NOTIFY (migration trigger, src/store/postgres-feed-listener.ts) that wakes the other process's follower at
once, so the window is a few round trips, not a poll; the poll remains the bound when the notification is lost.`;
}

function generatorTable(results: BenchResults): string {
  const lines = [header(["Server", "Conc.", "Load generator", "req/s", "server CPU", "generator CPU", "note"])];
  for (const limit of results.runs.filter((r) => (r.scenarioId === "limit-grpc-verify" || r.scenarioId === "limit-connect-verify") && r.level === "throughput" && r.round === 1)) {
    const tool = limit.protocol === "grpc" ? "harness, frame-level HTTP/2 client" : "harness, byte-level HTTP/1.1 client";
    lines.push(row([limit.target, limit.concurrency, tool, int(limit.result?.requestsPerSecond), cpu(limit.serverCpuPercent), cpu(limit.loadCpuPercent), "the limit run itself"]));
  }
  for (const check of results.generatorChecks) {
    lines.push(
      row([
        check.server,
        check.concurrency,
        check.tool,
        int(check.requestsPerSecond),
        cpu(check.serverCpuPercent),
        cpu(check.loadCpuPercent),
        check.note ?? "",
      ]),
    );
  }
  return lines.join("\n");
}

function profileSection(results: BenchResults): string {
  if (results.profiles.length === 0) return "";
  const sections = results.profiles.map(({ target, scenarios, summary }) => {
    const fns = summary.topFunctions.map((f) => row([`${f.percent}%`, int(f.selfMs), `\`${f.name}\``])).join("\n");
    const mods = summary.topModules.map((m) => row([`${m.percent}%`, int(m.selfMs), `\`${m.name}\``])).join("\n");
    return `### ${target} (${scenarios.join(", ")}): ${int(summary.busyMs)} ms busy, ${int(summary.idleMs)} ms idle
${header(["self", "ms", "function"])}
${fns}

${header(["self", "ms", "module"])}
${mods}
`;
  });
  return `## Server CPU profile (--cpu-prof)
Self time in percent of the server's busy time over its whole life (start-up, fixtures, every scenario it
served: profile one scenario with \`--only <id> --cpu-prof\`). Profiles: ${results.profiles.map((p) => `\`${path.relative(process.cwd(), p.summary.file)}\``).join(", ")}

${sections.join("\n")}
`;
}

export function renderMarkdown(results: BenchResults): string {
  const threshold = results.config.noiseThresholdPercent;
  const m = results.machine;
  const sigil = results.comparisons;
  const problems = results.runs.filter((r) => r.problems.length > 0).map((r) => `- ${r.title} (${r.concurrency}): ${r.problems.join("; ")}`);
  return `# Sigil benchmark

| | |
|---|---|
| date | ${results.date} |
| commit | ${results.commit} |
| mode | ${results.config.mode}: ${results.config.serverWarmupMs / 1000} s warm-up per server start; per run ${results.config.warmupMs / 1000} s warm-up + ${results.config.durationMs / 1000} s measured |
| machine | ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.kernel}, load average at start ${m.loadAverageAtStart.join(" / ")} |
| node | ${m.node} |
| run time | ${int(results.durationSeconds)} s |

## Setup
${results.setup.map((line) => `- ${line}`).join("\n")}
${results.datasets.map((d) => `- Database "${d.name}": ${int(d.keyCount)} keys, seeded with ${d.seededWith} in ${d.seedSeconds} s.`).join("\n")}

## Targets
${header(["Target", "Goal", "Measured", "Result"])}
${results.targets.map((t) => row([t.description, t.goal, t.measured + (t.note ? ` (${t.note})` : ""), t.status === "pass" ? "✅ pass" : t.status === "miss" ? "❌ miss" : "n/a"])).join("\n")}

## Sigil beside its limit, saturated
${comparisonTable(sigil.filter((c) => c.run.level === "throughput"), threshold)}

## Sigil beside its limit, one call at a time (1×1)
${comparisonTable(sigil.filter((c) => c.run.level === "latency"), threshold)}

Latencies in ms. "ratio" is Sigil's successful calls per second over the limit's calls per second at the same
concurrency; the limit of gRPC scenarios is the bare grpc-js server, that of Connect JSON the bare connect-node
server (HTTP/1.1). Errors are counted by gRPC status (an HTTP 200 with grpc-status ≠ 0 is an error). Peak RSS is
the server's VmHWM over the run (reset before each run). CPU is in percent of one core over the measured window;
"other CPU" is what anything else (other processes, steal) took on the two cores meanwhile: the noise of that run.

${featureCostSection(results, threshold)}${openLoopSection(results, threshold)}
## Limits
${limitTable(results.runs, threshold)}

## Verify latency against the number of stored keys
${keyCountTable(results)}

## Verify with many tenants
The same key count dealt out to 1,000 tenants (1,000 keys each in a full run), beside the single-tenant
scenarios of this run (issue #13: no more than 3% apart).

${tenantTable(results)}

${workersSection(results)}

${postgresSection(results)}

${revocationSection(results)}

## Load generator check
${generatorTable(results)}

The generator is not the bottleneck when the server's core is busy (server CPU near 100%) while the generator's
core is not, and when an independent generator (h2load) gets no more out of the same bare server.

${profileSection(results)}## Notes
${[...results.notes.map((n) => `- ${n}`), ...problems].join("\n") || "- none"}
`;
}
