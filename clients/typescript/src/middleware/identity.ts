import { timestampMs } from "@bufbuild/protobuf/wkt";
import { CredentialKind, type VerifyKeyResponse } from "../gen/sigil/v1/key_service_pb.js";

/** Who a request's credential speaks for, as the middleware hands it to the handler. */
export interface SigilIdentity {
  /** The API key the credential is, or derives from: the identity to log, limit or bill. */
  readonly keyId: string;
  /** The owner of that key ("svc:billing"); for a JWT verified offline, its `sub`. */
  readonly owner: string;
  /** The scopes the credential grants (a derived token's are a subset of its key's). */
  readonly scopes: readonly string[];
  readonly kind: CredentialKind.API_KEY | CredentialKind.JWT | CredentialKind.MACAROON;
  /** For a derived token (JWT, macaroon): the key it derives from (equal to keyId). Unset for an API key. */
  readonly parentKeyId: string | undefined;
  /** A derived token's id (JWT `jti`, macaroon nonce). */
  readonly tokenId: string | undefined;
  /** When the credential stops verifying; unset when it does not expire. */
  readonly expireTime: Date | undefined;
  /** The key's metadata (empty for a JWT verified offline: the token does not carry it). */
  readonly metadata: Readonly<Record<string, string>>;
  /** True when a JWT was verified offline (signature and revocation feed), without a VerifyKey call. */
  readonly offline: boolean;
}

/** The identity of a valid VerifyKey answer. */
export function identityFromResponse(res: VerifyKeyResponse): SigilIdentity {
  const kind = res.kind === CredentialKind.JWT || res.kind === CredentialKind.MACAROON ? res.kind : CredentialKind.API_KEY;
  return Object.freeze({
    keyId: res.keyId,
    owner: res.owner,
    scopes: Object.freeze([...res.scopes]),
    kind,
    parentKeyId: kind === CredentialKind.API_KEY ? undefined : res.keyId,
    tokenId: res.tokenId || undefined,
    expireTime: res.expireTime ? new Date(timestampMs(res.expireTime)) : undefined,
    metadata: Object.freeze({ ...res.metadata }),
    offline: false,
  });
}
