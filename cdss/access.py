"""Who may call the native API, where the service may listen, and the headers every answer carries.

The native API (/api/v1/*) takes either credential a hospital's integration team can run:
- `X-API-Key: <key>`: keys are configured by name as SHA-256 digests (CDSS_API_KEYS), never in clear.
  A key is 32 random bytes, so one unsalted hash is enough (it cannot be guessed from its digest).
- `Authorization: Bearer <JWT>`: a short-lived JWT signed by a trusted issuer's key (CDSS_TRUSTED_ISSUERS,
  the same table as CDS Hooks; SMART Backend Services style): `aud` is the endpoint URL or the API base
  (<public URL>/api/v1), `jti` used once.
Authentication is on whenever credentials are configured; with none configured it is off (development),
and then the service refuses to listen beyond loopback unless CDSS_INSECURE_DEVELOPMENT says so.
"""
import hashlib
import hmac
import ipaddress
import logging
import secrets
import sys

import jwt
from flask import current_app, g, request

from cdss.config import ConfigError, load_config
from cdss.errors import error_response
from cdss.hooks.errors import HookAuthError

log = logging.getLogger(__name__)
DIGEST_PREFIX = "sha256:"


def auth_enabled(config):
    """Whether callers must authenticate: as configured, else whenever any credential is configured."""
    if config["AUTH_DISABLED"] is not None:
        return not config["AUTH_DISABLED"]
    return bool(config["TRUSTED_ISSUERS"] or config["API_KEYS"])


def key_digest(key):
    """How an API key is stored: `sha256:<hex>`."""
    return DIGEST_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_api_keys(keys):
    """Fail at start-up on an API key table that could never match a key."""
    if not isinstance(keys, dict):
        raise ConfigError("CDSS_API_KEYS must be a JSON object: client name -> \"sha256:<64 hex digits>\"")
    for name, digest in keys.items():
        if not (isinstance(digest, str) and digest.startswith(DIGEST_PREFIX) and len(digest) == 71
                and all(char in "0123456789abcdef" for char in digest[7:])):
            raise ConfigError(f"CDSS_API_KEYS[{name!r}] must be \"sha256:<64 lowercase hex digits>\" (the key's digest)")


def api_client(key, keys):
    """The name of the client whose key this is, or None (every digest compared in constant time)."""
    digest, found = key_digest(key), None
    for name, stored in keys.items():
        if hmac.compare_digest(digest, stored):
            found = name
    return found


def authenticate_native():
    """Before every /api/v1 request: an API key or a trusted issuer's JWT, else 401."""
    config = current_app.config
    if not config["AUTH_ENABLED"]:
        return
    key = request.headers.get("X-API-Key")
    if key is not None:
        g.api_client = api_client(key, config["API_KEYS"])
        if g.api_client is None:
            raise HookAuthError("unknown API key")
        return
    claims = current_app.extensions["cdss.hooks.verifier"].verify(request.headers.get("Authorization"), audiences())
    g.api_client = claims["iss"]


def audiences():
    """The URLs a native API JWT's aud may name: this endpoint, or the API base."""
    public = current_app.config["PUBLIC_URL"]
    base = public.rstrip("/") if public else request.host_url.rstrip("/")
    return [base + request.path, base + "/api/v1"]


