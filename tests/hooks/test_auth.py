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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
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


WEAK_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # cryptography makes none smaller
P256_KEY = ec.generate_private_key(ec.SECP256R1())
FHIR_SERVER = "https://ehr-es.example.org/fhir/r4"
SANDBOX = "https://sandbox.example.org"


@pytest.fixture(scope="module")
def secure_config(tmp_path_factory):
    database = tmp_path_factory.mktemp("auth-db") / "cdss.sqlite3"
    return {"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PATIENT_HASH_SALT": "salt",
            "PUBLIC_URL": BASE + "/", "CORS_ORIGINS": SANDBOX, "TRUSTED_ISSUERS": {
                ES_ISS: {"jwks": {"keys": [jwk(ES_KEY, "es-1", "ES384")]}, "fhir_servers": [FHIR_SERVER + "/"]},
                RS_ISS: {"jwks_url": RS_JWKS},
                JKU_ISS: {"jku_allowlist": [JKU]}}}


@pytest.fixture(scope="module")
def secure(secure_config):
    return create_app(secure_config).test_client()


@pytest.fixture()
def jwks_server():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        # weak keys are served by the issuer's jwks_url: inline ones are refused at start-up (cdss/access.py)
        weak = [jwk(WEAK_RSA_KEY, "weak-rs", "RS256"),
                {**jwk(P256_KEY, "p256-as-384", "ES384"), "crv": "P-384"}]  # the JWK lies about its curve
        mock.add(responses.GET, RS_JWKS, json={"keys": [jwk(RS_KEY, "rs-1", "RS384"), *weak]})
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
    "RSA key of 1024 bits": lambda: unsigned(
        {"alg": "RS256", "typ": "JWT", "kid": "weak-rs"},
        {"iss": RS_ISS, "aud": BASE + "/cds-services/rls-iron", "exp": int(time.time()) + 300,
         "iat": int(time.time()), "jti": str(uuid.uuid4())},
        lambda data: WEAK_RSA_KEY.sign(data, padding.PKCS1v15(), hashes.SHA256())),
    "P-256 key used for ES384": lambda: unsigned(
        {"alg": "ES384", "typ": "JWT", "kid": "p256-as-384"},
        {"iss": RS_ISS, "aud": BASE + "/cds-services/rls-iron", "exp": int(time.time()) + 300,
         "iat": int(time.time()), "jti": str(uuid.uuid4())},
        lambda data: es384_signed_with_p256(data)),
}


def es384_signed_with_p256(data):
    """An ES384-style signature (r || s, 48 bytes each) made with a P-256 key: the wrong curve for the alg."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(P256_KEY.sign(data, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


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


def test_replay_guard_refuses_every_call_while_the_database_fails():
    from sqlalchemy import create_engine

    from cdss.hooks.auth import AuthUnavailableError, DatabaseReplayCache

    guard = DatabaseReplayCache(create_engine("sqlite://"))  # no jwt_replay table: every insert fails
    for _ in range(2):  # never falls back to a per-process memory (a replay to another worker would pass)
        with pytest.raises(AuthUnavailableError):
            guard.first_use("iss", "jti-1", time.time() + 60)


def test_a_call_while_the_jti_store_is_down_is_503_and_the_token_still_works_after(secure_config, monkeypatch):
    from sqlalchemy.exc import OperationalError

    app = create_app(secure_config)
    client, guard = app.test_client(), app.extensions["cdss.hooks.verifier"].replay
    engine = guard.engine
    broken = type("Down", (), {"begin": lambda self: (_ for _ in ()).throw(OperationalError("x", {}, None))})()
    bearer = token()
    monkeypatch.setattr(guard, "engine", broken)
    response = call(client, bearer)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["error"]["code"] == "authentication_unavailable"
    monkeypatch.setattr(guard, "engine", engine)
    assert call(client, bearer).status_code == 200  # it was never recorded as used
    assert call(client, bearer).status_code == 401


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
    assert response.headers["Access-Control-Allow-Origin"] == "https://sandbox.example.org"
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


def test_a_weak_rsa_key_is_refused_by_the_key_check_itself():
    from cdss.hooks.auth import strong_enough

    assert not strong_enough(WEAK_RSA_KEY.public_key(), "RS256")
    assert strong_enough(RS_KEY.public_key(), "RS384")
    assert not strong_enough(P256_KEY.public_key(), "ES384") and strong_enough(P256_KEY.public_key(), "ES256")
    assert not strong_enough(RS_KEY.public_key(), "ES256")


def test_cors_is_only_for_the_configured_origins(secure, tmp_path):
    response = secure.options("/cds-services/rls-iron", headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers
    default = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "PATIENT_HASH_SALT": "s",
                          "AUTH_DISABLED": True}).test_client()
    response = default.options("/cds-services/rls-iron", headers={
        "Origin": SANDBOX, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers  # none configured: no browser origin


def test_answers_are_neither_sniffed_nor_cached(secure):
    for response in (call(secure, token()), call(secure, None), secure.get("/cds-services/nope")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


# --- fhirServer: only a FHIR server configured for the calling issuer receives its access token ----------

def fhir_call(server):
    """A patient-view call with nothing prefetched, so every key is read from `server`."""
    body = fixture("dan-patient-view-full.json")
    body.pop("prefetch")
    body.update(fhirServer=server, fhirAuthorization={
        "access_token": "secret-ehr-token", "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "cds-service"})
    return body


def test_a_configured_fhir_server_is_read_with_the_token(secure):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as server:
        server.add(responses.GET, FHIR_SERVER + "/Patient/pat-dan", json={"resourceType": "Patient", "id": "pat-dan"})
        secure.post("/cds-services/rls-iron", json=fhir_call(FHIR_SERVER),
                    headers={"Authorization": f"Bearer {token()}"})
        assert server.calls and server.calls[0].request.headers["Authorization"] == "Bearer secret-ehr-token"


@pytest.mark.parametrize("server", ["https://attacker.example.com/fhir", "http://169.254.169.254/latest",
                                    FHIR_SERVER + "/../../admin", "https://ehr-es.example.org/fhir"])
def test_a_fhir_server_not_configured_for_the_issuer_is_never_contacted(secure, server):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:  # any request would fail loudly
        response = secure.post("/cds-services/rls-iron", json=fhir_call(server),
                               headers={"Authorization": f"Bearer {token()}"})
        assert not mock.calls
    assert response.status_code == 412  # the required data could not be had, and the reason says why
    assert "not one of the FHIR servers configured" in json.dumps(response.get_json())


def test_an_issuer_without_fhir_servers_may_name_none(secure, jwks_server):
    response = secure.post("/cds-services/rls-iron", json=fhir_call(FHIR_SERVER),
                           headers={"Authorization": f"Bearer {token(key=RS_KEY, alg='RS384', kid='rs-1', iss=RS_ISS)}"})
    assert response.status_code == 412
    assert not [item for item in jwks_server.calls if item.request.url.startswith(FHIR_SERVER)]
