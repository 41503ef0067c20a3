import { readFileSync } from "node:fs";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/**
 * The FileDescriptorProtos served by reflection. They come from `descriptors/sigil.binpb` (`buf build`),
 * which keeps the proto comments, so `buf curl --describe`-style tools show the documentation.
 */
export function loadReflectionFiles(descriptorSetUrl = new URL("../../../descriptors/sigil.binpb", import.meta.url)): Uint8Array[] {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(descriptorSetUrl));
  return set.file.map((file) => toBinary(FileDescriptorProtoSchema, file));
}
