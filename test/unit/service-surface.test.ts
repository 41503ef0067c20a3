import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { KeyService } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { loadReflectionFiles } from "../../src/transport/reflection-files.js";
import { ServiceSurface } from "../../src/transport/surface.js";

const VERIFY_METHODS = ["VerifyKey", "DeriveToken", "RevokeKey", "GetJwks", "BatchVerifyKeys", "WatchRevocations"];

function keyServiceFile(files: readonly Uint8Array[]): FileDescriptorProto {
  const file = files.map((b) => fromBinary(FileDescriptorProtoSchema, b)).find((f) => f.name === "sigil/v1/key_service.proto");
  assert.ok(file);
  return file;
}

/** Method name -> its leading comment, read through the index paths of source_code_info. */
function methodComments(file: FileDescriptorProto): Map<string, string> {
  const comments = new Map<string, string>();
  for (const loc of file.sourceCodeInfo?.location ?? []) {
    const [field, service, member, method, ...rest] = loc.path;
    if (field === 6 && service === 0 && member === 2 && method !== undefined && rest.length === 0) {
      const m = file.service[0]!.method[method];
      assert.ok(m, `a comment points at method index ${method}, which does not exist`);
      comments.set(m.name!, loc.leadingComments ?? "");
    }
  }
  return comments;
}

describe("ServiceSurface", () => {
  const files = loadReflectionFiles();

  it("all and admin serve every method and leave the descriptors as they are", () => {
    for (const mode of ["all", "admin"] as const) {
      const surface = new ServiceSurface(mode);
      assert.deepEqual(surface.reflectionFiles(files), files);
      assert.equal(surface.services([{ service: KeyService }])[0]!.service, KeyService);
      assert.ok(KeyService.methods.every((m) => surface.serves(KeyService.typeName, m.name)));
    }
  });

  it("verify narrows the service and its reflection descriptor, each method keeping its own comment", () => {
    const surface = new ServiceSurface("verify");
    const [narrowed] = surface.services([{ service: KeyService, extra: 1 }]);
    assert.deepEqual(narrowed!.service.methods.map((m) => m.name), VERIFY_METHODS);
    assert.equal(narrowed!.service.typeName, KeyService.typeName);
    assert.equal(narrowed!.service.method.verifyKey, KeyService.method.verifyKey);
    assert.equal(narrowed!.service.method.issueKey, undefined);
    assert.equal(narrowed!.extra, 1);

    const original = methodComments(keyServiceFile(files));
    const filteredFile = keyServiceFile(surface.reflectionFiles(files));
    assert.deepEqual(filteredFile.service[0]!.method.map((m) => m.name), VERIFY_METHODS);
    const filtered = methodComments(filteredFile);
    assert.deepEqual([...filtered.keys()].sort(), [...VERIFY_METHODS].sort());
    for (const name of VERIFY_METHODS) assert.equal(filtered.get(name), original.get(name), name);
    assert.match(filtered.get("VerifyKey")!, /Verifies any credential/);
    // The service's own comment stays; the other files are untouched.
    assert.ok(filteredFile.sourceCodeInfo!.location.some((l) => l.path.length === 2 && l.path[0] === 6 && /KeyService issues/.test(l.leadingComments ?? "")));
    assert.equal(surface.reflectionFiles(files).filter((f, i) => f !== files[i]).length, 1);
  });
});
