// `make bench-talos`: Ory Talos's published k6 stress profile run against Sigil (SQLite and
// PostgreSQL, 1 and 2 workers), with the same figures Talos reports, beside Talos's own (issue #14
// item 5). Writes bench/results/talos.{json,md}. `--scale 0.1` runs the same shape in a tenth of the
// time (a check of the harness; its figures are not comparable and the report says so);
// `--only sqlite-1,postgres-2` picks setups.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { LOAD_CPUS, SERVER_CPUS, WORKERS_SERVER_CPUS } from "../config.js";
import { pinThisProcess } from "../pinning.js";
import { summarizeCpuProfile } from "../report/cpu-profile.js";
import { startPostgres, postgresUnavailable, type BenchPostgres } from "../servers/postgres-server.js";
import { processTree, readPeakRssKb, readTreeCpuSeconds } from "../servers/proc-stats.js";
import { startSigil, stopSigil, type SigilInstance } from "../servers/sigil-server.js";
import { TENANT_A, TENANT_B, type TalosContext, type TalosFixtures, type TalosKey } from "./iterations.js";
import { TalosRecorder, type TalosSummary } from "./recorder.js";
import { runStressProfile } from "./run-profile.js";
import { peakVus, profileDurationMs, scaleProfile, TALOS_REFERENCE, TALOS_STRESS } from "./stress-profile.js";
import { renderTalosReport, type TalosSetupResult } from "./talos-report.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
const SETUPS = [
  { id: "sqlite-1", dialect: "sqlite", workers: 1 },
  { id: "sqlite-2", dialect: "sqlite", workers: 2 },
  { id: "postgres-1", dialect: "postgres", workers: 1 },
  { id: "postgres-2", dialect: "postgres", workers: 2 },
] as const;

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

const scale = Number(argValue("--scale") ?? "1");
if (!(scale > 0 && scale <= 1)) throw new Error("--scale must be in (0, 1]");
const only = argValue("--only")?.split(",") ?? SETUPS.map((s) => s.id);
/** Run Sigil under `node --cpu-prof` and print where its time went in this mix. */
const cpuProfile = process.argv.includes("--cpu-prof");
const profile = scale === 1 ? [...TALOS_STRESS] : scaleProfile(TALOS_STRESS, scale);
const runDir = path.join(RESULTS, "tmp", `talos-${new Date().toISOString().replace(/[:.]/g, "-")}`);
mkdirSync(runDir, { recursive: true });
const pinProblem = pinThisProcess(LOAD_CPUS);

async function fixtures(admin: SigilClient, runId: string): Promise<TalosFixtures> {
  const issue = async (name: string, owner: string, scopes: string[]): Promise<TalosKey> => {
    const res = await admin.issueKey({ name, owner, scopes, metadata: { pool: "setup", run_id: runId } });
    return { keyId: res.key!.keyId, secret: res.secret, owner };
  };
  await admin.createTenant({ tenantId: TENANT_A, displayName: "Tenant A" });
  await admin.createTenant({ tenantId: TENANT_B, displayName: "Tenant B" });
  const readKeys = await Promise.all(Array.from({ length: 10 }, (_, i) => issue(`Read Key ${runId}_${i}`, `read-service-${runId}-${i}`, ["read", "write"])));
  const importedReadKeys = await Promise.all(
    Array.from({ length: 5 }, async (_, i) => {
      const rawKey = `sk_import_read_${runId}_${i}_${"x".repeat(20)}`;
      const res = await admin.importKey({ keyMaterial: { case: "rawKey", value: rawKey }, name: `Imported Read Key ${runId}_${i}`, owner: `import-read-${runId}-${i}`, scopes: ["read"] });
      return { keyId: res.key!.keyId, rawKey };
    }),
  );
  const revokedKeys = await Promise.all(Array.from({ length: 3 }, (_, i) => issue(`Revoked Key ${runId}_${i}`, `revoked-service-${runId}-${i}`, ["read"])));
  for (const key of revokedKeys) await admin.revokeKey({ keyId: key.keyId, reason: "key compromise" });
  const macaroonKey = await issue(`Macaroon Key ${runId}`, `macaroon-${runId}`, ["read", "write"]);
  const batchBoundaryKeys = await Promise.all(Array.from({ length: 100 }, (_, i) => issue(`Batch Boundary ${runId}_${i}`, `batch-boundary-${runId}`, ["read"])));
  return { readKeys, importedReadKeys, revokedKeys, macaroonKey, batchBoundaryKeys };
}

