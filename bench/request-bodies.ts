// Request messages of the scenarios, encoded once: protobuf for gRPC, proto3 JSON for Connect.
import { create, toBinary, toJsonString, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import {
  DeriveTokenRequestSchema,
  IssueKeyRequestSchema,
  TokenFormat,
  VerifyKeyRequestSchema,
} from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { LoadProtocol } from "./load/spec.js";

/** Derived tokens used by the load must outlive the run (the server caps a token at its max TTL). */
const TOKEN_TTL_SECONDS = 3600n;

export function encodeBody<D extends DescMessage>(schema: D, init: MessageInitShape<D>, protocol: LoadProtocol): Uint8Array {
  const message = create(schema, init);
  return protocol === "grpc" ? toBinary(schema, message) : new TextEncoder().encode(toJsonString(schema, message));
}

export const verifyBodies = (credentials: readonly string[], protocol: LoadProtocol): Uint8Array[] =>
  credentials.map((credential) => encodeBody(VerifyKeyRequestSchema, { credential }, protocol));

/** Distinct names so that the keys issued under load are told apart in the database. */
export const issueBodies = (count: number, protocol: LoadProtocol): Uint8Array[] =>
  Array.from({ length: count }, (_, i) =>
    encodeBody(IssueKeyRequestSchema, { name: `bench load ${i}`, owner: "svc:bench", scopes: ["read", "write"] }, protocol),
  );

export const deriveJwtRequest = (apiKey: string) =>
  ({ credential: apiKey, format: TokenFormat.JWT, scopes: ["read"], ttl: { seconds: TOKEN_TTL_SECONDS } }) satisfies MessageInitShape<
    typeof DeriveTokenRequestSchema
  >;

export const deriveBodies = (apiKey: string, protocol: LoadProtocol): Uint8Array[] => [
  encodeBody(DeriveTokenRequestSchema, deriveJwtRequest(apiKey), protocol),
];
