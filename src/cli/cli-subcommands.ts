import { closestWord, UsageError } from "./cli-args.js";
import type { CliContext } from "./cli-context.js";

/** One subcommand of a command group (`sigil keys issue`, ...). */
export interface Subcommand {
  readonly summary: string;
  run(args: readonly string[], ctx: CliContext): Promise<number>;
}

/** Runs `<group> <subcommand> [args]`, or prints the group's help. */
export async function runSubcommand(
  group: string,
  description: string,
  subcommands: Readonly<Record<string, Subcommand>>,
  args: readonly string[],
  ctx: CliContext,
): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const width = Math.max(...Object.keys(subcommands).map((n) => n.length));
    // Asked-for help is a result (stdout, exit 0); a missing subcommand is a usage error (stderr, exit 2).
    (name === undefined ? ctx.err : ctx.out).write(
      `Usage: sigil ${group} <command> [options]\n\n${description}\n\nCommands:\n` +
        Object.entries(subcommands)
          .map(([n, s]) => `  ${n.padEnd(width)}  ${s.summary}\n`)
          .join("") +
        `\nRun sigil ${group} <command> --help for its options.\n`,
    );
    return name === undefined ? 2 : 0;
  }
  const subcommand = Object.hasOwn(subcommands, name) ? subcommands[name] : undefined;
  if (!subcommand) throw new UsageError(`${group}: ${unknownCommand(name, Object.keys(subcommands))} (see sigil ${group} --help)`);
  return subcommand.run(rest, ctx);
}

/**
 * Says a command is unknown without quoting it (it could be a pasted credential): only a known
 * command it resembles is named.
 */
export function unknownCommand(word: string, known: readonly string[]): string {
  const like = closestWord(word, known);
  return like ? `unknown command; did you mean ${like}?` : `unknown command; the commands are ${known.join(", ")}`;
}

/** Prints a command's --help text; asked-for help is a result, so stdout and exit code 0. */
export function help(ctx: CliContext, text: string): number {
  ctx.out.write(text);
  return 0;
}
