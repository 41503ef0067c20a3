import { existsSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { SigilTlsOptions } from "../../clients/typescript/src/index.js";
import { CliError, UsageError } from "./cli-args.js";

/** TLS options of every command that talks to a server, with their environment variables. */
export const TLS_OPTIONS = {
  "ca-file": { type: "string" },
  "client-cert-file": { type: "string" },
  "client-key-file": { type: "string" },
} as const;

export const TLS_HELP = `  --ca-file <path>          CA certificate(s) to trust    SIGIL_CA_FILE  (https:// only; default: the system's)
  --client-cert-file <path> client certificate (mTLS)     SIGIL_CLIENT_CERT_FILE
  --client-key-file <path>  its private key               SIGIL_CLIENT_KEY_FILE`;

export interface TlsValues {
  readonly "ca-file"?: string | undefined;
  readonly "client-cert-file"?: string | undefined;
  readonly "client-key-file"?: string | undefined;
}

/**
 * The client TLS options for `server` from flags (which win) and SIGIL_CA_FILE,
 * SIGIL_CLIENT_CERT_FILE, SIGIL_CLIENT_KEY_FILE. Usage errors name the flag or variable.
 */
export function resolveClientTls(server: string, values: TlsValues, env: NodeJS.ProcessEnv, cwd: string): SigilTlsOptions | undefined {
  const pick = (flag: keyof TlsValues, variable: string): { file: string; source: string } | undefined => {
    const fromFlag = values[flag];
    if (fromFlag !== undefined) return { file: path.resolve(cwd, fromFlag), source: `--${flag}` };
    const fromEnv = env[variable];
    return fromEnv ? { file: path.resolve(cwd, fromEnv), source: variable } : undefined;
  };
  const ca = pick("ca-file", "SIGIL_CA_FILE");
  const cert = pick("client-cert-file", "SIGIL_CLIENT_CERT_FILE");
  const key = pick("client-key-file", "SIGIL_CLIENT_KEY_FILE");
  const given = [ca, cert, key].filter((f) => f !== undefined);
  if (given.length === 0) return undefined;
  if (new URL(server).protocol !== "https:") throw new UsageError(`${given[0]!.source} needs an https:// --server`);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--client-cert-file and --client-key-file go together");
  for (const f of given) if (!existsSync(f.file)) throw new CliError(`cannot read ${f.source} ${f.file}: ENOENT`);
  return { caFile: ca?.file, certFile: cert?.file, keyFile: key?.file };
}

const UNTRUSTED = new Set([
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_SIGNATURE_FAILURE", "CERT_UNTRUSTED",
]);
const CLIENT_CERT_MISSING = new Set(["ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE"]);
const CLIENT_CERT_REFUSED = new Set(["ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN", "ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR"]);

/**
 * Turns what a TLS or protocol mismatch looks like from connect-node (raw OpenSSL text, "Protocol
 * error", a stream cancelled without a reason) into one line that says what to change. Other
 * errors pass unchanged.
 */
export function explainConnectionFailure(err: unknown, secure: boolean): unknown {
  if (!(err instanceof ConnectError)) return err;
  const causes: Array<{ code?: string; message?: string }> = [];
  for (let c = err.cause as { code?: string; message?: string; cause?: unknown } | undefined; c && causes.length < 5; c = c.cause as typeof c) causes.push(c);
  const codes = causes.map((c) => String(c.code ?? ""));
  const has = (set: Set<string>) => codes.some((c) => set.has(c));
  // Connect wraps anything else an interceptor throws: a ConnectError carrying the CliError, which
  // describeFailure prints as the line alone.
  const line = (text: string) => new ConnectError(text, err.code, undefined, undefined, new CliError(text));
  if (codes.includes("ERR_SSL_WRONG_VERSION_NUMBER") || codes.includes("ERR_SSL_PACKET_LENGTH_TOO_LONG")) {
    return line("the server did not answer TLS: it serves plaintext on that port (use http:// in --server, or turn on TLS on the server)");
  }
  if (has(UNTRUSTED)) return line(`the server's TLS certificate is not trusted (${codes.find((c) => UNTRUSTED.has(c))}): pass the CA that signed it with --ca-file or SIGIL_CA_FILE`);
  if (codes.includes("CERT_HAS_EXPIRED") || codes.includes("CERT_NOT_YET_VALID")) return line("the server's TLS certificate is expired or not yet valid");
  if (codes.includes("ERR_TLS_CERT_ALTNAME_INVALID")) return line("the server's TLS certificate does not name the host in --server");
  if (has(CLIENT_CERT_MISSING)) return line("the server requires a client certificate (mTLS): pass --client-cert-file and --client-key-file");
  if (has(CLIENT_CERT_REFUSED)) return line("the server refused the client certificate: it is not signed by a CA the server trusts");
  if (err.code === Code.Internal && codes.includes("ERR_HTTP2_ERROR")) {
    return line("the server did not answer gRPC over HTTP/2: --server must be the gRPC listener (default port 4420), not the HTTP listener");
  }
  // TLS 1.3 reports a refused client certificate after the handshake: the connection is reset or
  // the stream cancelled, with no alert seen.
  const cutOff = (err.code === Code.Canceled && causes.length === 0 && /closed with error code CANCEL/.test(err.rawMessage)) || codes.includes("ECONNRESET") || codes.includes("EPIPE");
  if (cutOff) {
    return line(
      secure
        ? "the server closed the TLS connection without answering: if it requires client certificates (mTLS), pass one its CA signed with --client-cert-file and --client-key-file"
        : "the server closed the connection without answering: if it uses TLS, use https:// in --server (and --ca-file for a private CA)",
    );
  }
  return err;
}

/** An interceptor that applies `explainConnectionFailure` to every call. */
export function explainingInterceptor(secure: boolean): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      throw explainConnectionFailure(err, secure);
    }
  };
}
