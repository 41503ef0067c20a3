#!/usr/bin/env node
import { serveCommand } from "./serve-command.js";

const USAGE = `Usage: sigil <command> [options]

Commands:
  serve     start the server (sigil serve --help for its options)
`;

/** Entry point of the `sigil` executable: dispatches to one command module. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return serveCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`sigil: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`sigil: ${err.message}\n`);
    process.exitCode = 1;
  },
);
