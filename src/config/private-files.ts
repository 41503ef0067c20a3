import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, fsyncSync, linkSync, lstatSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import path from "node:path";

/**
 * The rules for Sigil's local files (the data directory, the server secret, the first admin key,
 * the SQLite files and the *_FILE settings): they belong to the server's user, nobody else may
 * write them, and secret files are never followed through a symbolic link. Another local user who
 * could write one could plant a secret Sigil would use, or read the admin key Sigil writes.
 *
 * Errors are PrivateFileError with a message that names the path and what is wrong, never the
 * content; callers put the setting's name in front.
 */
export class PrivateFileError extends Error {
  override name = "PrivateFileError";
}

/** Mode bits that let someone other than the owner change a file, or a directory's entries. */
const WRITABLE_BY_OTHERS = 0o022;

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function serverUid(): number | undefined {
  return typeof process.geteuid === "function" ? process.geteuid() : undefined;
}

/** What is wrong with a file or directory's owner and mode, or undefined when it is private enough. */
export function ownershipProblem(stats: Stats): string | undefined {
  const uid = serverUid();
  if (uid !== undefined && stats.uid !== uid) return `is owned by uid ${stats.uid}, not by the server's user (uid ${uid}); chown it to the server's user`;
  if ((stats.mode & WRITABLE_BY_OTHERS) !== 0) return `is group- or world-writable (mode ${octal(stats.mode)}); remove that with chmod go-w`;
  return undefined;
}

/** A directory Sigil keeps private files in: a directory, the server's, written by nobody else. */
export function checkPrivateDirectory(dir: string): void {
  let stats: Stats;
  try {
    stats = statSync(dir);
  } catch (err) {
    throw new PrivateFileError(`${dir} cannot be read (${errorCode(err)})`);
  }
  if (!stats.isDirectory()) throw new PrivateFileError(`${dir} is not a directory`);
  const problem = ownershipProblem(stats);
  if (problem) throw new PrivateFileError(`${dir} ${problem}`);
}

export interface ExistingFileRules {
  /** Secret files are never followed through a link; a link is refused. Others are checked at their target. */
  readonly secret: boolean;
}

/** Checks a file that may not exist yet: when it exists it must be a regular file, the server's, written by nobody else. */
export function checkExistingPrivateFile(file: string, rules: ExistingFileRules): void {
  let stats: Stats;
  try {
    stats = lstatSync(file);
    if (stats.isSymbolicLink()) {
      if (rules.secret) throw new PrivateFileError(`${file} is a symbolic link; Sigil does not follow links for secret files`);
      stats = statSync(file);
    }
  } catch (err) {
    if (err instanceof PrivateFileError) throw err;
    if (errorCode(err) === "ENOENT") return;
    throw new PrivateFileError(`${file} cannot be read (${errorCode(err)})`);
  }
  checkRegularPrivate(file, stats);
}

function checkRegularPrivate(file: string, stats: Stats): void {
  if (!stats.isFile()) throw new PrivateFileError(`${file} is not a regular file`);
  const problem = ownershipProblem(stats);
  if (problem) throw new PrivateFileError(`${file} ${problem}`);
}

/**
 * Reads a secret file: opened with O_NOFOLLOW (a link is refused), checked on the open descriptor
 * (so it cannot be swapped between check and read), at most `maxBytes`. Undefined when it does not exist.
 */
export function readPrivateFile(file: string, maxBytes: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errorCode(err);
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw new PrivateFileError(`${file} is a symbolic link; Sigil does not follow links for secret files`);
    throw new PrivateFileError(`${file} cannot be read (${code})`);
  }
  try {
    const stats = fstatSync(fd);
    checkRegularPrivate(file, stats);
    if (stats.size > maxBytes) throw new PrivateFileError(`${file} is larger than ${maxBytes} bytes`);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new PrivateFileError(`${file} is larger than ${maxBytes} bytes`);
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `content` to a new file of mode 0600 beside `file` (O_CREAT|O_EXCL|O_NOFOLLOW: never an
 * existing file or a link), syncs it, and hands it to `place`, which moves it into position. The
 * file at `file` is therefore either absent or complete, and never had another mode.
 */
function writeThroughTempFile(file: string, content: string | Buffer, place: (temp: string) => void): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      const bytes = typeof content === "string" ? Buffer.from(content) : content;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    place(temp);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // Already moved into place (rename) or removed.
    }
  }
}

/** Creates `file` (mode 0600) with `content`; false, and nothing written, when a file or link of that name exists. */
export function createPrivateFileExclusive(file: string, content: string | Buffer): boolean {
  let created = true;
  writeThroughTempFile(file, content, (temp) => {
    try {
      // link(2) never replaces and never follows an existing name: exclusive creation of a complete file.
      linkSync(temp, file);
    } catch (err) {
      if (errorCode(err) !== "EEXIST") throw err;
      created = false;
    }
  });
  return created;
}

/** Puts a complete file of mode 0600 at `file`, replacing whatever entry (even a link) had that name. */
export function replacePrivateFile(file: string, content: string | Buffer): void {
  writeThroughTempFile(file, content, (temp) => renameSync(temp, file));
}

/** Creates an empty file of mode 0600 unless one exists (never through a link): SQLite then gives its -wal and -shm the same mode. */
export function ensurePrivateFile(file: string): void {
  try {
    closeSync(openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
  } catch (err) {
    if (errorCode(err) !== "EEXIST") throw new PrivateFileError(`${file} cannot be created (${errorCode(err)})`);
  }
}

export function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException | null;
  return (e && typeof e.code === "string" && e.code) || (e instanceof Error ? e.message : String(err));
}
