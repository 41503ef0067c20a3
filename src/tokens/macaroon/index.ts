// Sigil's macaroons: libmacaroons v2 binary, the libmacaroons HMAC chain, and Sigil's caveats.
export {
  decodeMacaroon,
  encodeMacaroon,
  MacaroonFormatError,
  MACAROON_FORMAT_VERSION,
  MAX_CAVEATS,
  MAX_FIELD_BYTES,
  MAX_MACAROON_BYTES,
  SIGNATURE_BYTES,
  type Caveat,
  type Macaroon,
} from "./format.js";
export {
  decodeMacaroonBase64,
  formatMacaroonToken,
  MACAROON_TOKEN_PREFIX,
  MAX_MACAROON_TOKEN_LENGTH,
  parseMacaroonToken,
} from "./token-string.js";
export {
  addFirstPartyCaveat,
  computeMacaroonSignature,
  deriveMacaroonKey,
  mintMacaroon,
  verifyMacaroonSignature,
  type MacaroonKey,
  type MintMacaroonOptions,
} from "./signature.js";
export {
  audCaveat,
  evaluateCaveats,
  expiresCaveat,
  InvalidCaveatError,
  keyIdCaveat,
  parseCaveat,
  parseMacaroonCaveat,
  scopeCaveat,
  type CaveatContext,
  type CaveatFailure,
  type CaveatVerdict,
  type SigilCaveat,
} from "./caveats.js";
export {
  formatIdentifier,
  isValidKeyId,
  newTokenId,
  parseIdentifier,
  TOKEN_ID_BYTES,
  type MacaroonIdentifier,
} from "./identifier.js";
export { attenuate } from "./attenuate.js";
