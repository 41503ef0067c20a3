// `node dist/bench/offline-verify.js [--quick]`: OfflineVerifier.verify of derived JWTs in-process,
// per core (this process pinned to core 1, Sigil on core 0 only serving the JWKS and the feed), for
// tokens never seen before and for a token seen before, beside jose.jwtVerify alone on the same
// tokens and key set (the limit). Issue 14's goals: new tokens ≥ 90% of jose, repeated ≥ 1,000,000/s.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";
import { TokenFormat } from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { createSigilClient, OfflineVerifier } from "../clients/typescript/src/index.js";
import { LOAD_CPUS, SERVER_CPUS } from "./config.js";
import { pinThisProcess } from "./pinning.js";
import { startSigil, stopSigil } from "./servers/sigil-server.js";

const quick = process.argv.includes("--quick");
const TOKENS = quick ? 2_000 : 20_000;
const REPEATS = quick ? 200_000 : 2_000_000;
const ROUNDS = quick ? 3 : 5;
const GOALS = { newOfJose: 0.9, repeatedPerSecond: 1_000_000 };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Calls per second of `verifyAll`, which makes `calls` calls; the median of ROUNDS. */
async function rate(calls: number, verifyAll: (round: number) => Promise<void>): Promise<number> {
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    await verifyAll(round);
    rates.push(calls / (Number(process.hrtime.bigint() - started) / 1e9));
  }
  return median(rates);
}

const pinned = pinThisProcess(LOAD_CPUS);
if (pinned) console.log(`note: ${pinned}`);
const dir = mkdtempSync(path.join(tmpdir(), "sigil-offline-bench-"));
const sigil = await startSigil({ dataDir: path.join(dir, "data"), cpus: SERVER_CPUS, logFile: path.join(dir, "sigil.log") });
const verifiers: OfflineVerifier[] = [];
try {
  const baseUrl = `http://127.0.0.1:${sigil.grpcPort}`;
  const admin = createSigilClient({ baseUrl, adminKey: sigil.adminKey });
  const parent = await admin.issueKey({ name: "bench parent", owner: "svc:bench", scopes: ["orders:read"] });
  const watcher = await admin.issueKey({ name: "bench verifier", owner: "svc:bench", scopes: ["sigil:verify"] });
  console.log(`deriving ${TOKENS.toLocaleString("en-US")} JWTs…`);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i += 64) {
    const batch = Array.from({ length: Math.min(64, TOKENS - i) }, () => admin.deriveToken({ credential: parent.secret, format: TokenFormat.JWT }));
    for (const derived of await Promise.all(batch)) tokens.push(derived.token);
  }
  const jwks = createLocalJWKSet({ keys: (await admin.getJwks({})).keys.map((k) => ({ kty: k.kty, crv: k.crv, x: k.x, kid: k.kid, alg: k.alg }) as JWK) });
  const joseOptions = { algorithms: ["EdDSA"], issuer: "sigil" };

  const start = async (maxCachedTokens: number): Promise<OfflineVerifier> => {
    const verifier = new OfflineVerifier({ baseUrl, credential: watcher.secret, maxCachedTokens });
    verifiers.push(verifier);
    await verifier.start();
    return verifier;
  };
  const mustVerify = (valid: boolean): void => {
    if (!valid) throw new Error("a token did not verify");
  };

  const jose = await rate(TOKENS, async () => {
    for (const token of tokens) mustVerify((await jwtVerify(token, jwks, joseOptions)).payload.key_id === parent.key!.keyId);
  });
  // A fresh verifier per round: every token is new to it.
  const fresh = await Promise.all(Array.from({ length: ROUNDS }, () => start(TOKENS)));
  const newTokens = await rate(TOKENS, async (round) => {
    const verifier = fresh[round]!;
    for (const token of tokens) mustVerify((await verifier.verify(token)).valid);
  });
  const seen = await start(10_000);
  const repeatedToken = tokens[0]!;
  mustVerify((await seen.verify(repeatedToken)).valid);
  const repeated = await rate(REPEATS, async () => {
    for (let i = 0; i < REPEATS; i++) mustVerify((await seen.verify(repeatedToken)).valid);
  });

  const fmt = (n: number): string => Math.round(n).toLocaleString("en-US").padStart(11);
  console.log(`offline verification, one core (median of ${ROUNDS} rounds; ${TOKENS.toLocaleString("en-US")} distinct tokens):`);
  console.log(`  jose.jwtVerify alone (the limit)     ${fmt(jose)} /s`);
  console.log(`  OfflineVerifier, new tokens          ${fmt(newTokens)} /s  (${Math.round((100 * newTokens) / jose)}% of jose)`);
  console.log(`  OfflineVerifier, token seen before   ${fmt(repeated)} /s`);
  const verdict = (ok: boolean): string => (ok ? "pass" : "miss");
  console.log(`${verdict(newTokens >= GOALS.newOfJose * jose)}  offline verify, new tokens: ${Math.round((100 * newTokens) / jose)}% of jose (goal ≥ ${GOALS.newOfJose * 100}%)`);
  console.log(`${verdict(repeated >= GOALS.repeatedPerSecond)}  offline verify, token seen before: ${fmt(repeated).trim()}/s (goal ≥ ${GOALS.repeatedPerSecond.toLocaleString("en-US")}/s)`);
} finally {
  await Promise.all(verifiers.map((v) => v.close()));
  await stopSigil(sigil);
  rmSync(dir, { recursive: true, force: true });
}
// The admin client's HTTP/2 session would keep the process alive.
process.exit(0);
