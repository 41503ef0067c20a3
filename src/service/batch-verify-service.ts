import { create } from "@bufbuild/protobuf";
import { BatchVerifyKeysResponseSchema, type BatchVerifyKeysRequest, type BatchVerifyKeysResponse } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { CallContext } from "./call-context.js";
import type { CredentialVerifier } from "./credential-verifier.js";
import { verificationToProto } from "./key-service.js";
import { invalid } from "./request-validation.js";
import { verifyRequestOptions } from "./verify-request.js";

/** Most verifications in one BatchVerifyKeys call. */
export const MAX_BATCH_VERIFY = 100;

/**
 * BatchVerifyKeys: many VerifyKey calls in one round trip, for a resource service that checks
 * several credentials at once. Each item is answered exactly as VerifyKey would (usage controls
 * included), in request order. A malformed item fails the whole call, naming the item.
 */
export class BatchVerifyService {
  readonly #verifier: CredentialVerifier;
  readonly #now: () => number;

  constructor(verifier: CredentialVerifier, now: () => number) {
    this.#verifier = verifier;
    this.#now = now;
  }

  async batchVerifyKeys(req: BatchVerifyKeysRequest, ctx: CallContext): Promise<BatchVerifyKeysResponse> {
    const n = req.requests.length;
    if (n === 0 || n > MAX_BATCH_VERIFY) throw invalid(`requests: must hold 1 to ${MAX_BATCH_VERIFY} items, got ${n}`);
    const now = this.#now();
    // Check every item before verifying any, so a bad item uses up no rate limit or credits.
    const peer = () => ctx.peerAddress;
    const options = req.requests.map((item, i) => verifyRequestOptions(item, now, peer, `requests[${i}].`));
    const results = await Promise.all(req.requests.map((item, i) => this.#verifier.verify(item.credential, options[i]!)));
    return create(BatchVerifyKeysResponseSchema, { results: results.map(verificationToProto) });
  }
}
