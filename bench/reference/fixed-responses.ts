// Fixed response messages for the reference servers. They are shaped like real Sigil answers
// (same fields, similar sizes) so the limit measures the transport on comparable payloads.
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CredentialKind,
  DeriveTokenResponseSchema,
  IssueKeyResponseSchema,
  TokenFormat,
  VerifyKeyResponseSchema,
  VerifyReason,
} from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { KeySchema, KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";

const KEY_ID = "4fQ2mX9kLpR7sT1v";
const EXPIRE = timestampFromDate(new Date("2030-01-01T00:00:00Z"));

export const verifyKeyResponse = create(VerifyKeyResponseSchema, {
  valid: true,
  reason: VerifyReason.VALID,
  kind: CredentialKind.API_KEY,
  keyId: KEY_ID,
  owner: "svc:bench",
  scopes: ["read", "write"],
});

export const issueKeyResponse = create(IssueKeyResponseSchema, {
  key: create(KeySchema, {
    keyId: KEY_ID,
    name: "bench",
    owner: "svc:bench",
    scopes: ["read", "write"],
    createTime: timestampFromDate(new Date("2025-01-01T00:00:00Z")),
    status: KeyStatus.ACTIVE,
    prefix: "sgl",
  }),
  secret: `sgl_${KEY_ID}_${"A".repeat(43)}abcdef`,
});

export const deriveTokenResponse = create(DeriveTokenResponseSchema, {
  // A JWT of typical length (EdDSA header, ~10 claims, 86-char signature).
  token: `eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.${"e".repeat(260)}.${"s".repeat(86)}`,
  format: TokenFormat.JWT,
  tokenId: "01J9Z3Q8V6X2N4M7K5H3G1F0DC",
  keyId: KEY_ID,
  scopes: ["read"],
  expireTime: EXPIRE,
});

/** Pre-serialized protobuf bodies, keyed by gRPC method path. */
export const fixedResponseBytes: ReadonlyMap<string, Buffer> = new Map([
  ["/sigil.v1.KeyService/VerifyKey", Buffer.from(toBinary(VerifyKeyResponseSchema, verifyKeyResponse))],
  ["/sigil.v1.KeyService/IssueKey", Buffer.from(toBinary(IssueKeyResponseSchema, issueKeyResponse))],
  ["/sigil.v1.KeyService/DeriveToken", Buffer.from(toBinary(DeriveTokenResponseSchema, deriveTokenResponse))],
]);
