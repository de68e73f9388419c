#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An independent offline verifier of agentid tokens, as a third-party
service would write one: it knows only the issuer URL and its own
audience, finds the keys through RFC 8414 metadata, and checks revocation
through the Token Status List. Two libraries from Debian do the JOSE work:
PyJWT (python3-jwt) or jwcrypto (python3-jwcrypto).

    verify-offline.py --lib pyjwt|jwcrypto --issuer URL --audience AUD
                      [--jwks-cache FILE] [--no-typ-check] < token

Prints "valid CLIENT_ID SUB" and exits 0, or "refused: WHY" and exits 1.
--jwks-cache: use the JWKS in FILE if it exists (a verifier's cached
copy), else fetch it and store it there. --no-typ-check: skip the header
typ check (a careless verifier: a grant must still fail on its claims).
"""
import argparse
import base64
import json
import sys
import time
import urllib.parse
import urllib.request
import zlib


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def metadata_url(issuer):
    # RFC 8414 section 3.1: the well-known segment goes between the host and
    # the issuer's path.
    u = urllib.parse.urlsplit(issuer)
    path = u.path.rstrip("/")
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Refused(Exception):
    pass


def header_of(token):
    try:
        return json.loads(b64url(token.split(".")[0]))
    except Exception as e:
        raise Refused(f"malformed header: {e}")


class PyJWTVerifier:
    def __init__(self, jwks):
        import jwt
        self.jwt = jwt
        self.keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}

    def decode(self, token, issuer, audience, required):
        kid = header_of(token).get("kid")
        if kid not in self.keys:
            raise Refused(f"unknown kid {kid}")
        options = {"require": required}
        if not audience:
            options["verify_aud"] = False
        try:
            return self.jwt.decode(token, self.keys[kid].key, algorithms=["EdDSA"], issuer=issuer,
                                   audience=audience, options=options)
        except self.jwt.PyJWTError as e:
            raise Refused(f"{type(e).__name__}: {e}")


class JwcryptoVerifier:
    def __init__(self, jwks):
        from jwcrypto import jwk
        self.keys = jwk.JWKSet.from_json(json.dumps(jwks))

    def decode(self, token, issuer, audience, required):
        from jwcrypto import jwt
        checks = {"iss": issuer, "exp": None}
        if audience:
            checks["aud"] = audience
        for c in required:
            checks.setdefault(c, None)
        try:
            t = jwt.JWT(algs=["EdDSA"], check_claims=checks)
            t.leeway = 0  # jwcrypto allows 60s by default; the broker is told 0s too
            t.deserialize(token, self.keys)
            return json.loads(t.claims)
        except Exception as e:
            raise Refused(f"{type(e).__name__}: {e}")


def check_status(verifier, claims, issuer):
    """Token Status List: the bit at idx in the list at uri, 0 = valid."""
    ref = claims.get("status", {}).get("status_list")
    if not ref:
        raise Refused("no status claim")
    idx, uri = ref["idx"], ref["uri"]
    # Only the issuer's own list: a token must not send us anywhere else.
    if not uri.startswith(issuer.rstrip("/") + "/"):
        raise Refused("status list is not the issuer's")
    lst_token = fetch(uri).strip()
    if header_of(lst_token).get("typ") != "statuslist+jwt":
        raise Refused("status list has the wrong typ")
    lst = verifier.decode(lst_token, issuer, None, ["exp", "iat", "sub"])
    if lst["sub"] != uri:
        raise Refused("status list sub is not its uri")
    sl = lst["status_list"]
    if sl["bits"] != 1:
        raise Refused("unexpected status list bits")
    data = zlib.decompress(b64url(sl["lst"]))
    if idx >= len(data) * 8:
        raise Refused(f"index {idx} out of the status list's bounds")
    if (data[idx // 8] >> (idx % 8)) & 1:
        raise Refused(f"revoked (status list index {idx})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lib", choices=["pyjwt", "jwcrypto"], required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--audience", required=True)
    p.add_argument("--jwks-cache")
    p.add_argument("--no-typ-check", action="store_true")
    a = p.parse_args()
    token = sys.stdin.read().strip()
    try:
        meta = json.loads(fetch(metadata_url(a.issuer)))
        if meta.get("issuer") != a.issuer:
            raise Refused("metadata is for another issuer")
        jwks = None
        if a.jwks_cache:
            try:
                with open(a.jwks_cache) as f:
                    jwks = json.load(f)
            except FileNotFoundError:
                pass
        if jwks is None:
            jwks = json.loads(fetch(meta["jwks_uri"]))
            if a.jwks_cache:
                with open(a.jwks_cache, "w") as f:
                    json.dump(jwks, f)
        verifier = (PyJWTVerifier if a.lib == "pyjwt" else JwcryptoVerifier)(jwks)
        # RFC 9068 section 4: the header typ must be at+jwt.
        typ = header_of(token).get("typ", "")
        if not a.no_typ_check and typ.lower().removeprefix("application/") != "at+jwt":
            raise Refused(f"typ {typ} is not at+jwt")
        claims = verifier.decode(token, a.issuer, a.audience, ["exp", "iat", "sub", "client_id", "jti"])
        if not claims.get("client_id"):
            raise Refused("no client_id")
        check_status(verifier, claims, a.issuer)
    except Refused as e:
        print(f"refused: {e}")
        return 1
    print(f"valid {claims['client_id']} {claims['sub']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
