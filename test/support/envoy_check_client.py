"""A gRPC client of envoy.service.auth.v3.Authorization/Check, its stubs generated from proto/ at run.

Reads JSON from stdin: {"proto_dir", "target", "checks": [CheckRequest in proto3 JSON], "raw": [base64 request bytes]}
and writes JSON to stdout: {"answers": [{"code", "details", "response"}], "raw": [{"code", "details"}]}.
Stubs go to a temporary directory put at the END of sys.path with no google/__init__.py, so the
generated google/rpc/status_pb2.py joins Debian's google namespace package instead of shadowing
google.protobuf.
"""
import base64
import importlib
import json
import sys
import tempfile

import grpc
from google.protobuf import json_format
from grpc_tools import protoc
import grpc_tools

FILES = [
    "envoy/service/auth/v3/external_auth.proto",
    "envoy/service/auth/v3/attribute_context.proto",
    "envoy/config/core/v3/base.proto",
    "envoy/config/core/v3/address.proto",
    "envoy/type/v3/http_status.proto",
    "google/rpc/status.proto",
]


def main():
    job = json.load(sys.stdin)
    out = tempfile.mkdtemp(prefix="sigil-envoy-stubs-")
    well_known = grpc_tools.__path__[0] + "/_proto"
    args = ["protoc", "-I" + job["proto_dir"], "-I" + well_known, "--python_out=" + out, "--grpc_python_out=" + out] + FILES
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    sys.path.append(out)
    pb = importlib.import_module("envoy.service.auth.v3.external_auth_pb2")
    stubs = importlib.import_module("envoy.service.auth.v3.external_auth_pb2_grpc")
    channel = grpc.insecure_channel(job["target"])
    stub = stubs.AuthorizationStub(channel)
    answers = []
    for check in job.get("checks", []):
        request = json_format.ParseDict(check, pb.CheckRequest())
        try:
            response = stub.Check(request, timeout=20)
            answers.append({"code": 0, "response": json_format.MessageToDict(response, preserving_proto_field_name=True)})
        except grpc.RpcError as err:
            answers.append({"code": err.code().value[0], "details": err.details()})
    raw_answers = []
    check_raw = channel.unary_unary("/envoy.service.auth.v3.Authorization/Check", request_serializer=None, response_deserializer=None)
    for data in job.get("raw", []):
        try:
            check_raw(base64.b64decode(data), timeout=20)
            raw_answers.append({"code": 0})
        except grpc.RpcError as err:
            raw_answers.append({"code": err.code().value[0], "details": err.details()})
    channel.close()
    json.dump({"answers": answers, "raw": raw_answers}, sys.stdout)


main()
