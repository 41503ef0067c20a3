import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary, type DescMethodUnary } from "@bufbuild/protobuf";
import { StringValueSchema, type StringValue } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { expressConnectMiddleware } from "@connectrpc/connect-express";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import express from "express";
import Fastify from "fastify";
import { sigilConnectInterceptor, sigilContextValues, sigilIdentityKey } from "../../clients/typescript/src/connect.js";
import { sigilExpress } from "../../clients/typescript/src/express.js";
import { sigilFastify } from "../../clients/typescript/src/fastify.js";
import { sigilGrpcInterceptor, sigilIdentity } from "../../clients/typescript/src/grpc-js.js";
import type { SigilAuth, SigilDenialStatus, SigilIdentity } from "../../clients/typescript/src/index.js";
import { INVOICES_POLICY, Invoices } from "./demo-service.js";

/**
 * One real service of each kind a user would put behind Sigil (grpc-js, connect-node,
 * connect-express, connect-fastify, Express, Fastify), each with the SDK's middleware and the same
 * three routes: `list` needs invoices:read, `create` invoices:read and invoices:write, `status` is
 * public. Each answers the identity its handler was given, and `call` reads every outcome back in
 * protocol-neutral terms, from the protocol's own answer (status code, gRPC code, headers).
 */
export type Route = "list" | "create" | "status";

export type Outcome =
  | { readonly status: "ok"; readonly identity: SigilIdentity | null }
  | { readonly status: SigilDenialStatus; readonly message: string; readonly retryAfter?: string; readonly challenge?: string };

export interface ProtectedService {
  readonly name: string;
  call(route: Route, credential?: string): Promise<Outcome>;
  close(): Promise<void>;
}

const answer = (identity: SigilIdentity | undefined | null): StringValue => create(StringValueSchema, { value: JSON.stringify(identity ?? null) });
const identityOf = (value: string) => JSON.parse(value) as SigilIdentity | null;

const GRPC_STATUS: Partial<Record<grpc.status, SigilDenialStatus>> = {
  [grpc.status.UNAUTHENTICATED]: "unauthenticated",
  [grpc.status.PERMISSION_DENIED]: "permission_denied",
  [grpc.status.RESOURCE_EXHAUSTED]: "rate_limited",
  [grpc.status.UNAVAILABLE]: "unavailable",
};
const CONNECT_STATUS: Partial<Record<Code, SigilDenialStatus>> = {
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "permission_denied",
  [Code.ResourceExhausted]: "rate_limited",
  [Code.Unavailable]: "unavailable",
};
const HTTP_STATUS: Record<number, SigilDenialStatus> = { 401: "unauthenticated", 403: "permission_denied", 429: "rate_limited", 503: "unavailable" };

async function listen(server: http.Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const closeServer = (server: http.Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

export async function grpcJsService(auth: SigilAuth): Promise<ProtectedService> {
  const server = new grpc.Server({ interceptors: [sigilGrpcInterceptor(auth, INVOICES_POLICY)] });
  const serialize = (m: StringValue) => Buffer.from(toBinary(StringValueSchema, m));
  const deserialize = (b: Buffer) => fromBinary(StringValueSchema, b);
  const definition: Record<string, grpc.MethodDefinition<StringValue, StringValue>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const name of ["List", "Create", "Status"]) {
    definition[name] = { path: `/demo.v1.Invoices/${name}`, requestStream: false, responseStream: false, requestSerialize: serialize, requestDeserialize: deserialize, responseSerialize: serialize, responseDeserialize: deserialize };
    handlers[name] = ((call: grpc.ServerUnaryCall<StringValue, StringValue>, callback: grpc.sendUnaryData<StringValue>) => callback(null, answer(sigilIdentity(call)))) as grpc.handleUnaryCall<StringValue, StringValue>;
  }
  server.addService(definition, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    name: "grpc-js interceptor",
    call(route, credential) {
      const metadata = new grpc.Metadata();
      if (credential !== undefined) metadata.set("authorization", `Bearer ${credential}`);
      const method = route[0]!.toUpperCase() + route.slice(1);
      return new Promise((resolve) => {
        client.makeUnaryRequest(`/demo.v1.Invoices/${method}`, serialize, deserialize, create(StringValueSchema), metadata, (err, value) => {
          if (!err) return resolve({ status: "ok", identity: identityOf(value!.value) });
          const status = GRPC_STATUS[err.code];
          if (!status) throw new Error(`unexpected gRPC status ${err.code}: ${err.details}`);
          const retryAfter = err.metadata?.get("retry-after")[0];
          resolve({ status, message: err.details, ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }) });
        });
      });
    },
    async close() {
      client.close();
      server.forceShutdown();
    },
  };
}

function connectRoutes(router: ConnectRouter): void {
  const handler = (_req: StringValue, ctx: HandlerContext) => answer(ctx.values.get(sigilIdentityKey));
  for (const method of Invoices.methods) router.rpc(method as DescMethodUnary<typeof StringValueSchema, typeof StringValueSchema>, handler);
}

