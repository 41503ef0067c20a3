// Sigil's macaroons for the server: the format, HMAC chain and caveats live in the client package
// (clients/typescript/src/macaroon, which `attenuate` needs too); identifiers are minted here.
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
} from "../../../clients/typescript/src/macaroon/format.js";
export {
  decodeMacaroonBase64,
  formatMacaroonToken,
  MACAROON_TOKEN_PREFIX,
  MAX_MACAROON_TOKEN_LENGTH,
  parseMacaroonToken,
} from "../../../clients/typescript/src/macaroon/token-string.js";
export {
  addFirstPartyCaveat,
  computeMacaroonSignature,
  deriveMacaroonKey,
  mintMacaroon,
  verifyMacaroonSignature,
  type MacaroonKey,
  type MintMacaroonOptions,
} from "../../../clients/typescript/src/macaroon/signature.js";
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
} from "../../../clients/typescript/src/macaroon/caveats.js";
export {
  formatIdentifier,
  isValidKeyId,
  newTokenId,
  parseIdentifier,
  TOKEN_ID_BYTES,
  type MacaroonIdentifier,
} from "./identifier.js";
export { attenuate } from "../../../clients/typescript/src/macaroon/attenuate.js";
