import { Code, ConnectError } from "@connectrpc/connect";
import type { CredentialVerifier, Verification } from "../service/credential-verifier.js";
import { answerBadRequest, answerVerification, MISSING_CREDENTIAL, type AuthorizationAnswer } from "./authorization-answer.js";
import type { AuthorizationRequest, AuthorizationRequestReader, RequestParts } from "./authorization-request.js";

export interface GatewayAuthorizerDeps {
  readonly reader: AuthorizationRequestReader;
  readonly verifier: CredentialVerifier;
  readonly now: () => number;
  /** Retry-After of a CLIENT_THROTTLED answer: SIGIL_VERIFY_FAILURE_REFILL in whole seconds. */
  readonly throttleRetryAfterSeconds: number;
}

/**
 * The decision behind both gateway adapters: the request read from the original request's parts
 * (bad input is a 400 answer, not an error), then the very verification of VerifyKey
 * (`CredentialVerifier.verify` with the key's usage controls, counted by usage analytics), turned
 * into an AuthorizationAnswer. Synchronous when the verification is (cache hits).
 */
export class GatewayAuthorizer {
  readonly #d: GatewayAuthorizerDeps;

  constructor(deps: GatewayAuthorizerDeps) {
    this.#d = deps;
  }

  /** `peerAddress`: the connection's peer, for the failure throttle when no client address is known. */
  answer(parts: RequestParts, peerAddress: () => string | undefined): AuthorizationAnswer | Promise<AuthorizationAnswer> {
    let request: AuthorizationRequest;
    try {
      request = this.#d.reader.read(parts);
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.InvalidArgument) return answerBadRequest(err.rawMessage);
      throw err;
    }
    return this.#authorize(request, peerAddress);
  }

  #authorize(request: AuthorizationRequest, peerAddress: () => string | undefined): AuthorizationAnswer | Promise<AuthorizationAnswer> {
    if (request.credential === undefined) return MISSING_CREDENTIAL;
    const nowMs = this.#d.now();
    const v = this.#d.verifier.verify(request.credential, {
      requiredScopes: request.requiredScopes,
      audience: request.audience,
      nowMs,
      usage: true,
      clientIp: request.clientIp,
      peerAddress,
      tenantId: request.tenantId,
    });
    const answer = (r: Verification) => answerVerification(r, request.requiredScopes, nowMs, this.#d.throttleRetryAfterSeconds);
    return v instanceof Promise ? v.then(answer) : answer(v);
  }
}
