import { createHash, createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { ConfigError, SETTINGS } from "../config/config.js";

/** Where the TLS certificate, key and (for mTLS) client CA come from. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: clients must present a certificate signed by one of these CAs. */
  readonly clientCaFile?: string | undefined;
}

/** Certificate, key and client CA, read and checked together; what both listeners serve. */
export interface TlsMaterial {
  /** Options for `tls.createServer` / `setSecureContext`. */
  readonly context: tls.SecureContextOptions;
  /** Clients must present a certificate (mTLS). */
  readonly requireClientCert: boolean;
  /** The leaf certificate, for logs: subject, validity, fingerprint (never the key). */
  readonly leaf: { readonly subject: string; readonly notBefore: Date; readonly notAfter: Date; readonly fingerprint256: string };
  /** Digest of every file's bytes: equal digests mean nothing changed. */
  readonly digest: string;
}

/** Least TLS version on every listener. */
export const TLS_MIN_VERSION: tls.SecureVersion = "TLSv1.2";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Reads and checks the TLS files: PEM certificates (the leaf first, then its chain), a PEM private
 * key that belongs to the leaf, and the client CA bundle. Throws a ConfigError naming the setting
 * of the file that is wrong; messages never contain file contents.
 */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const certPem = readSetting(files.certFile, "tlsCertFile");
  const keyPem = readSetting(files.keyFile, "tlsKeyFile");
  const caPem = files.clientCaFile === undefined ? undefined : readSetting(files.clientCaFile, "tlsClientCaFile");

  const chain = parseCertificates(certPem, "tlsCertFile");
  const leaf = chain[0]!;
  const key = parseKey(keyPem);
  if (!leaf.checkPrivateKey(key)) throw settingError("tlsKeyFile", `does not hold the private key of the certificate in ${SETTINGS.tlsCertFile.env}`);
  if (caPem !== undefined) parseCertificates(caPem, "tlsClientCaFile");

  const context: tls.SecureContextOptions = { cert: certPem, key: keyPem, ...(caPem !== undefined ? { ca: caPem } : {}), minVersion: TLS_MIN_VERSION };
  try {
    tls.createSecureContext(context);
  } catch (err) {
    throw new ConfigError(`${SETTINGS.tlsCertFile.env} (${SETTINGS.tlsCertFile.flag}) and ${SETTINGS.tlsKeyFile.env} cannot be used for TLS: ${opensslReason(err)}`);
  }
  const digest = createHash("sha256");
  for (const part of [certPem, keyPem, caPem ?? Buffer.alloc(0)]) digest.update(createHash("sha256").update(part).digest());
  return {
    context,
    requireClientCert: caPem !== undefined,
    leaf: { subject: leaf.subject.replace(/\n/g, ", "), notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), fingerprint256: leaf.fingerprint256 },
    digest: digest.digest("hex"),
  };
}

type FileSetting = "tlsCertFile" | "tlsKeyFile" | "tlsClientCaFile";

function settingError(name: FileSetting, problem: string): ConfigError {
  const s = SETTINGS[name];
  return new ConfigError(`${s.env} (${s.flag}) ${problem}`);
}

function readSetting(file: string, name: FileSetting): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw settingError(name, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (${file})`);
  }
}

function parseCertificates(pem: Buffer, name: FileSetting): X509Certificate[] {
  const blocks = pem.toString("latin1").match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw settingError(name, "does not hold a PEM certificate (-----BEGIN CERTIFICATE-----)");
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw settingError(name, `holds a certificate that cannot be parsed (PEM block ${i + 1})`);
    }
  });
}

function parseKey(pem: Buffer): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.toString("latin1"))) throw settingError("tlsKeyFile", "does not hold a PEM private key (-----BEGIN PRIVATE KEY-----)");
  try {
    return createPrivateKey(pem);
  } catch {
    throw settingError("tlsKeyFile", "holds a private key that cannot be read (encrypted keys are not supported)");
  }
}

/** OpenSSL's reason ("key values mismatch"), without anything else the error carries. */
function opensslReason(err: unknown): string {
  const e = err as { reason?: string; code?: string; message?: string };
  return e.reason ?? e.code ?? "rejected by OpenSSL";
}
