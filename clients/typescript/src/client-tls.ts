import { readFileSync } from "node:fs";

/**
 * TLS settings of a client for an `https://` base URL. Without any, the system's trusted CAs
 * apply. PEM text (or bytes) and file paths are both accepted; a file is read when the client is made.
 */
export interface SigilTlsOptions {
  /** CA certificate(s) to trust instead of the system's: the CA that signed Sigil's certificate. */
  readonly ca?: string | Buffer;
  readonly caFile?: string;
  /** Client certificate (chain) and its key, for a server that requires mTLS. */
  readonly cert?: string | Buffer;
  readonly certFile?: string;
  readonly key?: string | Buffer;
  readonly keyFile?: string;
  /** Name to check the server's certificate against, when it is not the URL's host. */
  readonly serverName?: string;
}

/** What Node's `tls.connect` (and so http2.connect, https.request) takes from SigilTlsOptions. */
export interface ClientTlsConnectOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  /** HTTP/2 requires TLS 1.2 or later; so does Sigil. */
  minVersion: "TLSv1.2";
}

/**
 * The TLS connect options for `baseUrl`, or undefined for a plaintext `http://` URL. Throws a
 * TypeError naming the option for TLS options on an `http://` URL, a certificate without its key,
 * or a file that cannot be read.
 */
export function clientTlsOptions(baseUrl: string, tls: SigilTlsOptions | undefined, who = "createSigilClient"): ClientTlsConnectOptions | undefined {
  const secure = new URL(baseUrl).protocol === "https:";
  if (!secure) {
    if (tls && Object.values(tls).some((v) => v !== undefined)) throw new TypeError(`${who}: tls options need an https:// baseUrl, got ${new URL(baseUrl).origin}`);
    return undefined;
  }
  const options: ClientTlsConnectOptions = { minVersion: "TLSv1.2" };
  const ca = tls?.ca ?? readOption(tls?.caFile, "tls.caFile", who);
  const cert = tls?.cert ?? readOption(tls?.certFile, "tls.certFile", who);
  const key = tls?.key ?? readOption(tls?.keyFile, "tls.keyFile", who);
  if ((cert === undefined) !== (key === undefined)) throw new TypeError(`${who}: a client certificate needs its key (tls.cert/certFile and tls.key/keyFile together)`);
  if (ca !== undefined) options.ca = ca;
  if (cert !== undefined) options.cert = cert;
  if (key !== undefined) options.key = key;
  if (tls?.serverName !== undefined) options.servername = tls.serverName;
  return options;
}

function readOption(file: string | undefined, option: string, who: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TypeError(`${who}: ${option} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (${file})`);
  }
}
