import assert from "node:assert/strict";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { SigilClient } from "../../clients/typescript/src/index.js";
import { formatApiKey } from "../../src/keys/api-key-format.js";
import { VerifyReason, type GetKeyUsageResponse, type VerifyKeyResponse } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";

/** Outcome name to count, e.g. { VALID: 12, REVOKED: 3 }. */
export type OutcomeCounts = Record<string, number>;

/**
 * What the callers saw: every answer to a verification, counted by outcome, under the key it was
 * about, or under "unattributed" for credentials that name no key. Usage analytics must report
 * exactly this.
 */
export class UsageTally {
  readonly byKey = new Map<string, OutcomeCounts>();
  readonly unattributed: OutcomeCounts = {};

  add(keyId: string | undefined, answer: VerifyKeyResponse): void {
    const counts = keyId === undefined ? this.unattributed : this.#forKey(keyId);
    const name = VerifyReason[answer.reason]!;
    counts[name] = (counts[name] ?? 0) + 1;
  }

  of(keyId: string): OutcomeCounts {
    return { ...(this.byKey.get(keyId) ?? {}) };
  }

  #forKey(keyId: string): OutcomeCounts {
    let counts = this.byKey.get(keyId);
    if (!counts) this.byKey.set(keyId, (counts = {}));
    return counts;
  }
}

/** A key to verify: its secret, id and the scopes it holds (`read`). */
export interface VerifiedKey {
  readonly secret: string;
  readonly keyId: string;
}

/**
 * One caller's mix of verifications through `client`: `n` valid, `n / 2` lacking a scope, 3 with a
 * wrong secret of the key's id, 2 malformed strings and an unknown key id (those name no key), and a
 * BatchVerifyKeys of a valid, an under-scoped and a malformed credential. Every answer goes into `tally`.
 */
export async function verifyMix(client: SigilClient, key: VerifiedKey, n: number, tally: UsageTally): Promise<void> {
  const expect = (answer: VerifyKeyResponse, reason: VerifyReason) => assert.equal(VerifyReason[answer.reason], VerifyReason[reason]);
  const calls: Array<Promise<void>> = [];
  const verify = (credential: string, keyId: string | undefined, reason: VerifyReason, requiredScopes: string[] = []) =>
    calls.push(
      client.verifyKey({ credential, requiredScopes }).then((answer) => {
        expect(answer, reason);
        tally.add(keyId, answer);
      }),
    );
  for (let i = 0; i < n; i++) verify(key.secret, key.keyId, VerifyReason.VALID, ["read"]);
  for (let i = 0; i < n / 2; i++) verify(key.secret, key.keyId, VerifyReason.INSUFFICIENT_SCOPE, ["write"]);
  for (let i = 0; i < 3; i++) verify(formatApiKey("sgl", key.keyId).key, key.keyId, VerifyReason.NOT_FOUND);
  verify("sgl_not_a_key", undefined, VerifyReason.MALFORMED);
  verify("short", undefined, VerifyReason.MALFORMED);
  verify(formatApiKey("sgl", "0000000000000000").key, undefined, VerifyReason.NOT_FOUND);
  calls.push(
    client
      .batchVerifyKeys({ requests: [{ credential: key.secret }, { credential: key.secret, requiredScopes: ["write"] }, { credential: "sgl_bad" }] })
      .then(({ results }) => {
        expect(results[0]!, VerifyReason.VALID);
        expect(results[1]!, VerifyReason.INSUFFICIENT_SCOPE);
        expect(results[2]!, VerifyReason.MALFORMED);
        tally.add(key.keyId, results[0]!);
        tally.add(key.keyId, results[1]!);
        tally.add(undefined, results[2]!);
      }),
  );
  await Promise.all(calls);
}

/** Verifies `key` through `client` until it answers REVOKED (the change feed reached that process), then twice more; every answer is tallied. */
export async function verifyUntilRevoked(client: SigilClient, key: VerifiedKey, tally: UsageTally): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let revoked = 0; revoked < 3; ) {
    const answer = await client.verifyKey({ credential: key.secret });
    tally.add(key.keyId, answer);
    if (answer.reason === VerifyReason.REVOKED) revoked++;
    else assert.ok(Date.now() < deadline, "the revocation reached the process within 10 s");
  }
}

/** The series summed over its buckets, by outcome name; checks that valid/failed agree with the outcomes. */
export function totals(usage: GetKeyUsageResponse): OutcomeCounts {
  const counts: OutcomeCounts = {};
  for (const bucket of usage.buckets) {
    let valid = 0n;
    let failed = 0n;
    for (const o of bucket.outcomes) {
      const name = VerifyReason[o.reason]!;
      counts[name] = (counts[name] ?? 0) + Number(o.count);
      if (o.reason === VerifyReason.VALID) valid += o.count;
      else failed += o.count;
    }
    assert.equal(bucket.validCount, valid);
    assert.equal(bucket.failedCount, failed);
  }
  return counts;
}

/** The last hour and the next minute, per minute: covers every verification a test made. */
export function recentRange(nowMs: number): { startTime: ReturnType<typeof timestampFromMs>; endTime: ReturnType<typeof timestampFromMs>; bucket: { seconds: bigint; nanos: number } } {
  return { startTime: timestampFromMs(nowMs - 3_600_000), endTime: timestampFromMs(nowMs + 60_000), bucket: { seconds: 60n, nanos: 0 } };
}

/** Polls GetKeyUsage until the key's (or the unattributed) series equals `expected`; fails with the last difference. */
export async function waitForSeries(admin: SigilClient, subject: { keyId: string } | { unattributed: true }, expected: OutcomeCounts, nowMs: () => number, timeoutMs = 10_000): Promise<GetKeyUsageResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const usage = await admin.getKeyUsage({ ...subject, ...recentRange(nowMs()) });
    const got = totals(usage);
    if (Date.now() > deadline) assert.deepEqual(got, expected, "the usage series equals what the callers saw");
    try {
      assert.deepEqual(got, expected);
      return usage;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
