import type { CredentialVerifier, Verification } from "../service/credential-verifier.js";
import { answerVerification, MISSING_CREDENTIAL, type AuthorizationAnswer } from "./authorization-answer.js";
import type { AuthorizationRequest } from "./authorization-request.js";

export interface GatewayAuthorizerDeps {
  readonly verifier: CredentialVerifier;
  readonly now: () => number;
  /** Retry-After of a CLIENT_THROTTLED answer: SIGIL_VERIFY_FAILURE_REFILL in whole seconds. */
  readonly throttleRetryAfterSeconds: number;
}

/**
 * The decision behind both gateway adapters: the very verification of VerifyKey
 * (`CredentialVerifier.verify` with the key's usage controls, counted by usage analytics), turned
 * into an AuthorizationAnswer. Synchronous when the verification is (cache hits).
 */
export class GatewayAuthorizer {
  readonly #d: GatewayAuthorizerDeps;

  constructor(deps: GatewayAuthorizerDeps) {
    this.#d = deps;
  }

  authorize(request: AuthorizationRequest, peerAddress: () => string | undefined): AuthorizationAnswer | Promise<AuthorizationAnswer> {
    if (request.credential === undefined) return MISSING_CREDENTIAL;
    const nowMs = this.#d.now();
    const v = this.#d.verifier.verify(request.credential, {
      requiredScopes: request.requiredScopes,
      audience: request.audience,
      nowMs,
      usage: true,
      clientIp: request.clientIp,
      peerAddress,
    });
    const answer = (r: Verification) => answerVerification(r, request.requiredScopes, nowMs, this.#d.throttleRetryAfterSeconds);
    return v instanceof Promise ? v.then(answer) : answer(v);
  }
}
