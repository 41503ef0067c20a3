import { createReadStream, existsSync } from "node:fs";
import path from "node:path";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { CliError, parseDurationFlag, UsageError } from "./cli-args.js";
import { explainingInterceptor, resolveClientTls, TLS_HELP, TLS_OPTIONS, type TlsValues } from "./cli-tls.js";

export const DEFAULT_SERVER = "http://127.0.0.1:4420";
export const DEFAULT_TIMEOUT = "30s";
/** Where `sigil serve` writes the first admin key with the default data directory. */
export const DEFAULT_ADMIN_KEY_FILE = path.join("data", "admin.key");
/** Largest file a key or credential is read from; anything bigger is not a key. */
const MAX_SECRET_FILE_BYTES = 16 * 1024;

/** Options of every command that talks to a server. */
export const SERVER_OPTIONS = {
  server: { type: "string" },
  timeout: { type: "string" },
  ...TLS_OPTIONS,
} as const;

/** Options of admin commands. */
export const CONNECTION_OPTIONS = {
  ...SERVER_OPTIONS,
  "admin-key": { type: "string" },
  "admin-key-file": { type: "string" },
} as const;

export const SERVER_HELP = `Connection:
  --server <url>            gRPC address of the server    SIGIL_SERVER   (default ${DEFAULT_SERVER})
  --timeout <duration>      deadline of each call         SIGIL_TIMEOUT  (default ${DEFAULT_TIMEOUT})
${TLS_HELP}`;

export const CONNECTION_HELP = `${SERVER_HELP}
  --admin-key-file <path>   file holding the admin key    SIGIL_ADMIN_KEY_FILE
                            (default ./${DEFAULT_ADMIN_KEY_FILE} when it exists; - reads standard input)
  --admin-key <key>         the admin key itself          SIGIL_ADMIN_KEY
                            (a flag is visible in ps: prefer the variable or a file)
  Flags win over variables; an admin key wins over an admin key file.`;

export interface ConnectionValues extends TlsValues {
  readonly server?: string | undefined;
  readonly timeout?: string | undefined;
  readonly "admin-key"?: string | undefined;
  readonly "admin-key-file"?: string | undefined;
}

/** Where the CLI runs: its environment and working directory, passed in rather than read globally. */
export interface CliEnvironment {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** The server URL from `--server` or SIGIL_SERVER, checked to be an http(s) origin. */
export function resolveServer(values: ConnectionValues, environment: CliEnvironment): string {
  // The value is never quoted back: a key pasted here by mistake must not reach the terminal.
  const source = values.server !== undefined ? "--server" : "SIGIL_SERVER";
  const text = values.server ?? nonEmpty(environment.env["SIGIL_SERVER"]) ?? DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${source} must be a URL like ${DEFAULT_SERVER}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${source} must start with http:// or https://`);
  if (url.username || url.password) throw new UsageError(`${source} must not hold a user name or password`);
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) throw new UsageError(`${source} must be only a scheme, host and port, like ${DEFAULT_SERVER}`);
  return url.origin;
}

/**
 * The admin key, from the first of: --admin-key, --admin-key-file, SIGIL_ADMIN_KEY,
 * SIGIL_ADMIN_KEY_FILE, ./data/admin.key (when it exists). Errors name the source, never the key.
 */
export async function resolveAdminKey(values: ConnectionValues, environment: CliEnvironment): Promise<string> {
  const { env, cwd } = environment;
  if (values["admin-key"] !== undefined) return checkedKey(values["admin-key"], "--admin-key");
  if (values["admin-key-file"] !== undefined) return readSecretFile(values["admin-key-file"], cwd, "--admin-key-file");
  const fromEnv = nonEmpty(env["SIGIL_ADMIN_KEY"]);
  if (fromEnv !== undefined) return checkedKey(fromEnv, "SIGIL_ADMIN_KEY");
  const fileFromEnv = nonEmpty(env["SIGIL_ADMIN_KEY_FILE"]);
  if (fileFromEnv !== undefined) return readSecretFile(fileFromEnv, cwd, "SIGIL_ADMIN_KEY_FILE");
  const defaultFile = path.resolve(cwd, DEFAULT_ADMIN_KEY_FILE);
  if (existsSync(defaultFile)) return readSecretFile(defaultFile, cwd, `./${DEFAULT_ADMIN_KEY_FILE}`);
  throw new UsageError(
    `this command needs an admin key: pass --admin-key-file <path>, set SIGIL_ADMIN_KEY or SIGIL_ADMIN_KEY_FILE, or run it where ./${DEFAULT_ADMIN_KEY_FILE} exists`,
  );
}

/** Reads a file holding one secret (a key or a token); `-` reads standard input. */
export async function readSecretFile(file: string, cwd: string, source: string): Promise<string> {
  const input = file === "-" ? process.stdin : createReadStream(path.resolve(cwd, file));
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of input) {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
      length += buffer.length;
      if (length > MAX_SECRET_FILE_BYTES) throw new CliError(`${source} is larger than ${MAX_SECRET_FILE_BYTES} bytes; it does not hold one key`);
      chunks.push(buffer);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${source} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    if (input !== process.stdin) input.destroy();
  }
  return checkedKey(Buffer.concat(chunks).toString("utf8"), source);
}

function checkedKey(key: string, source: string): string {
  const trimmed = key.trim();
  if (trimmed.length === 0) throw new UsageError(`${source} is empty`);
  // A header value cannot carry line breaks or other control characters.
  if (/[\x00-\x1f\x7f\s]/.test(trimmed)) throw new UsageError(`${source} must hold a single key without spaces or line breaks`);
  return trimmed;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

/** A client and the options every call of the command passes (its deadline). */
export interface CliConnection {
  readonly client: SigilClient;
  readonly call: { readonly timeoutMs: number };
}

/**
 * A gRPC client for the resolved server. `admin` sends the admin key (only commands that need it
 * read it); `bearer` sends another credential instead (a key revoking itself).
 */
export async function connect(
  values: ConnectionValues,
  environment: CliEnvironment,
  options: { readonly admin: boolean; readonly bearer?: string },
): Promise<CliConnection> {
  const baseUrl = resolveServer(values, environment);
  const timeoutText = values.timeout ?? nonEmpty(environment.env["SIGIL_TIMEOUT"]) ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseDurationFlag("--timeout", timeoutText, 1, 3_600_000);
  const adminKey = options.bearer ?? (options.admin ? await resolveAdminKey(values, environment) : undefined);
  const tls = resolveClientTls(baseUrl, values, environment.env, environment.cwd);
  // TLS and protocol mismatches become one line that says what to change.
  const interceptors = [explainingInterceptor(baseUrl.startsWith("https:"))];
  let client: SigilClient;
  try {
    client = createSigilClient({ baseUrl, protocol: "grpc", adminKey, interceptors, ...(tls ? { tls } : {}) });
  } catch (err) {
    throw new CliError((err as Error).message.replace(/^createSigilClient: /, "").replace(/tls\.(ca|cert|key)File/, (_m, k: string) => (k === "ca" ? "--ca-file" : `--client-${k}-file`)));
  }
  return { client, call: { timeoutMs } };
}
