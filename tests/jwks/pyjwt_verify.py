"""Verifies authd tokens as a resource server would: PyJWT's PyJWKClient
fetches authd's JWKS (and caches it for the life of this process).

Usage: pyjwt_verify.py JWKS_URL ISSUER. Reads one token per line on stdin and
answers one line each: "ok SUB KID" or "fail REASON" (tests/jwks_verifiers.rs).
"""

import sys

import jwt
from jwt import PyJWKClient


def main() -> None:
    url, issuer = sys.argv[1], sys.argv[2]
    client = PyJWKClient(url, cache_jwk_set=True, lifespan=300)
    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        try:
            key = client.get_signing_key_from_jwt(token)
            # The key's own algorithm only: no algorithm confusion.
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                issuer=issuer,
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
            print("ok", claims["sub"], key.key_id, flush=True)
        except Exception as error:  # noqa: BLE001 - reported to the test
            print("fail", type(error).__name__, flush=True)


if __name__ == "__main__":
    main()
