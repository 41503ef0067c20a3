// The revocation window: how long after RevokeKey returns on one process another process, which has
// the key cached, still accepts it. Each round issues a key through the revoker, verifies it through
// the verifier (so the verifier caches it), waits a random part of the change-feed poll interval (so
// revocations fall at every phase of the verifier's poll timer), revokes it, and then asks the
// verifier every PROBE_INTERVAL_MS until it answers REVOKED.
import { performance } from "node:perf_hooks";
import { VerifyReason } from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { SigilInstance } from "./servers/sigil-server.js";

/** Pause between the verifier's answer and the next probe: the resolution of each figure, with one call's latency. */
export const PROBE_INTERVAL_MS = 2;
/** A round that has not seen REVOKED after this long counts as a timeout. */
const GIVE_UP_MS = 10_000;

export interface RevocationWindow {
  id: string;
  title: string;
  /** How the processes and the database ran, in words. */
  setup: string;
  /** SIGIL_FEED_POLL_INTERVAL of the processes, in ms. */
  feedPollIntervalMs: number;
  probeIntervalMs: number;
  /** Revocations attempted. */
  rounds: number;
  /** ms from RevokeKey returning to the verifier's first REVOKED, per measured round, in order. */
  windowsMs: number[];
  medianMs?: number;
  p90Ms?: number;
  maxMs?: number;
  minMs?: number;
  /** Rounds where the verifier still accepted the key after GIVE_UP_MS. */
  timeouts: number;
  skipped?: string;
  problems: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Nearest-rank percentile of a sorted list. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** ms until `verifier` answers REVOKED for `credential`, probing from `start`; undefined past GIVE_UP_MS. */
async function msUntilRevoked(verifier: SigilInstance, credential: string, start: number): Promise<number | undefined> {
  for (;;) {
    const answer = await verifier.rpc.verifyKey({ credential });
    const now = performance.now();
    if (answer.reason === VerifyReason.REVOKED) return now - start;
    if (answer.reason !== VerifyReason.VALID) throw new Error(`verifier answered ${VerifyReason[answer.reason]} instead of VALID or REVOKED`);
    if (now - start > GIVE_UP_MS) return undefined;
    await sleep(PROBE_INTERVAL_MS);
  }
}

export async function measureRevocationWindow(
  window: Pick<RevocationWindow, "id" | "title" | "setup" | "feedPollIntervalMs">,
  revoker: SigilInstance,
  verifier: SigilInstance,
  rounds: number,
): Promise<RevocationWindow> {
  const result: RevocationWindow = { ...window, probeIntervalMs: PROBE_INTERVAL_MS, rounds, windowsMs: [], timeouts: 0, problems: [] };
  for (let round = 0; round < rounds; round++) {
    const issued = await revoker.rpc.issueKey(revoker.adminKey, { name: `bench revocation ${round}`, owner: "svc:bench", scopes: ["read"] });
    const keyId = issued.key?.keyId;
    if (keyId === undefined) throw new Error("IssueKey returned no key record");
    const before = await verifier.rpc.verifyKey({ credential: issued.secret });
    if (!before.valid) throw new Error(`the verifier rejected a fresh key (${VerifyReason[before.reason]})`);
    await sleep(Math.random() * window.feedPollIntervalMs);
    await revoker.rpc.revokeKey(revoker.adminKey, { keyId, reason: "bench revocation window" });
    const start = performance.now();
    const ms = await msUntilRevoked(verifier, issued.secret, start);
    if (ms === undefined) result.timeouts++;
    else result.windowsMs.push(round1(ms));
    // The revoking process itself must reject at once (checked after the timing, not to delay the probes).
    const own = await revoker.rpc.verifyKey({ credential: issued.secret });
    if (own.reason !== VerifyReason.REVOKED && result.problems.length < 5) {
      result.problems.push(`round ${round}: the revoking process answered ${VerifyReason[own.reason]} after RevokeKey`);
    }
  }
  if (result.windowsMs.length > 0) {
    const sorted = [...result.windowsMs].sort((a, b) => a - b);
    result.medianMs = percentile(sorted, 50);
    result.p90Ms = percentile(sorted, 90);
    result.maxMs = sorted[sorted.length - 1]!;
    result.minMs = sorted[0]!;
  }
  if (result.timeouts > 0) result.problems.push(`${result.timeouts} of ${rounds} revocations were still accepted after ${GIVE_UP_MS / 1000} s`);
  return result;
}
