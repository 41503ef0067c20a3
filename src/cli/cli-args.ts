import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseDurationMs } from "../config/duration.js";

/** Wrong command-line usage: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A command failed for a reason other than the server's answer (unreadable file, bad input data): exit code 1. */
export class CliError extends Error {
  override name = "CliError";
}

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** The options every command accepts. */
export const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const satisfies OptionSpecs;

export interface ParsedCommand<T extends OptionSpecs> {
  readonly values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>["values"];
  readonly positionals: string[];
}

/**
 * Parses one command's arguments with Node's `util.parseArgs` (strict: unknown options are usage
 * errors). Positional values are never echoed in error messages: they may be credentials.
 */
export function parseCommandArgs<T extends OptionSpecs>(
  command: string,
  args: readonly string[],
  options: T,
  positionals: { readonly min: number; readonly max: number; readonly names: string },
): ParsedCommand<T> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    // Node's messages name the option, never its value; keep only the first sentence.
    const message = (err as Error).message.split(". ")[0]!;
    throw new UsageError(`${command}: ${message} (see sigil ${command} --help)`);
  }
  const count = parsed.positionals.length;
  const help = (parsed.values as Record<string, unknown>)["help"] === true;
  if (!help && (count < positionals.min || count > positionals.max)) {
    const expected = positionals.max === 0 ? "no arguments" : positionals.names;
    throw new UsageError(`${command}: expected ${expected}, got ${count} argument${count === 1 ? "" : "s"} (see sigil ${command} --help)`);
  }
  return { values: parsed.values as ParsedCommand<T>["values"], positionals: parsed.positionals };
}

/** A duration flag ("30s", "15m", "1h", "7d") in milliseconds, within [min, max]. */
export function parseDurationFlag(flag: string, text: string, minMs: number, maxMs: number): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new UsageError(`${flag} must be a duration like 30s, 15m, 1h or 7d, got "${text}"`);
  if (ms < minMs || ms > maxMs) throw new UsageError(`${flag} must be between ${describeMs(minMs)} and ${describeMs(maxMs)}, got "${text}"`);
  return ms;
}

function describeMs(ms: number): string {
  if (ms % 86_400_000 === 0 && ms >= 86_400_000) return `${ms / 86_400_000}d`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A whole-number flag within [min, max]. */
export function parseIntegerFlag(flag: string, text: string, min: number, max: number): number {
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`${flag} must be a whole number, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${flag} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** An RFC 3339 / ISO 8601 time with an explicit zone, for example 2030-01-01T00:00:00Z. */
export function parseTimeFlag(flag: string, text: string): Date {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be a time like 2030-01-31T12:00:00Z, got "${text}"`);
  return new Date(ms);
}

/** A list given as repeated flags and/or comma-separated values: `--scope a --scope b,c`. Drops duplicates. */
export function parseList(values: readonly string[] | undefined): string[] {
  const items = (values ?? []).flatMap((v) => v.split(",")).map((s) => s.trim()).filter((s) => s.length > 0);
  return [...new Set(items)];
}

export const parseScopes = parseList;

/** Metadata given as repeated `--meta key=value` flags. The server checks sizes and counts. */
export function parseMetadata(flag: string, values: readonly string[] | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const entry of values ?? []) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} must be key=value, got "${entry}"`);
    const key = entry.slice(0, eq);
    if (key in metadata) throw new UsageError(`${flag} gives "${key}" twice`);
    metadata[key] = entry.slice(eq + 1);
  }
  return metadata;
}

/** One of a fixed set of lowercase words, mapped to its value. */
export function parseChoice<T>(flag: string, text: string, choices: Readonly<Record<string, T>>): T {
  const value = Object.hasOwn(choices, text.toLowerCase()) ? choices[text.toLowerCase()] : undefined;
  if (value === undefined) throw new UsageError(`${flag} must be one of ${Object.keys(choices).join(", ")}, got "${text}"`);
  return value;
}
