import { prepareSqliteFiles } from "../app/data-dir.js";
import { migrateToLatest } from "../store/migrations.js";
import { openDatabase } from "../store/open-database.js";
import { HELP_OPTION, parseCommandArgs } from "./cli-args.js";
import type { CliContext } from "./cli-context.js";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, databaseConfig } from "./database-options.js";
import { OUTPUT_OPTIONS } from "./cli-output.js";
import { help } from "./cli-subcommands.js";

const MIGRATE_HELP = `Usage: sigil migrate [options]

Brings the database schema up to date without starting the server (sigil serve also does this at
start-up). Safe to run again: applied migrations are skipped.

Options:
${DATABASE_OPTIONS_HELP}
  --json                    print {"dialect": ..., "applied": [...]} instead of text
`;

/** `sigil migrate`: runs the code migrations against the configured database. Never prints the URL (it may hold a password). */
export async function migrateCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const options = { ...HELP_OPTION, ...OUTPUT_OPTIONS, ...DATABASE_OPTIONS } as const;
  const { values } = parseCommandArgs("migrate", args, options, { min: 0, max: 0, names: "" });
  if (values.help) return help(ctx, MIGRATE_HELP);
  const config = databaseConfig(values, ctx.env);
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
