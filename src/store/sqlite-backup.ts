import { randomBytes } from "node:crypto";
import { closeSync, constants, linkSync, openSync, statSync, unlinkSync } from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";

export interface SqliteBackupResult {
  readonly pages: number;
  readonly bytes: number;
}

/** The destination exists already: a backup never overwrites a file. */
export class BackupExistsError extends Error {
  override name = "BackupExistsError";
}

/**
 * A consistent copy of a live SQLite database (other processes may be writing it) with SQLite's
 * online backup API, through better-sqlite3's `backup()`. Every page is copied in one step, so the
 * copy is one snapshot; in WAL mode that step only reads, and writers go on meanwhile. The copy is
 * written to a new file of mode 0600 beside `destination`, checked (`PRAGMA quick_check`), and only
 * then linked into place, which fails if `destination` exists: the file there is complete or absent.
 */
export async function backupSqlite(source: string, destination: string, options: { busyTimeoutMs: number }): Promise<SqliteBackupResult> {
  if (exists(destination)) throw new BackupExistsError(`${destination} already exists; a backup never overwrites a file`);
  const temp = path.join(path.dirname(destination), `.${path.basename(destination)}.${randomBytes(6).toString("hex")}.tmp`);
  // Created 0600 before SQLite opens it: SQLite keeps an existing file's mode (and gives its journal the same).
  closeSync(openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
  try {
    const db = new BetterSqlite3(source, { fileMustExist: true });
    let pages: number;
    try {
      db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
      // Returning the largest step makes the rest of the copy one sqlite3_backup_step: one snapshot.
      const result = await db.backup(temp, { progress: () => 0x7fffffff });
      pages = result.totalPages;
    } finally {
      db.close();
    }
    const copy = new BetterSqlite3(temp, { fileMustExist: true });
    try {
      const check = copy.pragma("quick_check", { simple: true });
      if (check !== "ok") throw new Error(`the copy failed its integrity check (${String(check)})`);
    } finally {
      copy.close();
    }
    try {
      linkSync(temp, destination);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new BackupExistsError(`${destination} already exists; a backup never overwrites a file`);
      throw err;
    }
    return { pages, bytes: statSync(destination).size };
  } finally {
    for (const file of [temp, `${temp}-journal`, `${temp}-wal`, `${temp}-shm`]) {
      try {
        unlinkSync(file);
      } catch {
        // Not there: moved into place, or never made.
      }
    }
  }
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
