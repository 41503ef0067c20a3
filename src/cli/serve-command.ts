import { build } from "../app/build.js";
import { ConfigError, loadConfig, SETTINGS } from "../config/config.js";

export const SERVE_HELP = `Usage: sigil serve [options]

Starts Sigil: the gRPC listener and the HTTP (Connect, gRPC-Web, JSON) listener.
Every option can also be set with its environment variable; flags win.

${Object.values(SETTINGS)
  .map((s) => `  ${(s.flag + " <value>").padEnd(30)} ${s.env.padEnd(26)} ${s.help} (default: ${s.defaultText})`)
  .join("\n")}
`;

/** `sigil serve`: starts the server and stops it gracefully on SIGTERM or SIGINT. */
export async function serveCommand(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig(args, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sigil: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const app = await build(config);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      app.log.info({ signal }, "shutting down");
      app.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
