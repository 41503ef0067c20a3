/**
 * Start-up cannot go on: a setting points at something unusable (a port in use, a data directory
 * others can write, a database that never answered). The message is one line that starts with the
 * setting's variable and flag, and never holds a secret; `sigil serve` prints it and exits 1.
 */
export class StartupError extends Error {
  override name = "StartupError";
}

/** `SIGIL_DATA_DIR (--data-dir)`: how a start-up message names a setting. */
export function settingLabel(setting: { readonly env: string; readonly flag: string }): string {
  return `${setting.env} (${setting.flag})`;
}

/**
 * The database's sealed values (JWT signing keys) do not open under the configured server secret:
 * the database was made with another one (a restore without its secret, say). Other errors pass.
 */
export function wrongServerSecret(err: unknown): unknown {
  const message = err instanceof Error ? err.message : "";
  if (!/unable to authenticate data|which is not configured/.test(message)) return err;
  return new StartupError(
    "SIGIL_SERVER_SECRET (--server-secret): the database's signing keys were sealed under another server secret; " +
      "start with the secret this database was made with (<data dir>/server-secret or SIGIL_SERVER_SECRET; README: Backup and restore)",
  );
}
