"""ID-token verification (app.auth.entra.verify_id_token), with keys made here."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth.entra import LEEWAY_SECONDS, Identity, SignInFailed, nonce_hash, verify_id_token

TENANT = "11111111-2222-3333-4444-555555555555"
ISSUER = f"https://login.example/{TENANT}/v2.0"
AUDIENCE = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
KEY = rsa.generate_private_key(65537, 2048)
OTHER_KEY = rsa.generate_private_key(65537, 2048)


def jwk(key, kid="k1") -> dict:
    data = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


def token(key=KEY, kid: str | None = "k1", alg="RS256", **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "oid": "o-1", "tid": TENANT, "iat": now,
              "nbf": now, "exp": now + 3600, "nonce": nonce_hash("n0nce")}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def verify(tok: str, keys=None, **expected):
    values = dict(keys=keys if keys is not None else [jwk(KEY)], issuer=ISSUER, audience=AUDIENCE,
                  tenant_id=TENANT, nonce="n0nce")
    values.update(expected)
    return verify_id_token(tok, **values)


def reason_of(tok: str, **kw) -> str:
    with pytest.raises(SignInFailed) as info:
        verify(tok, **kw)
    return info.value.reason


def test_a_good_token_gives_its_claims():
    assert verify(token())["oid"] == "o-1"


def test_the_key_is_chosen_by_kid_and_a_missing_kid_needs_a_single_key():
    keys = [jwk(OTHER_KEY, "k0"), jwk(KEY, "k1")]
    assert verify(token(kid="k1"), keys=keys)["tid"] == TENANT
    assert reason_of(token(kid=None), keys=keys) == "unknown_key"
    assert verify(token(kid=None), keys=[jwk(KEY)])["tid"] == TENANT
    assert reason_of(token(kid="k9"), keys=keys) == "unknown_key"


def test_signature_by_another_key_is_refused():
    assert reason_of(token(key=OTHER_KEY)) == "signature"


def test_changed_claims_break_the_signature():
    header, payload, signature = token().split(".")
    _, other_payload, _ = token(oid="someone-else").split(".")
    assert reason_of(f"{header}.{other_payload}.{signature}") == "signature"


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_other_algorithms_are_refused(alg):
    forged = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "tid": TENANT}, "a-shared-secret-long-enough-for-hs256!" if alg == "HS256" else None,
                        algorithm=alg)
    assert reason_of(forged) == "id_token"


def test_expiry_has_a_small_leeway_only():
    now = int(time.time())
    assert verify(token(exp=now - LEEWAY_SECONDS // 2))["oid"] == "o-1"
    assert reason_of(token(exp=now - LEEWAY_SECONDS - 60)) == "expired"
    assert reason_of(token(nbf=now + LEEWAY_SECONDS + 600, iat=now)) == "id_token"


def test_audience_issuer_tenant_and_nonce_are_checked():
    assert reason_of(token(aud="someone-elses-app")) == "audience"
    assert reason_of(token(iss="https://evil.example/v2.0")) == "issuer"
    assert reason_of(token(tid="99999999-8888-7777-6666-555555555555")) == "wrong_tenant"
    assert reason_of(token(nonce=nonce_hash("other"))) == "nonce"
    assert reason_of(token(oid=None)) == "id_token"
    assert reason_of(token(exp=None)) == "id_token"
    assert reason_of("not-a-token") == "id_token"


def test_only_known_app_roles_grant_anything():
    identity = Identity(TENANT, "o", "u@x", "n", app_roles=("ConsultationDesk", "Admin", "Member", "admin"))
    assert identity.granted_roles == ("admin", "desk")
    assert Identity(TENANT, "o", "u@x", "n").granted_roles == ()
