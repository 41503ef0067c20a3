import { createHmac, timingSafeEqual } from "node:crypto";
import { encodeMacaroon, MacaroonFormatError, SIGNATURE_BYTES, type Caveat, type Macaroon } from "./format.js";

/**
 * The HMAC-SHA256 signature chain of libmacaroons and pymacaroons:
 *
 *   derived = HMAC("macaroons-key-generator" zero-padded to 32 bytes, rootKey)
 *   sig     = HMAC(derived, identifier)
 *   sig     = HMAC(sig, caveatId)                                  first-party caveat
 *   sig     = HMAC(sig, HMAC(sig, vid) || HMAC(sig, caveatId))     third-party caveat
 *
 * (libmacaroons `macaroon_hash2`, pymacaroons `hmac_concat`.) Locations are not signed.
 */

// libmacaroons zero-pads the generator key to 32 bytes; HMAC pads keys to the block size with
// zeros anyway, so pymacaroons' unpadded key gives the same result.
const KEY_GENERATOR = (() => {
  const key = Buffer.alloc(32);
  key.write("macaroons-key-generator", "ascii");
  return key;
})();

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export type MacaroonKey = Uint8Array | string;

export interface MintMacaroonOptions {
  readonly rootKey: MacaroonKey;
  readonly identifier: Uint8Array | string;
  readonly location?: string;
  /** First-party caveats, in order. */
  readonly caveats: readonly string[];
}

function hmac(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? utf8Encoder.encode(value) : value;
}

/** The key the chain starts from, as libmacaroons `macaroon_create` derives it. */
export function deriveMacaroonKey(rootKey: MacaroonKey): Uint8Array {
  const key = toBytes(rootKey);
  // An empty key is always a caller bug (unset config), never a real secret.
  if (key.length === 0) throw new RangeError("macaroon root key must not be empty");
  return hmac(KEY_GENERATOR, key);
}

function chainCaveat(signature: Uint8Array, caveat: Caveat): Buffer {
  if (caveat.verificationId === undefined) return hmac(signature, caveat.identifier);
  const joined = Buffer.concat([hmac(signature, caveat.verificationId), hmac(signature, caveat.identifier)]);
  return hmac(signature, joined);
}

/** Recomputes the signature a macaroon should carry under `rootKey`. */
export function computeMacaroonSignature(
  rootKey: MacaroonKey,
  identifier: Uint8Array,
  caveats: readonly Caveat[],
): Uint8Array {
  let signature = hmac(deriveMacaroonKey(rootKey), identifier);
  for (const caveat of caveats) signature = chainCaveat(signature, caveat);
  return new Uint8Array(signature);
}

/** Mints a macaroon with first-party caveats. Throws MacaroonFormatError if out of bounds. */
export function mintMacaroon(options: MintMacaroonOptions): Macaroon {
  const identifier = new Uint8Array(toBytes(options.identifier));
  const caveats = options.caveats.map(firstPartyCaveat);
  const m: Macaroon = {
    ...(options.location !== undefined ? { location: options.location } : {}),
    identifier,
    caveats,
    signature: computeMacaroonSignature(options.rootKey, identifier, caveats),
  };
  encodeMacaroon(m); // every macaroon this returns can be serialized
  return m;
}

/**
 * Attenuates: appends a first-party caveat and re-signs from the current signature, with no key.
 * Returns a new macaroon; `m` is unchanged.
 */
export function addFirstPartyCaveat(m: Macaroon, caveat: string): Macaroon {
  if (m.signature.length !== SIGNATURE_BYTES) {
    throw new MacaroonFormatError(`signature must be ${SIGNATURE_BYTES} bytes, got ${m.signature.length}`);
  }
  const added = firstPartyCaveat(caveat);
  const next: Macaroon = {
    ...m,
    caveats: [...m.caveats, added],
    signature: new Uint8Array(chainCaveat(m.signature, added)),
  };
  encodeMacaroon(next);
  return next;
}

function firstPartyCaveat(text: string): Caveat {
  const identifier = utf8Encoder.encode(text);
  // TextEncoder would silently turn lone surrogates into U+FFFD and sign a different caveat.
  if (utf8Decoder.decode(identifier) !== text) {
    throw new MacaroonFormatError("caveat is not a well-formed Unicode string");
  }
  return { identifier };
}

/** True when the macaroon's signature chain verifies under `rootKey` (constant-time compare). */
export function verifyMacaroonSignature(m: Macaroon, rootKey: MacaroonKey): boolean {
  if (m.signature.length !== SIGNATURE_BYTES) return false;
  const expected = computeMacaroonSignature(rootKey, m.identifier, m.caveats);
  return timingSafeEqual(expected, m.signature);
}
