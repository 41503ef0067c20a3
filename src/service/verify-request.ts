import type { VerifyKeyRequest } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { VerifyOptions } from "./credential-verifier.js";
import { LIMITS, requireBoundedText, requireCredentialText, requireScopes } from "./request-validation.js";
import { optionalTenantId } from "../tenants/tenant-id.js";
import { requireClientIp, requireCost } from "./usage-validation.js";

/**
 * Checks one VerifyKey request (alone, or as an item of BatchVerifyKeys, named by `field`) and
 * builds the verifier's options, with the key's usage controls on and the failure throttle counting
 * against the caller (`peerAddress`, read only when an imported string is verified).
 */
export function verifyRequestOptions(req: VerifyKeyRequest, nowMs: number, peerAddress: () => string | undefined, field = ""): VerifyOptions {
  requireCredentialText(req.credential, `${field}credential`);
  return {
    requiredScopes: requireScopes(req.requiredScopes, `${field}required_scopes`),
    audience: requireBoundedText(req.audience, `${field}audience`, LIMITS.audienceChars),
    nowMs,
    usage: true,
    clientIp: requireClientIp(req.clientIp, `${field}client_ip`),
    cost: requireCost(req.cost, `${field}cost`),
    peerAddress,
    tenantId: optionalTenantId(req.tenantId, `${field}tenant_id`),
  };
}
