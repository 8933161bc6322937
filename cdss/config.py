"""Configuration: defaults, then CDSS_* environment variables, then the test mapping."""
import json
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "RULES_DIR": str(ROOT / "rules"),
    "MAX_CONTENT_LENGTH": 64 * 1024,  # a patient context is a few KiB; 64 KiB leaves room for 100 meds
    "LOG_LEVEL": "INFO",
    "DATABASE_URL": None,  # None: SQLite at instance/cdss.sqlite3
    "MIGRATE_ON_START": True,
    "PATIENT_HASH_SALT": None,  # None: a random salt kept in instance/patient-hash.salt
    "AUDIT_PAYLOADS": False,  # store the full clinical payload with each evaluation (off: PHI)
    "REUSE_RESULTS": 256,  # recent results kept per worker for identical contexts (0: never reuse)
    # Audit trail (ops): a record the database cannot take goes to the outbox; neither: 503 unless fail-open.
    "AUDIT_FAIL_OPEN": False,  # True: answer even when no audit record can be kept (logged as critical)
    "AUDIT_OUTBOX_DIR": None,  # None: the instance folder (outbox and shared counters)
    "DB_CONNECT_TIMEOUT": 3.0,  # seconds to establish a database connection
    "DB_STATEMENT_TIMEOUT": 3.0,  # seconds for one statement or audit write (client and server side)
    "DB_POOL_TIMEOUT": 3.0,  # seconds to wait for a pooled connection
    # CDS Hooks (cdss/hooks/README.md): who may call, where we are reached, how we reach FHIR servers.
    "TRUSTED_ISSUERS": {},  # iss -> {"jwks": {...}} or {"jwks_url": ..., "jku_allowlist": [...]}
    "PUBLIC_URL": None,  # base URL clients call (the JWT `aud`); None: the request's own URL
    "AUTH_DISABLED": None,  # None: on when any credential is configured; True: off (development only)
    "API_KEYS": {},  # native API clients: name -> "sha256:<hex>" digest of the key (python -m cdss.access NAME)
    "INSECURE_DEVELOPMENT": False,  # allow listening beyond loopback with authentication off (never in production)
    "JWT_LEEWAY_SECONDS": 60,  # clock skew allowed on exp/iat/nbf
    "JWT_MAX_LIFETIME_SECONDS": 3600,  # exp - iat above this is refused (bounds the jti replay cache)
    "JWKS_CACHE_SECONDS": 300,
    "FHIR_CONNECT_TIMEOUT": 3.05,
    "FHIR_READ_TIMEOUT": 10.0,
    "FHIR_MAX_PAGES": 10,  # Bundle pages followed per prefetch key
    "CORS_ORIGINS": "",  # browser-based EHRs allowed on CDS Hooks, comma-separated ("": none; "*": any)
    "HOOKS_MAX_BODY_BYTES": 4 * 1024 * 1024,  # a CDS Hooks call carries prefetched FHIR Bundles
    "BODY_TIMEOUT": 10.0,  # seconds for a whole request body to arrive (gevent workers; 408 and close after)
}

