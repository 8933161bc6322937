"""rls-cdss: a clinical decision-support rules service for restless legs syndrome."""
import os
from inspect import CO_COROUTINE
from types import FunctionType

from flask import Flask

from cdss.config import database_timeouts, database_url, load_config, patient_hash_salt
from cdss.evaluation import Evaluator
from cdss.loader import load_rules
from cdss import serving
from cdss.json_provider import OrjsonProvider
from cdss.serving import serialise_engine
from cdss.storage import Store


class Service(Flask):
    """Flask, asked less per request: every hook and view here is a plain function; answers written by orjson."""

    json_provider_class = OrjsonProvider

    def ensure_sync(self, func):
        """Flask asks this of each hook and the view on every request (six times for an evaluation); a plain
        `def` answers from its code flags, where inspect.iscoroutinefunction took ~150 opcodes a call."""
        if type(func) is FunctionType and not func.__code__.co_flags & CO_COROUTINE:
            return func
        return super().ensure_sync(func)  # async views, partials, bound methods: as Flask decides


def create_app(config=None):
    """Build the application: configuration, rules compiled once, storage, blueprints, error handlers."""
    # CDSS_INSTANCE_PATH: where the SQLite database and the hash salt live (gunicorn.conf.py uses it too).
    instance = os.environ.get("CDSS_INSTANCE_PATH")
    app = Service(__name__, instance_relative_config=True, instance_path=instance and os.path.abspath(instance))
    app.config.update(load_config(config))
    from cdss import logs  # noqa: PLC0415

    logs.init_app(app)  # JSON lines, one per request, with its request id
    app.extensions["cdss"] = serialise_engine(
        Evaluator(load_rules(app.config["RULES_DIR"]), reuse=app.config["REUSE_RESULTS"]))
    store = Store(database_url(app.config, app.instance_path), database_timeouts(app.config))
    if app.config["MIGRATE_ON_START"]:
        store.migrate()
    app.extensions["cdss.store"] = store
    app.extensions["cdss.salt"] = patient_hash_salt(app.config, app.instance_path)
    app.extensions["cdss.metrics"] = {}
    from cdss import access, api, audit, cli, errors  # noqa: PLC0415 - blueprints are imported inside the factory

    audit.init_app(app, store)  # database, else the durable outbox, else 503
    from cdss import web  # noqa: PLC0415
    from cdss import health, openapi  # noqa: PLC0415

    errors.init_app(app)
    serving.init_app(app)  # CDS Hooks calls give way to native requests in a gevent worker
    access.init_app(app)  # who may call /api/v1 and /cds-services; security headers on every answer
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    from cdss import hooks  # noqa: PLC0415

    hooks.init_app(app)  # CDS Hooks 2.0: /cds-services, CORS, JWT verification
    cli.register(app)
    return app