async function runSetup(setup: (typeof SETUPS)[number]): Promise<TalosSetupResult> {
  let postgres: BenchPostgres | undefined;
  let sigil: SigilInstance | undefined;
  try {
    if (setup.dialect === "postgres") postgres = await startPostgres();
    sigil = await startSigil({
      dataDir: path.join(runDir, `data-${setup.id}`),
      cpus: setup.workers === 1 ? SERVER_CPUS : WORKERS_SERVER_CPUS,
      logFile: path.join(runDir, `sigil-${setup.id}.log`),
      workers: setup.workers,
      ...(postgres ? { databaseUrl: postgres.databaseUrl } : {}),
      // Every VU verifies made-up and revoked imported key strings from 127.0.0.1, which the
      // per-client failure throttle would (rightly) slow down; Talos has no such throttle.
      env: { SIGIL_VERIFY_FAILURE_BURST: "1000000" },
      ...(cpuProfile ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir(setup.id)}`] } : {}),
    });
    const httpUrl = `http://127.0.0.1:${sigil.httpPort}`;
    const client = (adminKey?: string) => createSigilClient({ baseUrl: httpUrl, protocol: "connect", useJson: true, ...(adminKey ? { adminKey } : {}) });
    const admin = client(sigil.adminKey);
    const runId = Date.now().toString(36);
    const setupData = await fixtures(admin, runId);
    const recorder = new TalosRecorder();
    const ctx: TalosContext = { admin, anonymous: client(), authorizedBy: (credential) => client(credential), httpUrl, runId, fixtures: setupData, rec: recorder };
    process.stderr.write(`talos profile on ${setup.id}: ${Math.round(profileDurationMs(profile) / 1000)} s, up to ${peakVus(profile)} VUs…\n`);
    const serverPids = () => processTree([sigil!.process.pid]);
    const cpuBefore = { server: readTreeCpuSeconds([sigil.process.pid]) ?? 0, generator: process.cpuUsage(), at: performance.now() };
    await runStressProfile(profile, ctx);
    const wallSeconds = (performance.now() - cpuBefore.at) / 1000;
    const generatorCpu = process.cpuUsage(cpuBefore.generator);
    const cpu = {
      serverPercent: Math.round((((readTreeCpuSeconds([sigil.process.pid]) ?? 0) - cpuBefore.server) / wallSeconds) * 100),
      generatorPercent: Math.round(((generatorCpu.user + generatorCpu.system) / 1e6 / wallSeconds) * 100),
      serverProcesses: serverPids().length,
    };
    const summary: TalosSummary = recorder.summary();
    recorder.destroy();
    // Summed over the supervisor and its workers, as the main bench reports it.
    const rssKb = processTree([sigil.process.pid]).reduce((sum, pid) => sum + (readPeakRssKb(pid) ?? 0), 0) || undefined;
    process.stderr.write(`  ${summary.totalRequests} requests, peak ${summary.peakThroughput} req/s, verify p95 ${summary.verify.p95} ms p99 ${summary.verify.p99} ms, errors ${summary.errorRatePercent}%, checks failed ${summary.checks.failed}\n`);
    for (const op of summary.operations.slice(0, 6)) process.stderr.write(`  ${op.operation}: ${op.requests} requests, p50 ${op.p50} ms, p99 ${op.p99} ms\n`);
    process.stderr.write(`  CPU: server ${cpu.serverPercent}% (${cpu.serverProcesses} processes), load generator ${cpu.generatorPercent}%\n`);
    return { id: setup.id, dialect: setup.dialect, workers: setup.workers, summary, cpu, ...(rssKb === undefined ? {} : { peakRssMb: Math.round(rssKb / 1024) }) };
  } finally {
    if (sigil) await stopSigil(sigil);
    postgres?.destroy();
    if (cpuProfile) printProfiles(setup.id);
  }
}

const profileDir = (id: string) => path.join(runDir, "profiles", id);

/** Node writes a profile per process when it exits (with workers: the supervisor's and each worker's). */
function printProfiles(id: string): void {
  const dir = profileDir(id);
  for (const file of existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")) : []) {
    const summary = summarizeCpuProfile(path.join(dir, file), 25);
    process.stderr.write(`CPU profile of ${id} (${summary.busyMs} ms busy): ${summary.file}\n`);
    for (const m of summary.topModules) process.stderr.write(`  ${m.percent}%  ${m.name}\n`);
    for (const f of summary.topFunctions) process.stderr.write(`  ${f.percent}%  ${f.name}\n`);
  }
}

const results: TalosSetupResult[] = [];
for (const setup of SETUPS.filter((s) => only.includes(s.id))) {
  if (setup.dialect === "postgres" && postgresUnavailable()) {
    process.stderr.write(`skipping ${setup.id}: ${postgresUnavailable()}\n`);
    continue;
  }
  results.push(await runSetup(setup));
}
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}; load generator pinned to CPU ${LOAD_CPUS}${pinProblem ? ` (pinning failed: ${pinProblem})` : ""}`;
const report = { generatedAt: new Date().toISOString(), scale, machine, reference: TALOS_REFERENCE, peakVus: peakVus(profile), results };
const outName = scale === 1 ? "talos" : "talos-scaled";
writeFileSync(path.join(RESULTS, `${outName}.json`), JSON.stringify(report, null, 2) + "\n");
writeFileSync(path.join(RESULTS, `${outName}.md`), renderTalosReport(report));
process.stderr.write(`wrote bench/results/${outName}.{json,md}\n`);
