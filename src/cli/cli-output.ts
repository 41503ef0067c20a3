import { toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { durationMs, timestampDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { KeyStatus, type Key } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import type { KeySecret } from "../../clients/typescript/src/gen/sigil/v1/key_secret_pb.js";
import type { CreditsStatus, RateLimit, RateLimitStatus, UsageCredits } from "../../clients/typescript/src/gen/sigil/v1/usage_pb.js";
import { formatDurationMs } from "../config/duration.js";
import { UNSAFE_TEXT_CHARS } from "../service/request-validation.js";
import { DEFAULT_TENANT } from "../tenants/tenant-id.js";

/** Where a command writes: results to `out`, progress and notes to `err`. */
export interface CliStreams {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
}

/**
 * The two output styles: aligned human tables (default) or, with --json, the protobuf JSON of each
 * response message, one object per line, so scripts can read it with jq.
 */
export class CliOutput {
  constructor(
    private readonly streams: CliStreams,
    readonly json: boolean,
  ) {}

  /** One response message as a JSON line (only in --json mode). */
  message<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void {
    // Implicit fields too: scripts read `.valid` as false rather than as missing.
    this.streams.out.write(jsonPrintable(toJsonString(schema, message, { alwaysEmitImplicit: true })) + "\n");
  }

  /** Label/value pairs, one per line, labels padded to one width. */
  fields(rows: ReadonlyArray<readonly [label: string, value: string]>): void {
    const width = Math.max(0, ...rows.map(([label]) => label.length));
    this.streams.out.write(rows.map(([label, value]) => `${label.padEnd(width)}  ${printable(value)}`.trimEnd() + "\n").join(""));
  }

  /** A table with a header row and columns aligned to their widest cell. */
  table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
    this.streams.out.write(alignedLines(headers, rows.map((r) => r.map(printable))).join("\n") + "\n");
  }

  /** A plain line of output. */
  line(text: string): void {
    this.streams.out.write(printable(text) + "\n");
  }

  /** A note or progress line on stderr, kept out of the result stream in both modes. */
  note(text: string): void {
    this.streams.err.write(printable(text) + "\n");
  }
}

/** Header and rows as lines, columns padded to their widest cell (the last one is not padded). */
export function alignedLines(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const cells = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

const UNSAFE_TEXT = new RegExp(UNSAFE_TEXT_CHARS.source, "g");

/**
 * Escapes the characters the server refuses in text fields (controls, C1, bidirectional formatting):
 * rows written before it refused them, or by another server, must not drive the terminal or reorder
 * what it shows. `\x1b` for a code point below 0x100, `\u202e` above.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE_TEXT, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * The same characters as JSON escapes, which jq reads back as the same text: they can only occur
 * inside JSON strings, where `\u202e` means U+202E.
 */
function jsonPrintable(json: string): string {
  return json.replace(UNSAFE_TEXT, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** An ISO 8601 UTC time, or "-" when unset. */
export function formatTime(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString() : "-";
}

/** An enum value's name without its prefix (protobuf-es strips it), lowercase; "-" when unset. */
export function formatEnum(names: Record<number, string>, value: number): string {
  if (value === 0) return "-";
  return (names[value] ?? String(value)).toLowerCase();
}

export function formatList(values: readonly string[]): string {
  return values.length === 0 ? "-" : values.join(",");
}

export function formatMetadata(metadata: Readonly<Record<string, string>>): string {
  const entries = Object.entries(metadata).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "-" : entries.map(([k, v]) => `${k}=${v}`).join(" ");
}

/** The public record of a key as label/value rows (never holds a secret: Key has none). */
export function keyFields(key: Key): Array<[string, string]> {
  return [
    ["key_id", key.keyId],
    ["name", key.name],
    ["owner", key.owner],
    // Only keys of another tenant say so: single-tenant output stays as it was.
    ...(key.tenantId && key.tenantId !== DEFAULT_TENANT ? [["tenant", key.tenantId] as [string, string]] : []),
    ["status", formatEnum(KeyStatus, key.status)],
    ["enabled", String(key.enabled)],
    ["scopes", formatList(key.scopes)],
    ["metadata", formatMetadata(key.metadata)],
    ["prefix", key.prefix],
    ["imported", String(key.imported)],
    ["created", formatTime(key.createTime)],
    ["updated", formatTime(key.updateTime)],
    ["last_used", formatTime(key.lastUseTime)],
    ["expires", formatTime(key.expireTime)],
    ["revoked", formatTime(key.revokeTime)],
    ...(key.revokeReason ? [["revoke_reason", key.revokeReason] as [string, string]] : []),
    ["rate_limit", formatRateLimit(key.rateLimit)],
    ["credits", formatCredits(key.credits)],
    ["networks", key.allowedNetworks.length === 0 ? "any" : key.allowedNetworks.join(",")],
    // Public facts about each secret (one, or two during a rotation's grace period), never the secret.
    ["key_secrets", key.secrets.length === 0 ? "-" : key.secrets.map(formatSecret).join("; ")],
  ];
}

/** A lifetime to the second, in the largest units that fit: 1h, 12m30s, 2d3h. */
export function formatLifetime(ms: number): string {
  let rest = Math.max(0, Math.round(ms / 1000));
  if (rest === 0) return "0s";
  let text = "";
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}

export function formatDuration(d: Duration | undefined): string {
  return d ? formatDurationMs(durationMs(d)) : "-";
}

/** `100/1s burst 200`, or "-" without a limit. */
export function formatRateLimit(limit: RateLimit | undefined): string {
  if (!limit) return "-";
  return `${limit.requests}/${formatDuration(limit.window)}${limit.burst ? ` burst ${limit.burst}` : ""}`;
}

/** `950 left, refill 1000/1d, next <time>`, or "-" for a key that is not metered. */
export function formatCredits(credits: UsageCredits | undefined): string {
  if (!credits) return "-";
  const refill = credits.refillInterval ? `, refill ${credits.refillAmount}/${formatDuration(credits.refillInterval)}, next ${formatTime(credits.nextRefillTime)}` : "";
  return `${credits.remaining} left${refill}`;
}

/** One secret's public facts: which one it is (hint), whether current, and its grace period. */
function formatSecret(secret: KeySecret): string {
  return [
    secret.hint ? `…${secret.hint}` : "(no hint)",
    secret.current ? "current" : "previous",
    `created ${formatTime(secret.createTime)}`,
    ...(secret.expireTime ? [`until ${formatTime(secret.expireTime)}`] : []),
    ...(secret.imported ? ["imported"] : []),
  ].join(" ");
}

export function formatRateLimitStatus(status: RateLimitStatus | undefined): string {
  if (!status) return "-";
  return `${status.remaining}/${status.limit} left, full at ${formatTime(status.resetTime)}${status.retryTime ? `, retry at ${formatTime(status.retryTime)}` : ""}`;
}

export function formatCreditsStatus(status: CreditsStatus | undefined): string {
  if (!status) return "-";
  return `${status.remaining} left${status.nextRefillTime ? `, refill at ${formatTime(status.nextRefillTime)}` : ""}`;
}

export const KEY_TABLE_HEADERS = ["KEY ID", "NAME", "OWNER", "STATUS", "SCOPES", "CREATED", "EXPIRES"] as const;

export function keyTableRow(key: Key): string[] {
  return [key.keyId, key.name, key.owner, formatEnum(KeyStatus, key.status), formatList(key.scopes), formatTime(key.createTime), formatTime(key.expireTime)];
}

/** The --json option of every command that prints results. */
export const OUTPUT_OPTIONS = { json: { type: "boolean" } } as const;

export const OUTPUT_HELP = `Output:
  --json                    one protobuf JSON object per response, one per line (default: a table)`;
