/**
 * The Sigil client SDK (`sigil/client`): typed client factory, the generated API types, the
 * OfflineVerifier for derived JWTs, and `attenuate` for macaroon holders. Nothing here loads
 * server-only modules (storage, logging), so resource services can depend on it alone.
 */
export { createSigilClient, createSigilTransport, type SigilClient, type SigilClientOptions, type SigilProtocol } from "./create-client.js";
export type { SigilTlsOptions } from "./client-tls.js";
export {
  OfflineVerifier,
  type OfflineVerification,
  type OfflineVerifierOptions,
  type OfflineVerifierStatus,
  type OfflineVerifyFailure,
} from "./offline-verifier.js";
export { attenuate } from "../tokens/macaroon/attenuate.js";
export { audCaveat, expiresCaveat, InvalidCaveatError, scopeCaveat } from "../tokens/macaroon/caveats.js";
export { MacaroonFormatError } from "../tokens/macaroon/format.js";
export * from "../../gen/sigil/v1/key_service_pb.js";
export * from "../../gen/sigil/v1/key_pb.js";
export * from "../../gen/sigil/v1/revocation_pb.js";
