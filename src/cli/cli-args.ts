import { parseArgs, type ParseArgsConfig } from "node:util";
import { formatDurationMs, parseDurationMs } from "../config/duration.js";

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
 * errors). No error echoes what was typed (a key pasted in the wrong place would be printed): it
 * names only options the command knows.
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
    throw new UsageError(`${command}: ${describeParseError(err as NodeJS.ErrnoException, args, Object.keys(options))} (see sigil ${command} --help)`);
  }
  const count = parsed.positionals.length;
  const help = (parsed.values as Record<string, unknown>)["help"] === true;
  if (!help && (count < positionals.min || count > positionals.max)) {
    const expected = positionals.max === 0 ? "no arguments" : positionals.names;
    throw new UsageError(`${command}: expected ${expected}, got ${count} argument${count === 1 ? "" : "s"} (see sigil ${command} --help)`);
  }
  return { values: parsed.values as ParsedCommand<T>["values"], positionals: parsed.positionals };
}

/**
 * util.parseArgs quotes an unknown option as typed (`--sgl_…` when a key lost its flag), so its
 * message is rebuilt here: a known option is named, an unknown one only by the known one it
 * resembles.
 */
function describeParseError(err: NodeJS.ErrnoException, args: readonly string[], known: readonly string[]): string {
  const quoted = /'(-{1,2}[^' ]*)/.exec(err.message)?.[1] ?? "";
  const name = quoted.replace(/^-+/, "");
  const isKnown = known.includes(name) && quoted.startsWith("--");
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const like = closestWord(name, known);
      return `unknown option${like ? `; did you mean --${like}?` : ""}`;
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (!isKnown) return "an option is missing its value or has one it does not take";
      return /does not take an argument/.test(err.message) ? `--${name} takes no value` : `--${name} needs a value (for one starting with -, write --${name}=<value>)`;
    default:
      return args.length > 0 ? "cannot parse the arguments" : "no arguments";
  }
}

/** The known word within two edits of `word` (a typo of it), or undefined; never `word` itself unless known. */
export function closestWord(word: string, known: readonly string[]): string | undefined {
  let best: { word: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate);
    if (distance <= 2 && distance < (best?.distance ?? Infinity)) best = { word: candidate, distance };
  }
  return best?.word;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * A duration flag ("30s", "15m", "1h", "7d") in milliseconds, within [min, max]: the bounds the
 * server applies, said in the flag's units before anything is sent.
 */
export function parseDurationFlag(flag: string, text: string, minMs: number, maxMs: number): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new UsageError(`${flag} must be a duration like 30s, 15m, 1h or 7d`);
  if (ms > maxMs) throw new UsageError(`${flag} must be at most ${describeMs(maxMs)}`);
  if (ms < minMs) throw new UsageError(`${flag} must be at least ${describeMs(minMs)}`);
  return ms;
}

function describeMs(ms: number): string {
  return ms === 0 ? "0s" : formatDurationMs(ms);
}

/** A whole-number flag within [min, max]. */
export function parseIntegerFlag(flag: string, text: string, min: number, max: number): number {
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`${flag} must be a whole number`);
  const n = Number(text);
  if (n > max) throw new UsageError(`${flag} must be at most ${max}`);
  if (n < min) throw new UsageError(`${flag} must be at least ${min}`);
  return n;
}

/** An RFC 3339 / ISO 8601 time with an explicit zone, for example 2030-01-01T00:00:00Z. */
export function parseTimeFlag(flag: string, text: string): Date {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be a time like 2030-01-31T12:00:00Z`);
  return new Date(ms);
}

/** A key's expiry: a time in the future, at most `maxAheadMs` from now (the server's bound). */
export function parseExpireTimeFlag(flag: string, text: string, nowMs: number, maxAheadMs: number): Date {
  const time = parseTimeFlag(flag, text);
  if (time.getTime() <= nowMs) throw new UsageError(`${flag} must be in the future`);
  if (time.getTime() > nowMs + maxAheadMs) throw new UsageError(`${flag} must be at most ${describeMs(maxAheadMs)} from now`);
  return time;
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
    if (eq <= 0) throw new UsageError(`${flag} must be key=value`);
    const key = entry.slice(0, eq);
    if (Object.hasOwn(metadata, key)) throw new UsageError(`${flag} gives one key twice`);
    metadata[key] = entry.slice(eq + 1);
  }
  return metadata;
}

/** One of a fixed set of lowercase words, mapped to its value. */
export function parseChoice<T>(flag: string, text: string, choices: Readonly<Record<string, T>>): T {
  const value = Object.hasOwn(choices, text.toLowerCase()) ? choices[text.toLowerCase()] : undefined;
  if (value === undefined) throw new UsageError(`${flag} must be one of ${Object.keys(choices).join(", ")}`);
  return value;
}
