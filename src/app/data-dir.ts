import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { SETTINGS } from "../config/config.js";
import {
  checkExistingPrivateFile,
  checkPrivateDirectory,
  createPrivateFileExclusive,
  ensurePrivateFile,
  errorCode,
  PrivateFileError,
  readPrivateFile,
} from "../config/private-files.js";
import { formatServerSecrets, generateSecretBytes, parseServerSecrets, type ServerSecrets } from "../keys/server-secrets.js";
import { settingLabel, StartupError } from "./startup-error.js";

export const SERVER_SECRET_FILE = "server-secret";
export const ADMIN_KEY_FILE = "admin.key";
/** Far more than any secrets spec needs; a bigger file is not ours. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

const DATA_DIR = settingLabel(SETTINGS.dataDir);

/** Runs a file check, turning its failure into one start-up line that names `setting`. */
function named<T>(setting: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof PrivateFileError) throw new StartupError(`${setting}: ${err.message}`);
    throw err;
  }
}

/**
 * Creates the data directory (mode 0700) if it is missing, and refuses one that others could
 * take over: it and every secret file in it must be the server user's and written by nobody
 * else, and the secret files must not be links (see config/private-files.ts).
 */
export function prepareDataDir(dir: string): void {
  makeDirectory(dir, DATA_DIR);
  named(DATA_DIR, () => {
    checkPrivateDirectory(dir);
    for (const name of [SERVER_SECRET_FILE, ADMIN_KEY_FILE]) checkExistingPrivateFile(path.join(dir, name), { secret: true });
  });
}

function makeDirectory(dir: string, setting: string): void {
  try {
    statSync(dir);
    return;
  } catch (err) {
    // ENOTDIR: a parent is a file, which mkdir reports as "cannot be created".
    if (errorCode(err) !== "ENOENT" && errorCode(err) !== "ENOTDIR") throw new StartupError(`${setting}: ${dir} cannot be read (${errorCode(err)})`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StartupError(`${setting}: ${dir} cannot be created (${errorCode(err)})`);
  }
}

/**
 * For a SQLite database: the same rules for its directory, the database and its -wal and -shm
 * files, and a database file created with mode 0600 before SQLite opens it (SQLite gives the -wal
 * and -shm files the database's mode). Nothing to do for PostgreSQL or an in-memory database.
 */
export function prepareSqliteFiles(databaseUrl: string, dataDir: string): void {
  const file = sqliteFile(databaseUrl);
  if (file === undefined) return;
  const setting = sqliteSetting(file, dataDir);
  makeDirectory(path.dirname(file), setting);
  checkSqliteFiles(file, dataDir);
  named(setting, () => ensurePrivateFile(file));
}

/** The same checks of an existing database's directory and files, creating nothing (for `sigil backup`). */
export function checkSqliteFiles(file: string, dataDir: string): void {
  named(sqliteSetting(file, dataDir), () => {
    checkPrivateDirectory(path.dirname(file));
    for (const suffix of ["", "-wal", "-shm"]) checkExistingPrivateFile(file + suffix, { secret: false });
  });
}

/** The database file of a `sqlite:<path>` URL; undefined for PostgreSQL and in-memory databases. */
export function sqliteFile(databaseUrl: string): string | undefined {
  if (!databaseUrl.startsWith("sqlite:")) return undefined;
  const location = databaseUrl.slice("sqlite:".length);
  return location === ":memory:" ? undefined : path.resolve(location);
}

/** A database outside the data directory is named by the setting that put it there. */
function sqliteSetting(file: string, dataDir: string): string {
  return path.dirname(file) === dataDir ? DATA_DIR : settingLabel(SETTINGS.databaseUrl);
}

/**
 * The server secrets: from configuration when given, else from `<data dir>/server-secret`,
 * generated there (mode 0600) on first start. The file is created complete and exclusively, so
 * concurrent first starts (several instances on one directory) agree on one secret.
 */
export function loadServerSecrets(configured: string | undefined, dataDir: string): ServerSecrets {
  if (configured !== undefined) return parseServerSecrets(configured);
  const file = path.join(dataDir, SERVER_SECRET_FILE);
  return named(DATA_DIR, () => {
    let content = readPrivateFile(file, MAX_SECRET_FILE_BYTES);
    if (content === undefined) {
      const generated = formatServerSecrets({ current: 1, byVersion: new Map([[1, generateSecretBytes()]]) }) + "\n";
      try {
        createPrivateFileExclusive(file, generated);
      } catch (err) {
        throw new PrivateFileError(`${file} cannot be created (${errorCode(err)})`);
      }
      content = readPrivateFile(file, MAX_SECRET_FILE_BYTES);
      if (content === undefined) throw new PrivateFileError(`${file} vanished while it was being created`);
    }
    try {
      return parseServerSecrets(content.toString("utf8").trim());
    } catch (err) {
      throw new PrivateFileError(`${file} is not a valid server secret: ${(err as Error).message}`);
    }
  });
}
