import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, file_google_protobuf_wrappers } from "@bufbuild/protobuf/wkt";

/**
 * `demo.v1.Invoices`, a stand-in for a user's own gRPC/Connect service behind Sigil's middleware:
 * List, Create and Status, each StringValue in and StringValue out (the handler answers the
 * verified identity as JSON). Built from a descriptor at run time, so no proto of the repository
 * (nor the generated code `make gen-check` guards) carries test-only types.
 */
export const Invoices: DescService = (() => {
  const unary = (name: string) => ({ name, inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue" });
  const file = create(FileDescriptorProtoSchema, {
    name: "demo/v1/invoices.proto",
    package: "demo.v1",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto"],
    service: [{ name: "Invoices", method: [unary("List"), unary("Create"), unary("Status")] }],
  });
  const registry = createFileRegistry(file, (name) => (name === "google/protobuf/wrappers.proto" ? file_google_protobuf_wrappers : undefined));
  return registry.getService("demo.v1.Invoices")!;
})();

/** The middleware's policy for Invoices, the same for the gRPC and Connect adapters. */
export const INVOICES_POLICY = {
  scopes: { "demo.v1.Invoices": ["invoices:read"], "/demo.v1.Invoices/Create": ["invoices:write"] },
  public: ["/demo.v1.Invoices/Status"],
};