def is_loopback(address):
    """Whether a listening address (gunicorn's: (host, port), or a UNIX socket path) stays on this machine."""
    if not isinstance(address, tuple):
        return True  # a UNIX socket: only a local proxy can reach it
    host = address[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(addresses, config):
    """Refuse to serve without authentication beyond loopback unless development says so explicitly."""
    if auth_enabled(config) or config["INSECURE_DEVELOPMENT"]:
        return
    public = [address for address in addresses if not is_loopback(address)]
    if public:
        shown = ", ".join(f"{host}:{port}" for host, port in public)
        raise ConfigError(
            f"refusing to listen on {shown} with authentication off: configure CDSS_API_KEYS and/or "
            "CDSS_TRUSTED_ISSUERS, or bind 127.0.0.1, or set CDSS_INSECURE_DEVELOPMENT=1 (a development server only)")


def enforce_bind(server):
    """gunicorn's on_starting hook: stop before listening when check_bind refuses (the message says what to do)."""
    try:
        check_bind(server.cfg.address, load_config())
    except ConfigError as error:
        sys.exit(f"rls-cdss will not start: {error}")


def secure_headers(response):
    """Every answer: no MIME sniffing; nothing but static files kept in a cache (answers carry patient data)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def refuse(error):
    """401 with no detail (the reason goes to the log only, never the credential)."""
    log.warning("call refused: %s", error.reason)
    response, status = error_response(401, error.code, error.message)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, status


def check_inline_keys(issuers):
    """Fail at start-up on an inline JWK (CDSS_TRUSTED_ISSUERS' "jwks") that could never be used safely:
    RSA under 2048 bits, an EC key off its algorithm's curve, HMAC or an algorithm not accepted. Key sets
    fetched from jwks_url or jku are checked when used (cdss/hooks/auth.py), as they change at run time."""
    if not isinstance(issuers, dict):
        return  # cdss.hooks.check_issuers says what is wrong with the table itself
    for issuer, spec in issuers.items():
        jwks = spec.get("jwks") if isinstance(spec, dict) else None
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        for jwk in keys if isinstance(keys, list) else []:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue  # an encryption key is never used to verify a signature
            problem = key_problem(jwk)
            if problem:
                raise ConfigError(f"CDSS_TRUSTED_ISSUERS[{issuer!r}]: key {jwk.get('kid')!r} {problem}")


def key_problem(jwk):
    """Why a signing JWK is unfit for every algorithm it could carry, or None."""
    from cdss.hooks.auth import ALGORITHMS, fits, strong_enough  # noqa: PLC0415 - the verifier's own rules

    named = jwk.get("alg")
    if named is not None and named not in ALGORITHMS:
        return f"names algorithm {named!r}; only {', '.join(ALGORITHMS)} are accepted (never none or HMAC)"
    algorithms = [named] if named else [alg for alg in ALGORITHMS if fits(jwk, alg)]
    if not algorithms or not fits(jwk, algorithms[0]):
        return f"(kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r}) fits no accepted algorithm ({named or 'none named'})"
    for alg in algorithms:
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
        except jwt.PyJWTError as error:
            return f"is not a usable {alg} key ({type(error).__name__})"
        if not strong_enough(key.key, alg):
            return f"is too weak for {alg} (RSA under 2048 bits, or an EC key off the algorithm's curve)"
    return None


def init_app(app):
    """Resolve whether authentication is on, check the key tables, and add the headers to every answer."""
    check_api_keys(app.config["API_KEYS"])
    check_inline_keys(app.config["TRUSTED_ISSUERS"])
    app.config["AUTH_ENABLED"] = auth_enabled(app.config)
    app.after_request(secure_headers)
    app.register_error_handler(HookAuthError, refuse)
    if not app.config["AUTH_ENABLED"]:
        log.warning("!!! authentication is OFF (%s): /api/v1 and /cds-services answer ANYONE. Development only. !!!",
                    "CDSS_AUTH_DISABLED" if app.config["AUTH_DISABLED"] else "no CDSS_API_KEYS or CDSS_TRUSTED_ISSUERS")


def main(argv=None):
    """`python -m cdss.access NAME`: a new API key for a client, and the line to configure (its digest)."""
    name = (argv or sys.argv[1:] or ["client"])[0]
    key = secrets.token_urlsafe(32)
    print(f"API key for {name} (give it to the client once; it is not stored):\n  {key}")
    print(f"add to CDSS_API_KEYS:\n  \"{name}\": \"{key_digest(key)}\"")


if __name__ == "__main__":
    main()
