import { ConfigError, loadConfig, SETTINGS, type Config } from "../config/config.js";
import { UsageError } from "./cli-args.js";

/** The options of the commands that open the database themselves (migrate, backup). */
export const DATABASE_OPTIONS = { "data-dir": { type: "string" }, "database-url": { type: "string" } } as const;

/** Their help lines. */
export const DATABASE_OPTIONS_HELP = `  ${(SETTINGS.dataDir.flag + " <path>").padEnd(26)}${SETTINGS.dataDir.env.padEnd(20)} ${SETTINGS.dataDir.help} (default: ${SETTINGS.dataDir.defaultText})
  ${(SETTINGS.databaseUrl.flag + " <url>").padEnd(26)}${SETTINGS.databaseUrl.env.padEnd(20)} ${SETTINGS.databaseUrl.help} (default: ${SETTINGS.databaseUrl.defaultText})`;

/** The server's configuration from those flags and the environment (SIGIL_DATABASE_URL_FILE too); a wrong setting is a usage error. */
export function databaseConfig(values: { readonly "data-dir"?: string; readonly "database-url"?: string }, env: NodeJS.ProcessEnv): Config {
  const flags = [
    ...(values["data-dir"] !== undefined ? [SETTINGS.dataDir.flag, values["data-dir"]] : []),
    ...(values["database-url"] !== undefined ? [SETTINGS.databaseUrl.flag, values["database-url"]] : []),
  ];
  try {
    return loadConfig(flags, env);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}
