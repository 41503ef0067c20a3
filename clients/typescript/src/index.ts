/**
 * `@sigil/client`: the typed client factory, the generated API types, the OfflineVerifier for
 * derived JWTs, `attenuate` for macaroon holders, and SigilAuth, the verifier behind the service
 * middleware (`@sigil/client/grpc-js`, `/connect`, `/express`, `/fastify`). Nothing here loads a
 * framework or anything of the server.
 */
export {
  createSigilClient,
  createSigilTransport,
  SIGIL_USER_AGENT,
  type SigilClient,
  type SigilClientOptions,
  type SigilProtocol,
} from "./create-client.js";
export type { SigilTlsOptions } from "./client-tls.js";
export { SIGIL_CLIENT_VERSION } from "./version.js";
export {
  OfflineVerifier,
  type OfflineVerification,
  type OfflineVerifierOptions,
  type OfflineVerifierStatus,
  type OfflineVerifyFailure,
} from "./offline-verifier.js";
export { attenuate } from "./macaroon/attenuate.js";
export { audCaveat, expiresCaveat, InvalidCaveatError, scopeCaveat } from "./macaroon/caveats.js";
export { MacaroonFormatError } from "./macaroon/format.js";
export { createSigilAuth, SigilAuth, type SigilAuthOptions, type SigilAuthRequest, type SigilAuthResult, type SigilAuthStats } from "./middleware/sigil-auth.js";
export type { SigilIdentity } from "./middleware/identity.js";
export type { SigilDenial, SigilDenialStatus } from "./middleware/denial.js";
export * from "./gen/sigil/v1/key_service_pb.js";
export * from "./gen/sigil/v1/key_pb.js";
export * from "./gen/sigil/v1/revocation_pb.js";
export * from "./gen/sigil/v1/signing_key_pb.js";
export * from "./gen/sigil/v1/usage_pb.js";
