import { randomBytes } from "node:crypto";

/**
 * The server secrets: keyed-hash and sealing keys, versioned so they can rotate.
 * `current` hashes new keys; retired versions still verify old rows, which are re-hashed on use.
 */
export interface ServerSecrets {
  readonly current: number;
  readonly byVersion: ReadonlyMap<number, Buffer>;
}

export const MIN_SECRET_BYTES = 32;

export class ServerSecretError extends Error {
  override name = "ServerSecretError";
}

export function generateSecretBytes(): Buffer {
  return randomBytes(MIN_SECRET_BYTES);
}

/**
 * Parses `v2:BASE64,v1:BASE64` (highest version is current) or a single BASE64 value (version 1).
 * Error messages name the version, never the secret.
 */
export function parseServerSecrets(spec: string): ServerSecrets {
  const byVersion = new Map<number, Buffer>();
  const parts = spec.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  if (parts.length === 0) throw new ServerSecretError("no secret given");
  for (const part of parts) {
    const m = /^v(\d{1,6}):(.+)$/.exec(part);
    const version = m ? Number(m[1]) : parts.length === 1 ? 1 : NaN;
    const encoded = m ? m[2]! : part;
    if (!Number.isInteger(version) || version < 1) throw new ServerSecretError("each entry must look like v<version>:<base64>");
    if (byVersion.has(version)) throw new ServerSecretError(`version ${version} appears twice`);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new ServerSecretError(`version ${version} is not base64`);
    const bytes = Buffer.from(encoded, "base64");
    if (bytes.length < MIN_SECRET_BYTES) throw new ServerSecretError(`version ${version} must decode to at least ${MIN_SECRET_BYTES} bytes`);
    byVersion.set(version, bytes);
  }
  return { current: Math.max(...byVersion.keys()), byVersion };
}

export function formatServerSecrets(secrets: ServerSecrets): string {
  return [...secrets.byVersion.entries()]
    .sort((a, b) => b[0] - a[0])
    .map(([v, bytes]) => `v${v}:${bytes.toString("base64")}`)
    .join(",");
}
