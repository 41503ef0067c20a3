import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { renderUsageReport, sparkline } from "../../src/cli/usage-chart.js";
import { GetKeyUsageResponseSchema, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";

const T = 1_800_000_000_000;
const HOUR = 3_600_000;

function series(counts: Array<[valid: number, revoked: number]>, keyId = "AAAAAAAAAAAAAAAA") {
  return create(GetKeyUsageResponseSchema, {
    keyId,
    startTime: timestampFromMs(T),
    endTime: timestampFromMs(T + counts.length * HOUR),
    bucket: durationFromMs(HOUR),
    buckets: counts.map(([valid, revoked], i) => ({
      startTime: timestampFromMs(T + i * HOUR),
      validCount: BigInt(valid),
      failedCount: BigInt(revoked),
      outcomes: [
        ...(valid ? [{ reason: VerifyReason.VALID, count: BigInt(valid) }] : []),
        ...(revoked ? [{ reason: VerifyReason.REVOKED, count: BigInt(revoked) }] : []),
      ],
    })),
  });
}

describe("sigil keys usage report", () => {
  it("plain ASCII: sparklines, a table and bars scaled to the busiest bucket", () => {
    const text = renderUsageReport(series([[0, 0], [10, 0], [30, 10], [0, 2]]), { fancy: false });
    assert.equal(
      text,
      [
        "verifications of key AAAAAAAAAAAAAAAA per 1h, 2027-01-15T08:00:00.000Z to 2027-01-15T12:00:00.000Z",
        "valid   | -@ |  total 40",
        "failed  |  @:|  total 12",
        "",
        "START                     VALID  FAILED  FAILURES",
        "2027-01-15T08:00:00.000Z  0      0       -",
        "2027-01-15T09:00:00.000Z  10     0       -           ##########",
        "2027-01-15T10:00:00.000Z  30     10      revoked=10  ##############################xxxxxxxxxx",
        "2027-01-15T11:00:00.000Z  0      2       revoked=2   xx",
        "",
      ].join("\n"),
    );
    assert.doesNotMatch(text, /[^\x20-\x7e\n]/, "nothing but printable ASCII");
  });

  it("on a terminal: Unicode blocks, valid in green and failed in red", () => {
    const text = renderUsageReport(series([[1, 0], [8, 8]]), { fancy: true });
    assert.match(text, /^valid {3}\|▂█\|  total 9$/m);
    assert.match(text, /\x1b\[32m█{20}\x1b\[0m\x1b\[31m█{20}\x1b\[0m$/m);
  });

  it("long series merge into at most 120 columns; the key id is escaped like any server text", () => {
    assert.equal(sparkline(Array.from({ length: 1440 }, () => 1), { fancy: false }).length, 122);
    assert.match(renderUsageReport(series([[1, 0]], "AAAA\x1b[2J"), { fancy: false }), /^verifications of key AAAA\\x1b\[2J per/);
  });
});
