import { Code, ConnectError } from "@connectrpc/connect";
import { CliError, UsageError } from "./cli-args.js";
import { printable } from "./cli-output.js";

/** How a failed command ends: one line for stderr and the exit code. */
export interface CliFailure {
  readonly line: string;
  readonly exitCode: number;
}

/**
 * Maps any failure to one line: `sigil: <CODE>: <message>` for server errors (exit 1), `sigil: <message>`
 * for usage errors (exit 2) and local failures (exit 1). Messages come from our own code or the
 * server, neither of which puts secrets in them.
 */
export function describeFailure(err: unknown): CliFailure {
  if (err instanceof UsageError) return { line: `sigil: ${oneLine(err.message)}`, exitCode: 2 };
  if (err instanceof CliError) return { line: `sigil: ${oneLine(err.message)}`, exitCode: 1 };
  if (err instanceof ConnectError && err.cause instanceof CliError) return { line: `sigil: ${oneLine(err.cause.message)}`, exitCode: 1 };
  if (err instanceof ConnectError) {
    // The usual cause: an admin command sent to an instance started with --mode verify.
    const hint = err.code === Code.Unimplemented ? " (a server started with --mode verify serves no admin commands; use an admin instance)" : "";
    return { line: `sigil: ${codeName(err.code)}: ${oneLine(err.rawMessage)}${hint}`, exitCode: 1 };
  }
  return { line: `sigil: ${oneLine(err instanceof Error ? err.message : String(err))}`, exitCode: 1 };
}

/** `Code.InvalidArgument` → `INVALID_ARGUMENT`, the name gRPC tools print. */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** One line, with what could drive the terminal escaped (server messages can carry stored text). */
function oneLine(text: string): string {
  return printable(text.replace(/\s*[\r\n]+\s*/g, " ").trim()) || "unknown error";
}
