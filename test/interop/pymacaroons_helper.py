"""Test helper: lets test/interop/pymacaroons.test.ts drive pymacaroons (Debian python3-pymacaroons).

Reads one JSON request on stdin, writes one JSON answer on stdout. Binary values travel as hex;
macaroons as unpadded base64url of the v2 binary format (what pymacaroons' BinarySerializer prints).

  {"op": "version"}
  {"op": "inspect", "macaroon": b64, "root_key_hex": hex}
      -> identifier_hex, location, caveats [{cid_hex, vid_hex, cl}], signature_hex,
         reserialized (pymacaroons' own v2 encoding of what it read), verified
  {"op": "add_caveat", "macaroon": b64, "caveat": str}         -> macaroon
  {"op": "add_isoformat_expires", "macaroon": b64, "unix_time": float,
   "utc_offset_minutes": int | null}                           -> macaroon, caveat
      appends "expires " + datetime.isoformat() of that instant in that offset (null: a naive
      datetime, no offset, as datetime.utcnow() gives)
  {"op": "mint", "root_key_hex": hex, "identifier": str, "location": str | null,
   "caveats": [str]}                                           -> macaroon, signature_hex
"""

import binascii
import json
import sys
from datetime import datetime, timedelta, timezone

import pymacaroons
from pymacaroons import MACAROON_V2, Macaroon, Verifier
from pymacaroons.serializers.binary_serializer import BinarySerializer


def hex_or_none(value):
    return None if value is None else binascii.hexlify(value).decode("ascii")


def verify(macaroon, root_key):
    # Signature chain only: every first-party predicate is accepted, Sigil judges the caveats.
    verifier = Verifier()
    verifier.satisfy_general(lambda predicate: True)
    try:
        return verifier.verify(macaroon, root_key)
    except Exception:  # pymacaroons raises (MacaroonInvalidSignatureException, ...) on failure
        return False


def inspect(request):
    macaroon = Macaroon.deserialize(request["macaroon"], BinarySerializer())
    return {
        "version": macaroon.version,
        "location": macaroon.location,
        "identifier_hex": hex_or_none(macaroon.identifier_bytes),
        "caveats": [
            {
                "cid_hex": hex_or_none(c.caveat_id_bytes),
                "vid_hex": hex_or_none(c.verification_key_id),
                "cl": c.location,
            }
            for c in macaroon.caveats
        ],
        "signature_hex": macaroon.signature,
        "reserialized": macaroon.serialize(BinarySerializer()),
        "verified": verify(macaroon, binascii.unhexlify(request["root_key_hex"])),
    }


def add_caveat(request):
    macaroon = Macaroon.deserialize(request["macaroon"], BinarySerializer())
    macaroon.add_first_party_caveat(request["caveat"])
    return {"macaroon": macaroon.serialize(BinarySerializer())}


def add_isoformat_expires(request):
    offset = request["utc_offset_minutes"]
    if offset is None:
        moment = datetime.fromtimestamp(request["unix_time"], timezone.utc).replace(tzinfo=None)
    else:
        moment = datetime.fromtimestamp(request["unix_time"], timezone(timedelta(minutes=offset)))
    caveat = "expires " + moment.isoformat()
    macaroon = Macaroon.deserialize(request["macaroon"], BinarySerializer())
    macaroon.add_first_party_caveat(caveat)
    return {"macaroon": macaroon.serialize(BinarySerializer()), "caveat": caveat}


def mint(request):
    macaroon = Macaroon(
        location=request.get("location"),
        identifier=request["identifier"],
        key=binascii.unhexlify(request["root_key_hex"]),
        version=MACAROON_V2,
    )
    for caveat in request["caveats"]:
        macaroon.add_first_party_caveat(caveat)
    return {"macaroon": macaroon.serialize(BinarySerializer()), "signature_hex": macaroon.signature}


OPS = {
    "version": lambda request: {"version": pymacaroons.__version__},
    "inspect": inspect,
    "add_caveat": add_caveat,
    "add_isoformat_expires": add_isoformat_expires,
    "mint": mint,
}


def main():
    request = json.load(sys.stdin)
    json.dump(OPS[request["op"]](request), sys.stdout)


if __name__ == "__main__":
    main()
