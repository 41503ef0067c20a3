#!/usr/bin/env python3
"""Verify a Sigil credential from Python: grpcio plus stubs generated from proto/sigil (README,
"Calling Sigil from other languages").

    PYTHONPATH=stubs python3 verify_key.py HOST:PORT CREDENTIAL [SCOPE ...]

Prints `valid key_id=... owner=... scopes=...` and exits 0, or `invalid <reason>` and exits 1.
"""
import sys

import grpc

# Stubs generated from proto/grpc/health/v1 as well would sit in a local grpc/ directory. Without an
# __init__.py Python never finds them (grpcio's own grpc package wins); with one, that directory
# replaces grpcio and nothing below works. Generate from proto/sigil only; for the health service
# use grpcio-health-checking's grpc_health.v1.
if not hasattr(grpc, "insecure_channel"):
    sys.exit(f"'import grpc' loaded {grpc.__file__}, not grpcio: remove the generated grpc/ directory "
             "(generate stubs from proto/sigil only)")

from sigil.v1 import key_service_pb2, key_service_pb2_grpc  # noqa: E402 (after the check above)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    target, credential, scopes = argv[1], argv[2], argv[3:]
    with grpc.insecure_channel(target) as channel:
        client = key_service_pb2_grpc.KeyServiceStub(channel)
        res = client.VerifyKey(key_service_pb2.VerifyKeyRequest(credential=credential, required_scopes=scopes), timeout=10)
    if not res.valid:
        print("invalid", key_service_pb2.VerifyReason.Name(res.reason).removeprefix("VERIFY_REASON_"))
        return 1
    print(f"valid key_id={res.key_id} owner={res.owner} scopes={' '.join(res.scopes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
