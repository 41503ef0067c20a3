/** The Sigil client SDK: typed client factory and the generated API types. */
export { createSigilClient, createSigilTransport, type SigilClient, type SigilClientOptions, type SigilProtocol } from "./create-client.js";
export * from "../../gen/sigil/v1/key_service_pb.js";
export * from "../../gen/sigil/v1/key_pb.js";
