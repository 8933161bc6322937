"""The client's JWT (spec §Trusting CDS Clients): keys generated here with `cryptography`."""
import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cdss import create_app
from tests.hooks.conftest import fixture

BASE = "https://cds.example.org"
ES_ISS, RS_ISS, JKU_ISS = "https://ehr-es.example.org", "https://ehr-rs.example.org", "https://sandbox.example.org"
RS_JWKS = "https://ehr-rs.example.org/jwks"
JKU = "https://sandbox.example.org/.well-known/jwks.json"
ES_KEY = ec.generate_private_key(ec.SECP384R1())
RS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JKU_KEY = ec.generate_private_key(ec.SECP384R1())
OTHER_KEY = ec.generate_private_key(ec.SECP384R1())


def jwk(key, kid, alg):
    """The public JWK of a private key."""
    maker = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    return {**maker.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": alg}


@pytest.fixture(scope="module")
def secure_config(tmp_path_factory):
    database = tmp_path_factory.mktemp("auth-db") / "cdss.sqlite3"
    return {"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PATIENT_HASH_SALT": "salt",
            "PUBLIC_URL": BASE + "/", "TRUSTED_ISSUERS": {
                ES_ISS: {"jwks": {"keys": [jwk(ES_KEY, "es-1", "ES384")]}},
                RS_ISS: {"jwks_url": RS_JWKS},
                JKU_ISS: {"jku_allowlist": [JKU]}}}


@pytest.fixture(scope="module")
def secure(secure_config):
    return create_app(secure_config).test_client()


@pytest.fixture()
def jwks_server():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, RS_JWKS, json={"keys": [jwk(RS_KEY, "rs-1", "RS384")]})
        mock.add(responses.GET, JKU, json={"keys": [jwk(JKU_KEY, "sb-1", "ES384")]})
        yield mock


def token(path="/cds-services/rls-iron", key=ES_KEY, alg="ES384", kid="es-1", iss=ES_ISS, headers=None, **claims):
    """A signed JWT for this service's endpoint; claims override the defaults."""
    now = int(time.time())
    payload = {"iss": iss, "aud": BASE + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **(headers or {})})


