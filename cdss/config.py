"""Configuration: defaults, then CDSS_* environment variables, then the test mapping."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "RULES_DIR": str(ROOT / "rules"),
    "MAX_CONTENT_LENGTH": 64 * 1024,  # a patient context is a few KiB; 64 KiB leaves room for 100 meds
    "LOG_LEVEL": "INFO",
}

# Environment variable -> config key, with the type to parse it as.
ENVIRONMENT = {
    "CDSS_RULES_DIR": ("RULES_DIR", str),
    "CDSS_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", int),
    "CDSS_LOG_LEVEL": ("LOG_LEVEL", str),
}


def load_config(overrides=None, environ=None):
    """The effective configuration mapping."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for variable, (key, kind) in ENVIRONMENT.items():
        if variable in environ:
            config[key] = kind(environ[variable])
    config.update(overrides or {})
    return config
