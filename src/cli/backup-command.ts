import path from "node:path";
import { checkSqliteFiles, sqliteFile } from "../app/data-dir.js";
import { SETTINGS } from "../config/config.js";
import { BackupExistsError, backupSqlite } from "../store/sqlite-backup.js";
import { CliError, HELP_OPTION, parseCommandArgs, UsageError } from "./cli-args.js";
import type { CliContext } from "./cli-context.js";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, databaseConfig } from "./database-options.js";
import { OUTPUT_OPTIONS } from "./cli-output.js";
import { help } from "./cli-subcommands.js";

const BACKUP_HELP = `Usage: sigil backup <file> [options]

Writes a consistent copy of the SQLite database to <file> (a new file, mode 0600), also while
sigil serve is running and writing it. Back up the server secret as well (<data dir>/server-secret,
or SIGIL_SERVER_SECRET): without it no key, token or signing key in the copy can be used.
PostgreSQL databases are backed up with pg_dump instead (README: "Backup and restore").

Options:
${DATABASE_OPTIONS_HELP}
  --json                    print {"source": ..., "file": ..., "pages": ..., "bytes": ...} instead of text
`;

/** `sigil backup <file>`: an online copy of the SQLite database. Never prints a database URL. */
export async function backupCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const options = { ...HELP_OPTION, ...OUTPUT_OPTIONS, ...DATABASE_OPTIONS } as const;
  const { values, positionals } = parseCommandArgs("backup", args, options, { min: 1, max: 1, names: "the file to write" });
  if (values.help) return help(ctx, BACKUP_HELP);
  const config = databaseConfig(values, ctx.env);
  const source = sqliteFile(config.databaseUrl);
  if (source === undefined) {
    if (config.databaseUrl.startsWith("sqlite:")) throw new UsageError("backup: an in-memory database has nothing to back up");
    throw new UsageError(`backup: ${SETTINGS.databaseUrl.env} is a PostgreSQL database; back it up with pg_dump (README: "Backup and restore")`);
  }
  // The same rules as the server: a database others could have replaced is not worth a backup.
  checkSqliteFiles(source, config.dataDir);
  const destination = path.resolve(ctx.cwd, positionals[0]!);
  let result;
  try {
    result = await backupSqlite(source, destination, { busyTimeoutMs: config.sqliteBusyTimeoutMs });
  } catch (err) {
    if (err instanceof BackupExistsError) throw new CliError(`backup: ${err.message}`);
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`backup: ${e.code === "SQLITE_CANTOPEN" ? `${source} cannot be opened (is that the database?)` : e.code ? `${e.code}: ${e.message}` : e.message}`);
  }
  if (values.json) ctx.out.write(JSON.stringify({ source, file: destination, pages: result.pages, bytes: result.bytes }) + "\n");
  else {
    ctx.out.write(`backed up ${source} to ${destination} (${result.pages} pages, ${result.bytes} bytes, mode 0600)\n`);
    ctx.err.write("keep the server secret with it: without that secret no key in the backup verifies\n");
  }
  return 0;
}