def unsigned(header, payload, sign=lambda data: b""):
    """A JWT assembled by hand (for algorithms PyJWT rightly refuses to produce)."""
    def part(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    signing_input = part(json.dumps(header).encode()) + b"." + part(json.dumps(payload).encode())
    return (signing_input + b"." + part(sign(signing_input))).decode()


def call(client, bearer, path="/cds-services/rls-iron"):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if path.endswith("rls-iron"):
        return client.post(path, json=fixture("dan-patient-view-full.json"), headers=headers)
    return client.get(path, headers=headers)


def test_valid_es384_from_configured_jwks(secure):
    assert call(secure, token()).status_code == 200
    assert call(secure, token(path="/cds-services"), "/cds-services").status_code == 200


def test_valid_rs384_from_the_issuers_jwks_url(secure, jwks_server):
    response = call(secure, token(key=RS_KEY, alg="RS384", kid="rs-1", iss=RS_ISS))
    assert response.status_code == 200
    assert call(secure, token(key=RS_KEY, alg="RS384", kid="rs-1", iss=RS_ISS)).status_code == 200
    assert len(jwks_server.calls) == 1  # cached


def test_valid_es384_from_an_allowlisted_jku(secure, jwks_server):
    bearer = token(key=JKU_KEY, kid="sb-1", iss=JKU_ISS, headers={"jku": JKU})
    assert call(secure, bearer).status_code == 200


REFUSED = {
    "no token": lambda: None,
    "expired": lambda: token(exp=int(time.time()) - 120, iat=int(time.time()) - 420),
    "not yet valid (iat)": lambda: token(iat=int(time.time()) + 600, exp=int(time.time()) + 900),
    "not yet valid (nbf)": lambda: token(nbf=int(time.time()) + 600),
    "wrong audience": lambda: token(path="/cds-services/rls-medication-safety"),
    "discovery audience": lambda: token(path="/cds-services"),
    "wrong key": lambda: token(key=OTHER_KEY),
    "unknown kid": lambda: token(kid="es-2"),
    "unknown issuer": lambda: token(iss="https://stranger.example.org"),
    "jku off the allowlist": lambda: token(key=JKU_KEY, kid="sb-1", iss=JKU_ISS,
                                           headers={"jku": "https://attacker.example.com/jwks.json"}),
    "no jti": lambda: token(jti=None),
    "no exp": lambda: token(exp=None),
    "lifetime over an hour": lambda: token(exp=int(time.time()) + 7200),
    "alg none": lambda: unsigned({"alg": "none", "typ": "JWT", "kid": "es-1"},
                                 {"iss": ES_ISS, "aud": BASE + "/cds-services/rls-iron", "exp": int(time.time()) + 300,
                                  "iat": int(time.time()), "jti": str(uuid.uuid4())}),
    "HS256 with the public key as secret": lambda: unsigned(
        {"alg": "HS256", "typ": "JWT", "kid": "es-1"},
        {"iss": ES_ISS, "aud": BASE + "/cds-services/rls-iron", "exp": int(time.time()) + 300,
         "iat": int(time.time()), "jti": str(uuid.uuid4())},
        lambda data: hmac.new(ES_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), data, hashlib.sha256).digest()),
    "RS384 claimed for an EC key": lambda: unsigned(
        {"alg": "RS384", "typ": "JWT", "kid": "es-1"},
        {"iss": ES_ISS, "aud": BASE + "/cds-services/rls-iron", "exp": int(time.time()) + 300,
         "iat": int(time.time()), "jti": str(uuid.uuid4())}, lambda data: b"\x01" * 256),
    "garbage": lambda: "not.a.jwt",
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_tokens_get_401_without_detail(secure, jwks_server, case):
    response = call(secure, REFUSED[case]())
    assert response.status_code == 401
    assert response.get_json() == {"error": {"code": "unauthorized", "message": "unauthorized"}}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert not any(call.request.url.startswith("https://attacker") for call in jwks_server.calls)


def test_replayed_jti_is_refused(secure):
    bearer = token()
    assert call(secure, bearer).status_code == 200
    assert call(secure, bearer).status_code == 401


def test_a_token_replayed_to_another_worker_is_refused(secure, secure_config):
    other_worker = create_app(secure_config).test_client()  # same database, its own memory
    bearer = token()
    assert call(secure, bearer).status_code == 200
    assert call(other_worker, bearer).status_code == 401


def test_replay_guard_falls_back_to_memory_when_the_database_fails():
    from sqlalchemy import create_engine

    from cdss.hooks.auth import DatabaseReplayCache

    guard = DatabaseReplayCache(create_engine("sqlite://"))  # no jwt_replay table: every insert fails
    assert guard.first_use("iss", "jti-1", time.time() + 60) is True
    assert guard.first_use("iss", "jti-1", time.time() + 60) is False


def test_feedback_accepts_its_own_url_or_the_services(secure):
    body = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00Z"}]}
    for path in ("/cds-services/rls-iron/feedback", "/cds-services/rls-iron"):
        headers = {"Authorization": f"Bearer {token(path=path)}"}
        response = secure.post("/cds-services/rls-iron/feedback", json=body, headers=headers)
        assert response.status_code == 200, path


def test_cors_preflight_needs_no_token_and_allows_authorization(secure):
    response = secure.options("/cds-services/rls-iron", headers={
        "Origin": "https://sandbox.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://sandbox.example.org")
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_the_token_is_never_logged(secure, caplog):
    bearer = token(exp=int(time.time()) - 120, iat=int(time.time()) - 420)
    with caplog.at_level("INFO"):
        call(secure, bearer)
    assert bearer not in caplog.text and bearer.split(".")[1] not in caplog.text
    assert "token expired" in caplog.text  # the reason is logged, for the operator


def test_bad_issuer_configuration_fails_at_start(tmp_path):
    with pytest.raises(ValueError, match="needs jwks"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "PATIENT_HASH_SALT": "s",
                    "TRUSTED_ISSUERS": {"https://x.example.org": {"keys": []}}})
