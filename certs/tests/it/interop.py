"""Independent JOSE implementation for the interoperability tests (jwcrypto).

Reads one JSON request on stdin and writes one JSON answer on stdout.

- {"op": "verify", "token": SD-JWT, "jwk": public JWK}: verifies the issuer JWT with
  jwcrypto, checks every disclosure digest against `_sd`, answers the payload and the
  disclosed fields.
- {"op": "issue", "jwk": private JWK, "header": {...}, "payload": {...}, "face": {...}}:
  builds disclosures and `_sd`, signs with jwcrypto, answers {"token": SD-JWT}.
"""

import base64
import hashlib
import json
import os
import sys

from jwcrypto import jwk, jws


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def digest(disclosure: str) -> str:
    return b64(hashlib.sha256(disclosure.encode()).digest())


def verify(req):
    jwt, *rest = req["token"].split("~")
    key = jwk.JWK(**req["jwk"])
    token = jws.JWS()
    token.deserialize(jwt)
    token.verify(key)
    payload = json.loads(token.payload)
    fields = {}
    for disclosure in filter(None, rest):
        if digest(disclosure) not in payload["_sd"]:
            raise ValueError("disclosure digest not in _sd")
        _salt, name, value = json.loads(unb64(disclosure))
        fields[name] = value
    return {"payload": payload, "fields": fields, "alg": token.jose_header["alg"]}


def issue(req):
    disclosures = []
    for name, value in req["face"].items():
        salt = b64(os.urandom(16))
        disclosures.append(b64(json.dumps([salt, name, value], ensure_ascii=False).encode()))
    payload = dict(req["payload"])
    payload["_sd"] = sorted(digest(d) for d in disclosures)
    payload["_sd_alg"] = "sha-256"
    token = jws.JWS(json.dumps(payload, ensure_ascii=False).encode())
    key = jwk.JWK(**req["jwk"])
    token.add_signature(key, None, json.dumps(req["header"]))
    return {"token": token.serialize(compact=True) + "~" + "".join(d + "~" for d in disclosures)}


def main():
    req = json.load(sys.stdin)
    answer = verify(req) if req["op"] == "verify" else issue(req)
    json.dump(answer, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
