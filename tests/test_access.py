"""Who may call the native API, where the service may listen, and the headers of every answer (cdss/access.py)."""
import http.client
import json
import socket
import subprocess
import sys
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from bench.server import GUNICORN, ROOT, free_port, gunicorn
from cdss import create_app
from cdss.access import check_bind, key_digest
from cdss.config import ConfigError, load_config
from tests.conftest import API_KEY, make_patient

ISSUER = "https://backend.example.org"
KEY = ec.generate_private_key(ec.SECP256R1())
BASE = "https://cdss.example.org"
ROUTES = [("post", "/api/v1/evaluate"), ("get", "/api/v1/rules"), ("get", "/api/v1/vocabulary"),
          ("get", f"/api/v1/evaluations/{uuid.uuid4()}"), ("post", "/advice")]  # /advice: the clinician page's


def config(tmp_path, **settings):
    return {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/access.sqlite3", "PATIENT_HASH_SALT": "s",
            **settings}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """API keys and a trusted issuer (SMART Backend Services style) on one app; a client that sends nothing."""
    jwk = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "b-1", "use": "sig", "alg": "ES256"}
    app = create_app(config(tmp_path_factory.mktemp("access"), PUBLIC_URL=BASE, API_KEYS={"ehr": key_digest(API_KEY)},
                            TRUSTED_ISSUERS={ISSUER: {"jwks": {"keys": [jwk]}}}))
    return app.test_client()


def bearer(aud=BASE + "/api/v1", **claims):
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    return {"Authorization": "Bearer " + jwt.encode(payload, KEY, algorithm="ES256", headers={"kid": "b-1", "typ": "JWT"})}


def send(client, method, path, headers=None):
    body = {"json": make_patient()} if method == "post" else {}
    return getattr(client, method)(path, headers=headers or {}, **body)


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"Authorization": "Bearer x.y.z"},
                                     {"Authorization": f"Bearer {API_KEY}"}], ids=["none", "wrong key", "empty key",
                                                                                    "garbage jwt", "key as bearer"])
