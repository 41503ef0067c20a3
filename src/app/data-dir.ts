import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { formatServerSecrets, generateSecretBytes, parseServerSecrets, type ServerSecrets } from "../keys/server-secrets.js";

export const SERVER_SECRET_FILE = "server-secret";
export const ADMIN_KEY_FILE = "admin.key";

/** Creates the data directory, readable by its owner only. */
export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * The server secrets: from configuration when given, else from `<data dir>/server-secret`,
 * generated there (mode 0600) on first start. Creation uses O_EXCL so concurrent first starts
 * (several workers) agree on one secret.
 */
export function loadServerSecrets(configured: string | undefined, dataDir: string): ServerSecrets {
  if (configured !== undefined) return parseServerSecrets(configured);
  const file = path.join(dataDir, SERVER_SECRET_FILE);
  try {
    writeFileSync(file, formatServerSecrets({ current: 1, byVersion: new Map([[1, generateSecretBytes()]]) }) + "\n", { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return parseServerSecrets(readFileSync(file, "utf8").trim());
}

/** Writes a secret to a file only its owner can read; replaces an older file of the same name. */
export function writeOwnerOnlyFile(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}