# Environment variable -> config key, with the type to parse it as.
ENVIRONMENT = {
    "CDSS_RULES_DIR": ("RULES_DIR", str),
    "CDSS_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", int),
    "CDSS_LOG_LEVEL": ("LOG_LEVEL", str),
    "DATABASE_URL": ("DATABASE_URL", str),
    "CDSS_MIGRATE_ON_START": ("MIGRATE_ON_START", lambda value: value.lower() in ("1", "true", "yes")),
    "CDSS_PATIENT_HASH_SALT": ("PATIENT_HASH_SALT", str),
    "CDSS_AUDIT_PAYLOADS": ("AUDIT_PAYLOADS", lambda value: value.lower() in ("1", "true", "yes")),
    "CDSS_REUSE_RESULTS": ("REUSE_RESULTS", lambda value: non_negative(int(value))),
    "CDSS_AUDIT_FAIL_OPEN": ("AUDIT_FAIL_OPEN", lambda value: value.lower() in ("1", "true", "yes")),
    "CDSS_AUDIT_OUTBOX_DIR": ("AUDIT_OUTBOX_DIR", str),
    "CDSS_DB_CONNECT_TIMEOUT": ("DB_CONNECT_TIMEOUT", lambda value: positive(float(value))),
    "CDSS_DB_STATEMENT_TIMEOUT": ("DB_STATEMENT_TIMEOUT", lambda value: positive(float(value))),
    "CDSS_DB_POOL_TIMEOUT": ("DB_POOL_TIMEOUT", lambda value: positive(float(value))),
    "CDSS_TRUSTED_ISSUERS": ("TRUSTED_ISSUERS", json.loads),
    "CDSS_PUBLIC_URL": ("PUBLIC_URL", str),
    "CDSS_AUTH_DISABLED": ("AUTH_DISABLED", lambda value: flag(value)),
    "CDSS_API_KEYS": ("API_KEYS", json.loads),
    "CDSS_INSECURE_DEVELOPMENT": ("INSECURE_DEVELOPMENT", lambda value: flag(value)),
    "CDSS_JWT_LEEWAY_SECONDS": ("JWT_LEEWAY_SECONDS", int),
    "CDSS_JWT_MAX_LIFETIME_SECONDS": ("JWT_MAX_LIFETIME_SECONDS", int),
    "CDSS_JWKS_CACHE_SECONDS": ("JWKS_CACHE_SECONDS", int),
    "CDSS_FHIR_CONNECT_TIMEOUT": ("FHIR_CONNECT_TIMEOUT", float),
    "CDSS_FHIR_READ_TIMEOUT": ("FHIR_READ_TIMEOUT", float),
    "CDSS_FHIR_MAX_PAGES": ("FHIR_MAX_PAGES", int),
    "CDSS_CORS_ORIGINS": ("CORS_ORIGINS", str),
    "CDSS_HOOKS_MAX_BODY_BYTES": ("HOOKS_MAX_BODY_BYTES", int),
    "CDSS_BODY_TIMEOUT": ("BODY_TIMEOUT", lambda value: positive(float(value))),
}


def flag(value):
    """A yes/no setting, strictly: a typo must not silently mean "no" for a security switch."""
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no", ""):
        return False
    raise ValueError("must be 1/true/yes or 0/false/no")


def non_negative(number):
    """A count that cannot be negative."""
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def positive(number):
    """A duration that must be more than zero (and finite)."""
    if not 0 < number < float("inf"):
        raise ValueError("must be a positive number of seconds")
    return number


class ConfigError(ValueError):
    """An environment variable the service cannot read; start-up stops and names it."""


def load_config(overrides=None, environ=None):
    """The effective configuration mapping."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for variable, (key, kind) in ENVIRONMENT.items():
        if variable in environ:
            try:
                config[key] = kind(environ[variable])
            except ValueError as error:  # json.JSONDecodeError is a ValueError too
                raise ConfigError(f"{variable}: cannot read {environ[variable][:40]!r}: {error}") from None
    config.update(overrides or {})
    return config


def database_url(config, instance_path):
    """The database URL: DATABASE_URL, or SQLite in the instance folder (created on first run)."""
    url = config["DATABASE_URL"]
    if not url:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(instance_path) / 'cdss.sqlite3'}"
    if url.startswith("postgres://"):  # the old scheme some platforms still hand out
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def database_timeouts(config):
    """The database timeouts in seconds: connect, statement, pool."""
    return {"connect": config["DB_CONNECT_TIMEOUT"], "statement": config["DB_STATEMENT_TIMEOUT"],
            "pool": config["DB_POOL_TIMEOUT"]}


def patient_hash_salt(config, instance_path):
    """The salt of patient-id hashes: configured, or generated once and kept in the instance folder."""
    if config["PATIENT_HASH_SALT"]:
        return config["PATIENT_HASH_SALT"]
    path = Path(instance_path) / "patient-hash.salt"
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            with open(path, "x", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32))
        except FileExistsError:
            pass  # another worker wrote it first
    return path.read_text(encoding="ascii").strip()
