import { prepareSqliteFiles } from "../app/data-dir.js";
import { ConfigError, loadConfig, SETTINGS } from "../config/config.js";
import { migrateToLatest } from "../store/migrations.js";
import { openDatabase } from "../store/open-database.js";
import { HELP_OPTION, parseCommandArgs, UsageError } from "./cli-args.js";
import type { CliContext } from "./cli-context.js";
import { OUTPUT_OPTIONS } from "./cli-output.js";
import { help } from "./cli-subcommands.js";

const MIGRATE_HELP = `Usage: sigil migrate [options]

Brings the database schema up to date without starting the server (sigil serve also does this at
start-up). Safe to run again: applied migrations are skipped.

Options:
  ${(SETTINGS.dataDir.flag + " <path>").padEnd(26)}${SETTINGS.dataDir.env.padEnd(20)} ${SETTINGS.dataDir.help} (default: ${SETTINGS.dataDir.defaultText})
  ${(SETTINGS.databaseUrl.flag + " <url>").padEnd(26)}${SETTINGS.databaseUrl.env.padEnd(20)} ${SETTINGS.databaseUrl.help} (default: ${SETTINGS.databaseUrl.defaultText})
  --json                    print {"dialect": ..., "applied": [...]} instead of text
`;

/** `sigil migrate`: runs the code migrations against the configured database. Never prints the URL (it may hold a password). */
export async function migrateCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const options = { ...HELP_OPTION, ...OUTPUT_OPTIONS, "data-dir": { type: "string" }, "database-url": { type: "string" } } as const;
  const { values } = parseCommandArgs("migrate", args, options, { min: 0, max: 0, names: "" });
  if (values.help) return help(ctx, MIGRATE_HELP);
  const flags = [
    ...(values["data-dir"] !== undefined ? [SETTINGS.dataDir.flag, values["data-dir"]] : []),
    ...(values["database-url"] !== undefined ? [SETTINGS.databaseUrl.flag, values["database-url"]] : []),
  ];
  let config;
  try {
    config = loadConfig(flags, ctx.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  // A SQLite database and its directory must stay private to the server's user (data-dir.ts).
  prepareSqliteFiles(config.databaseUrl, config.dataDir);
  const { db, dialect } = openDatabase(config.databaseUrl);
  try {
    const applied = await migrateToLatest(db, dialect);
    if (values.json) ctx.out.write(JSON.stringify({ dialect, applied }) + "\n");
    else if (applied.length === 0) ctx.out.write(`${dialect} database is up to date\n`);
    else ctx.out.write(`${dialect} database migrated: ${applied.join(", ")}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}
