#!/usr/bin/env node
import type { CliContext } from "./cli-context.js";
import { describeFailure } from "./cli-errors.js";
import { unknownCommand } from "./cli-subcommands.js";

const USAGE = `Usage: sigil <command> [options]

Commands:
  serve     start the server
  migrate   bring the database schema up to date without starting the server
  keys      issue, get, list, update, rotate, revoke and import API keys, and show their usage (admin)
  tokens    derive short-lived JWTs and macaroons from an API key
  verify    verify an API key, JWT or macaroon
  audit     list the audit trail of key changes (admin)
  signing-keys  list and rotate the JWT signing keys (admin)
  tenants   create, get, list, update and delete tenants (admin)
  backup    copy a running server's SQLite database to a file, consistently

Run sigil <command> --help for its options; sigil --version prints the version. Every command that prints results takes --json.
Errors are one line on stderr; exit codes: 0 ok, 1 error, 2 usage error, 3 credential not valid (verify).
`;

const COMMANDS = ["serve", "migrate", "keys", "tokens", "verify", "audit", "tenants", "help"];

/**
 * Entry point of the `sigil` executable: dispatches to one command module. Modules load on demand:
 * client commands then start without the server's dependencies (database drivers, grpc-js, ...).
 */
async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return (await import("./serve-command.js")).serveCommand(rest);
    case "migrate":
      return (await import("./migrate-command.js")).migrateCommand(rest, ctx);
    case "keys":
      return (await import("./keys-command.js")).keysCommand(rest, ctx);
    case "tokens":
      return (await import("./tokens-command.js")).tokensCommand(rest, ctx);
    case "verify":
      return (await import("./verify-command.js")).verifyCommand(rest, ctx);
    case "audit":
      return (await import("./audit-command.js")).auditCommand(rest, ctx);
    case "signing-keys":
      return (await import("./signing-keys-command.js")).signingKeysCommand(rest, ctx);
    case "tenants":
      return (await import("./tenants-command.js")).tenantsCommand(rest, ctx);
    case "backup":
      return (await import("./backup-command.js")).backupCommand(rest, ctx);
    case "--version":
    case "-V":
    case "version":
      ctx.out.write(`sigil ${(await import("../app/version.js")).SIGIL_VERSION}\n`);
      return 0;
    case "help":
    case "--help":
    case "-h":
      ctx.out.write(USAGE);
      return 0;
    case undefined:
      ctx.err.write(USAGE);
      return 2;
    default:
      ctx.err.write(`sigil: ${unknownCommand(command, COMMANDS)}\n${USAGE}`);
      return 2;
  }
}

// `sigil keys list | head` closes stdout early; that is not an error worth a stack trace. (The
// server's stdout carries its log, whose failures are the logger's business: not for `serve`.)
if (process.argv[2] !== "serve") {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") process.stderr.write(`sigil: cannot write the output: ${err.code ?? err.message}\n`);
    process.exit(err.code === "EPIPE" ? (process.exitCode ?? 0) : 1);
  });
}

main(process.argv.slice(2), { env: process.env, cwd: process.cwd(), out: process.stdout, err: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const failure = describeFailure(err);
    process.stderr.write(failure.line + "\n");
    process.exitCode = failure.exitCode;
  },
);
