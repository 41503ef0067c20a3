// A small typed gRPC client for the harness's own calls (readiness, fixtures, pre-flight checks),
// built on grpc-js and protobuf-es. The load itself never goes through here.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import {
  DeriveTokenRequestSchema,
  DeriveTokenResponseSchema,
  IssueKeyRequestSchema,
  IssueKeyResponseSchema,
  RevokeKeyRequestSchema,
  RevokeKeyResponseSchema,
  VerifyKeyRequestSchema,
  VerifyKeyResponseSchema,
  type DeriveTokenResponse,
  type IssueKeyResponse,
  type RevokeKeyResponse,
  type VerifyKeyResponse,
} from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";

export const METHOD_PATHS = {
  VerifyKey: "/sigil.v1.KeyService/VerifyKey",
  IssueKey: "/sigil.v1.KeyService/IssueKey",
  DeriveToken: "/sigil.v1.KeyService/DeriveToken",
  /** Not an RPC: the gateways' forward-auth route on the HTTP listener (src/gateway/). */
  Authorize: "/v1/authorize",
} as const;
const REVOKE_KEY_PATH = "/sigil.v1.KeyService/RevokeKey";
export type MethodName = keyof typeof METHOD_PATHS;

const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";
const CALL_TIMEOUT_MS = 10_000;

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

export class SigilRpc {
  private readonly client: grpc.Client;

  /** `tlsCa`: the server speaks TLS with a certificate this CA (PEM) signed. */
  constructor(port: number, tlsCa?: string) {
    const credentials = tlsCa ? grpc.credentials.createSsl(Buffer.from(tlsCa)) : grpc.credentials.createInsecure();
    this.client = new grpc.Client(`127.0.0.1:${port}`, credentials, tlsCa ? { "grpc.ssl_target_name_override": "localhost" } : {});
  }

  call<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    message: MessageInitShape<I>,
    headers: Record<string, string> = {},
  ): Promise<MessageShape<O>> {
    const metadata = new grpc.Metadata();
    for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        path,
        (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
        (bytes: Buffer) => fromBinary(output, bytes),
        create(input, message),
        metadata,
        { deadline: Date.now() + CALL_TIMEOUT_MS },
        (err, response) => (err || response === undefined ? reject(err ?? new Error("empty response")) : resolve(response)),
      );
    });
  }

  async isServing(): Promise<boolean> {
    try {
      const response = await this.call(HEALTH_CHECK_PATH, HealthCheckRequestSchema, HealthCheckResponseSchema, { service: "" });
      return response.status === HealthCheckResponse_ServingStatus.SERVING;
    } catch {
      return false;
    }
  }

  verifyKey(message: MessageInitShape<typeof VerifyKeyRequestSchema>): Promise<VerifyKeyResponse> {
    return this.call(METHOD_PATHS.VerifyKey, VerifyKeyRequestSchema, VerifyKeyResponseSchema, message);
  }

  issueKey(adminKey: string, message: MessageInitShape<typeof IssueKeyRequestSchema>): Promise<IssueKeyResponse> {
    return this.call(METHOD_PATHS.IssueKey, IssueKeyRequestSchema, IssueKeyResponseSchema, message, bearer(adminKey));
  }

  revokeKey(adminKey: string, message: MessageInitShape<typeof RevokeKeyRequestSchema>): Promise<RevokeKeyResponse> {
    return this.call(REVOKE_KEY_PATH, RevokeKeyRequestSchema, RevokeKeyResponseSchema, message, bearer(adminKey));
  }

  deriveToken(message: MessageInitShape<typeof DeriveTokenRequestSchema>): Promise<DeriveTokenResponse> {
    return this.call(METHOD_PATHS.DeriveToken, DeriveTokenRequestSchema, DeriveTokenResponseSchema, message);
  }

  close(): void {
    this.client.close();
  }
}