def test_every_native_route_refuses_a_caller_without_credentials(secured, method, path, headers):
    response = send(secured, method, path, headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": {"code": "unauthorized", "message": "unauthorized"}}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("method,path", ROUTES[:3])
def test_an_api_key_or_a_trusted_issuers_jwt_is_let_in(secured, method, path):
    assert send(secured, method, path, {"X-API-Key": API_KEY}).status_code == 200
    assert send(secured, method, path, bearer()).status_code == 200  # aud: the API base
    assert send(secured, method, path, bearer(aud=BASE + path)).status_code == 200  # aud: the endpoint


@pytest.mark.parametrize("claims", [{"aud": BASE + "/cds-services/rls-iron"}, {"iss": "https://other.example.org"},
                                    {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}])
def test_a_jwt_for_another_audience_issuer_or_time_is_refused(secured, claims):
    assert send(secured, "post", "/api/v1/evaluate", bearer(**claims)).status_code == 401


def test_the_clinician_page_asks_for_a_key_and_its_advice_takes_the_api_credentials(secured, tmp_path):
    # /advice evaluates and audits like /api/v1/evaluate: it was open to anyone with authentication on
    page = secured.get("/").get_data(as_text=True)
    assert 'id="api-key"' in page and 'type="password"' in page
    assert send(secured, "post", "/advice", {"X-API-Key": API_KEY}).status_code == 200
    assert send(secured, "post", "/advice", bearer(aud=BASE + "/advice")).status_code == 200
    open_app = create_app(config(tmp_path, AUTH_DISABLED=True)).test_client()
    assert 'id="api-key"' not in open_app.get("/").get_data(as_text=True)  # development: no key to ask for
    assert send(open_app, "post", "/advice").status_code == 200


def test_a_jwt_is_used_once(secured):
    headers = bearer()
    assert send(secured, "get", "/api/v1/rules", headers).status_code == 200
    assert send(secured, "get", "/api/v1/rules", headers).status_code == 401


def test_the_audit_record_of_an_evaluation_needs_credentials_too(secured):
    evaluation = send(secured, "post", "/api/v1/evaluate", {"X-API-Key": API_KEY}).get_json()["evaluation_id"]
    assert secured.get(f"/api/v1/evaluations/{evaluation}").status_code == 401
    assert secured.get(f"/api/v1/evaluations/{evaluation}", headers={"X-API-Key": API_KEY}).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/"])
def test_health_the_document_and_the_page_need_no_credentials(secured, path):
    assert secured.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/rules", "/api/v1/nope", "/healthz", "/cds-services"])
def test_answers_are_neither_sniffed_nor_cached(secured, path):
    response = secured.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_with_no_credentials_configured_authentication_is_off_for_development(tmp_path):
    client = create_app(config(tmp_path)).test_client()
    assert client.post("/api/v1/evaluate", json=make_patient()).status_code == 200
    assert client.get("/").status_code == 200  # the clinician page posts to the API without a key


def test_authentication_forced_on_with_nothing_configured_refuses_everyone(tmp_path):
    client = create_app(config(tmp_path, AUTH_DISABLED=False)).test_client()
    assert client.post("/api/v1/evaluate", json=make_patient()).status_code == 401


def test_authentication_switched_off_lets_anyone_in_even_with_keys(tmp_path):
    client = create_app(config(tmp_path, AUTH_DISABLED=True, API_KEYS={"ehr": key_digest(API_KEY)})).test_client()
    assert client.get("/api/v1/rules").status_code == 200


@pytest.mark.parametrize("keys", [{"ehr": API_KEY}, {"ehr": "sha256:" + "A" * 64}, {"ehr": None}, ["x"]])
def test_an_api_key_table_that_could_never_match_stops_start_up(tmp_path, keys):
    with pytest.raises(ConfigError, match="CDSS_API_KEYS"):
        create_app(config(tmp_path, API_KEYS=keys))


@pytest.mark.parametrize("variable", ["CDSS_AUTH_DISABLED", "CDSS_INSECURE_DEVELOPMENT"])
def test_a_security_switch_with_a_typo_stops_start_up(variable):
    with pytest.raises(ConfigError, match=variable):
        load_config(environ={variable: "ture"})


def test_a_new_key_is_printed_with_the_digest_to_configure():
    output = subprocess.run([sys.executable, "-m", "cdss.access", "ehr-a"], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout
    key = output.split("\n")[1].strip()
    assert f'"ehr-a": "{key_digest(key)}"' in output and len(key) >= 43


# --- Where the service may listen -------------------------------------------------------------------------

OFF = {"AUTH_DISABLED": None, "TRUSTED_ISSUERS": {}, "API_KEYS": {}, "INSECURE_DEVELOPMENT": False}


@pytest.mark.parametrize("address", [("127.0.0.1", 8000), ("127.8.9.1", 80), ("::1", 8000), ("[::1]", 8000),
                                     ("localhost", 8000), "/run/cdss.sock"])
def test_loopback_and_unix_sockets_are_fine_without_authentication(address):
    check_bind([address], OFF)


@pytest.mark.parametrize("address", [("0.0.0.0", 8000), ("::", 8000), ("10.1.2.3", 8000), ("cdss.example.org", 80)])
def test_any_other_address_without_authentication_is_refused_naming_the_way_out(address):
    with pytest.raises(ConfigError, match="CDSS_INSECURE_DEVELOPMENT"):
        check_bind([("127.0.0.1", 8000), address], OFF)
    check_bind([address], {**OFF, "INSECURE_DEVELOPMENT": True})
    check_bind([address], {**OFF, "API_KEYS": {"ehr": key_digest(API_KEY)}})
    with pytest.raises(ConfigError):
        check_bind([address], {**OFF, "AUTH_DISABLED": True, "API_KEYS": {"ehr": key_digest(API_KEY)}})


def test_gunicorn_will_not_start_on_every_interface_without_authentication(tmp_path):
    environment = {key: value for key, value in __import__("os").environ.items()
                   if not key.startswith("CDSS_") and key != "DATABASE_URL"}
    process = subprocess.run(
        [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**environment, "HOST": "0.0.0.0", "PORT": str(free_port()), "CDSS_INSTANCE_PATH": str(tmp_path)})
    assert process.returncode != 0
    assert "will not start" in process.stderr and "CDSS_INSECURE_DEVELOPMENT" in process.stderr


# --- gunicorn's own errors, a chunked body over the limit, through the real server -------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with gunicorn("wsgi:app", tmp_path_factory.mktemp("served"), "/healthz",
                  extra_env={"WEB_CONCURRENCY": "1", "CDSS_API_KEYS": json.dumps({"t": key_digest(API_KEY)})}) as (port, _):
        yield port


def raw_exchange(port, request):
    """Send raw bytes, read the whole answer: (status, headers text, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), body


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (b"NOT A REQUEST LINE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
])
def test_gunicorns_own_errors_answer_in_the_error_shape(served, request_bytes, status):
    code, head, body = raw_exchange(served, request_bytes)
    assert code == status
    assert "Content-Type: application/json" in head and "X-Content-Type-Options: nosniff" in head
    error = json.loads(body)["error"]
    assert error["code"] and error["message"]


def test_a_chunked_body_over_the_limit_is_413_through_gunicorn(served):
    body = json.dumps(make_patient()).encode() + b" " * (64 * 1024)
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=30)
    connection.request("POST", "/api/v1/evaluate", body=iter([body[i:i + 4096] for i in range(0, len(body), 4096)]),
                       headers={"Content-Type": "application/json", "X-API-Key": API_KEY}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413, response.read()[:300]
    assert json.loads(response.read())["error"]["code"] == "request_entity_too_large"
    connection.close()


def test_the_served_api_refuses_a_caller_without_a_key_and_answers_one_with_it(served):
    for headers, status in (({}, 401), ({"X-API-Key": API_KEY}, 200)):
        connection = http.client.HTTPConnection("127.0.0.1", served, timeout=30)
        connection.request("POST", "/api/v1/evaluate", body=json.dumps(make_patient()),
                           headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        assert response.status == status and response.getheader("Cache-Control") == "no-store"
        response.read()
        connection.close()


def inline_issuer(tmp_path, *keys):
    """Build an app trusting one issuer whose JWK Set is configured inline."""
    return create_app(config(tmp_path, TRUSTED_ISSUERS={ISSUER: {"jwks": {"keys": list(keys)}}}))


@pytest.mark.parametrize("case", ["RSA 1024", "P-256 labelled ES384", "HMAC", "alg none"])
def test_an_inline_key_unfit_for_signatures_stops_start_up(tmp_path, case):
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from jwt.algorithms import RSAAlgorithm  # noqa: PLC0415

    keys = {
        "RSA 1024": lambda: {**RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 1024).public_key(), as_dict=True),
                             "kid": "weak", "alg": "RS256"},
        "P-256 labelled ES384": lambda: {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "weak",
                                         "alg": "ES384"},
        "HMAC": lambda: {"kty": "oct", "k": "c2VjcmV0", "kid": "weak"},
        "alg none": lambda: {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "weak", "alg": "none"},
    }
    with pytest.raises(ConfigError, match="'weak'"):
        inline_issuer(tmp_path, keys[case]())


def test_fit_inline_keys_and_encryption_keys_are_accepted_at_start_up(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from jwt.algorithms import RSAAlgorithm  # noqa: PLC0415

    strong = {**RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key(), as_dict=True), "kid": "rs"}
    encryption = {"kty": "oct", "k": "c2VjcmV0", "kid": "enc", "use": "enc"}  # never used to verify: left alone
    p256 = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "es"}  # no alg: ES256 by its curve
    assert inline_issuer(tmp_path, strong, encryption, p256) is not None