/** A Connect-protocol client's view of a Connect service at baseUrl. */
function connectCaller(name: string, baseUrl: string, close: () => Promise<void>): ProtectedService {
  const client = createClient(Invoices, createConnectTransport({ baseUrl, httpVersion: "1.1" })) as unknown as Record<Route, (req: object, options: { headers: Record<string, string> }) => Promise<StringValue>>;
  return {
    name,
    async call(route, credential) {
      const headers: Record<string, string> = credential === undefined ? {} : { authorization: `Bearer ${credential}` };
      try {
        return { status: "ok", identity: identityOf((await client[route]({}, { headers })).value) };
      } catch (err) {
        const e = ConnectError.from(err);
        const status = CONNECT_STATUS[e.code];
        if (!status) throw e;
        const retryAfter = e.metadata.get("retry-after");
        return { status, message: e.rawMessage, ...(retryAfter === null ? {} : { retryAfter }) };
      }
    },
    close,
  };
}

export async function connectNodeService(auth: SigilAuth): Promise<ProtectedService> {
  const interceptors = [sigilConnectInterceptor(auth, INVOICES_POLICY)];
  const server = http.createServer(connectNodeAdapter({ routes: connectRoutes, interceptors, contextValues: sigilContextValues }));
  return connectCaller("Connect interceptor on connect-node", await listen(server), () => closeServer(server));
}

export async function connectExpressService(auth: SigilAuth): Promise<ProtectedService> {
  const app = express();
  app.use(expressConnectMiddleware({ routes: connectRoutes, interceptors: [sigilConnectInterceptor(auth, INVOICES_POLICY)], contextValues: sigilContextValues }));
  const server = http.createServer(app);
  return connectCaller("Connect interceptor on connect-express", await listen(server), () => closeServer(server));
}

export async function connectFastifyService(auth: SigilAuth): Promise<ProtectedService> {
  const app = Fastify();
  await app.register(fastifyConnectPlugin, { routes: connectRoutes, interceptors: [sigilConnectInterceptor(auth, INVOICES_POLICY)], contextValues: sigilContextValues });
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  return connectCaller("Connect interceptor on connect-fastify", baseUrl, () => app.close());
}

const HTTP_ROUTES: Record<Route, { method: string; path: string }> = {
  list: { method: "GET", path: "/invoices" },
  create: { method: "POST", path: "/invoices" },
  status: { method: "GET", path: "/status" },
};

/** A plain HTTP client's view of an HTTP API at baseUrl. */
function httpCaller(name: string, baseUrl: string, close: () => Promise<void>): ProtectedService {
  return {
    name,
    async call(route, credential) {
      const { method, path } = HTTP_ROUTES[route];
      const res = await fetch(baseUrl + path, { method, headers: credential === undefined ? {} : { authorization: `Bearer ${credential}` } });
      const body = (await res.json()) as { message?: string; identity?: SigilIdentity | null };
      if (res.status === 200) return { status: "ok", identity: body.identity ?? null };
      const status = HTTP_STATUS[res.status];
      if (!status) throw new Error(`unexpected HTTP status ${res.status}: ${JSON.stringify(body)}`);
      const retryAfter = res.headers.get("retry-after");
      const challenge = res.headers.get("www-authenticate");
      return { status, message: body.message ?? "", ...(retryAfter === null ? {} : { retryAfter }), ...(challenge === null ? {} : { challenge }) };
    },
    close,
  };
}

export async function expressService(auth: SigilAuth): Promise<ProtectedService> {
  const sigil = sigilExpress(auth);
  const app = express();
  app.get("/invoices", sigil.require("invoices:read"), (req, res) => void res.json({ identity: req.sigil }));
  app.post("/invoices", sigil.require("invoices:read", "invoices:write"), (req, res) => void res.json({ identity: req.sigil }));
  app.get("/status", (req, res) => void res.json({ identity: req.sigil ?? null }));
  const server = http.createServer(app);
  return httpCaller("Express middleware", await listen(server), () => closeServer(server));
}

export async function fastifyService(auth: SigilAuth): Promise<ProtectedService> {
  const sigil = sigilFastify(auth);
  const app = Fastify();
  await app.register(sigil.plugin);
  app.get("/invoices", { onRequest: sigil.require("invoices:read") }, async (req) => ({ identity: req.sigil }));
  app.post("/invoices", { onRequest: sigil.require("invoices:read", "invoices:write") }, async (req) => ({ identity: req.sigil }));
  app.get("/status", async (req) => ({ identity: req.sigil }));
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  return httpCaller("Fastify hook", baseUrl, () => app.close());
}

export const PROTECTED_SERVICES = [grpcJsService, connectNodeService, connectExpressService, connectFastifyService, expressService, fastifyService];
