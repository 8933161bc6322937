"""CDS Hooks 2.0 for EHRs: discovery, services on FHIR R4 data, JWT-authenticated clients, feedback.

`init_app(app)` registers the blueprint, CORS for browser-based clients, and the JWT verifier.
"""
import logging

from flask_cors import CORS

log = logging.getLogger(__name__)


def check_issuers(issuers):
    """Fail at start-up on a trusted-issuer table that could never verify anything."""
    if not isinstance(issuers, dict):
        raise ValueError("CDSS_TRUSTED_ISSUERS must be a JSON object: "
                         "issuer -> {jwks | jwks_url | jku_allowlist, fhir_servers}")
    for issuer, spec in issuers.items():
        if not isinstance(spec, dict) or not ({"jwks", "jwks_url", "jku_allowlist"} & set(spec)):
            raise ValueError(f"trusted issuer {issuer!r} needs jwks, jwks_url or jku_allowlist")
        if "jwks" in spec and not isinstance(spec["jwks"].get("keys") if isinstance(spec["jwks"], dict) else None, list):
            raise ValueError(f"trusted issuer {issuer!r}: jwks must be a JWK Set ({{\"keys\": [...]}})")
        for name in ("jku_allowlist", "fhir_servers"):
            if not isinstance(spec.get(name, []), list) or not all(isinstance(url, str) for url in spec.get(name, [])):
                raise ValueError(f"trusted issuer {issuer!r}: {name} must be a list of URLs")


def init_app(app):
    """Attach the CDS Hooks endpoints, their CORS policy and the verifier of clients' JWTs."""
    from cdss.hooks import views  # noqa: PLC0415 - blueprints are imported inside the factory
    from cdss.hooks.auth import DatabaseReplayCache, KeySets, Verifier  # noqa: PLC0415

    config = app.config
    check_issuers(config["TRUSTED_ISSUERS"])
    app.register_blueprint(views.bp)
    origins = [item.strip() for item in config["CORS_ORIGINS"].split(",") if item.strip()]
    if origins:  # none configured: no cross-origin browser may call (server-to-server EHRs need no CORS)
        CORS(app, resources={r"/cds-services(/.*)?": {
            "origins": "*" if "*" in origins else origins,
            "allow_headers": ["Authorization", "Content-Type"], "methods": ["GET", "POST", "OPTIONS"],
            "max_age": 600}})
    app.extensions["cdss.hooks.verifier"] = Verifier(
        config["TRUSTED_ISSUERS"], config["JWT_LEEWAY_SECONDS"], config["JWT_MAX_LIFETIME_SECONDS"],
        KeySets(ttl=config["JWKS_CACHE_SECONDS"]), DatabaseReplayCache(app.extensions["cdss.store"].engine))
    if config["AUTH_ENABLED"] and not config["TRUSTED_ISSUERS"]:
        log.warning("no CDSS_TRUSTED_ISSUERS configured: every CDS Hooks call will be refused (401)")
