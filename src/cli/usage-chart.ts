import { durationMs } from "@bufbuild/protobuf/wkt";
import { VerifyReason, type GetKeyUsageResponse, type KeyUsageBucket } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { formatDurationMs } from "../config/duration.js";
import { alignedLines, formatEnum, formatTime, printable } from "./cli-output.js";

/** How the report is drawn: Unicode blocks and ANSI colours on a terminal, plain ASCII otherwise. */
export interface ChartStyle {
  readonly fancy: boolean;
}

/** Widest bar, in characters, of the bucket with the most verifications. */
const BAR_WIDTH = 40;
/** Widest sparkline; longer series are merged into this many columns. */
const SPARK_WIDTH = 120;
const SPARK_UNICODE = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
const SPARK_ASCII = [".", ":", "-", "=", "+", "*", "#", "@"];
const GREEN = "\x1b[32m";
const RED = "\x1b[31m";
const RESET = "\x1b[0m";

/**
 * The usage series as text: a header, sparklines of valid and failed verifications, and a table
 * of the buckets, each row ending in a bar (valid, then failed). Besides the key id (escaped like
 * all server text), every character is the report's own: numbers, times, reason names, bars.
 */
export function renderUsageReport(usage: GetKeyUsageResponse, style: ChartStyle): string {
  const bucketMs = usage.bucket ? Number(durationMs(usage.bucket)) : 0;
  const subject = usage.keyId === "" ? "verifications that named no key" : `verifications of key ${printable(usage.keyId)}`;
  const buckets = usage.buckets;
  const valid = buckets.map((b) => Number(b.validCount));
  const failed = buckets.map((b) => Number(b.failedCount));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const lines = [
    `${subject} per ${formatDurationMs(bucketMs)}, ${formatTime(usage.startTime)} to ${formatTime(usage.endTime)}`,
    `valid   ${sparkline(valid, style)}  total ${sum(valid)}`,
    `failed  ${sparkline(failed, style)}  total ${sum(failed)}`,
    "",
  ];
  const most = Math.max(1, ...buckets.map((b, i) => valid[i]! + failed[i]!));
  const rows = buckets.map((b, i) => [formatTime(b.startTime), String(valid[i]), String(failed[i]), failureSummary(b), bar(valid[i]!, failed[i]!, most, style)]);
  lines.push(...alignedLines(["START", "VALID", "FAILED", "FAILURES", ""], rows));
  return lines.join("\n") + "\n";
}

/** `not_found=2 revoked=1`, or "-". */
function failureSummary(bucket: KeyUsageBucket): string {
  const failures = bucket.outcomes.filter((o) => o.reason !== VerifyReason.VALID);
  return failures.length === 0 ? "-" : failures.map((o) => `${formatEnum(VerifyReason, o.reason)}=${o.count}`).join(" ");
}

/** One row's bar: valid then failed, scaled to the busiest bucket; any count gets at least one character. */
function bar(valid: number, failed: number, most: number, style: ChartStyle): string {
  const width = (n: number) => (n === 0 ? 0 : Math.max(1, Math.round((n / most) * BAR_WIDTH)));
  const v = width(valid);
  const f = width(failed);
  if (!style.fancy) return "#".repeat(v) + "x".repeat(f);
  return (v > 0 ? GREEN + "█".repeat(v) + RESET : "") + (f > 0 ? RED + "█".repeat(f) + RESET : "");
}

/** One character per column (columns merge neighbouring buckets beyond SPARK_WIDTH); a blank for none. */
export function sparkline(values: readonly number[], style: ChartStyle): string {
  const perColumn = Math.max(1, Math.ceil(values.length / SPARK_WIDTH));
  const columns: number[] = [];
  for (let i = 0; i < values.length; i += perColumn) columns.push(values.slice(i, i + perColumn).reduce((a, b) => a + b, 0));
  const most = Math.max(0, ...columns);
  const levels = style.fancy ? SPARK_UNICODE : SPARK_ASCII;
  const text = columns.map((n) => (n === 0 ? " " : levels[Math.min(levels.length - 1, Math.floor((n / most) * (levels.length - 1) + 0.5))]!)).join("");
  return `|${text}|`;
}
