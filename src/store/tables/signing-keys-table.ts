import type { Insertable, Selectable } from "kysely";

/** JWT signing keys. The private key is stored sealed (AES-256-GCM under the server secret). */
export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** Public JWK as JSON. */
  public_jwk: string;
  /** Sealed PKCS#8 DER of the private key (keys/sealer.ts). */
  sealed_private_key: string;
  create_time: number;
  /** When it stopped signing; it stays published until its last token has expired. At most one row has none (the active key). */
  retire_time: number | null;
  /** When it was revoked (an emergency rotation): unpublished at once, its tokens rejected. Implies retire_time. */
  revoke_time: number | null;
}

export type SigningKeyRow = Selectable<SigningKeysTable>;
export type NewSigningKeyRow = Insertable<SigningKeysTable>;
