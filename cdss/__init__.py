"""rls-cdss: a clinical decision-support rules service for restless legs syndrome."""
import logging

from flask import Flask

from cdss.config import load_config
from cdss.evaluation import Evaluator
from cdss.loader import load_rules


def create_app(config=None):
    """Build the application: configuration, rules compiled once, blueprints, error handlers."""
    app = Flask(__name__)
    app.config.update(load_config(config))
    logging.basicConfig(level=app.config["LOG_LEVEL"])
    app.json.sort_keys = False
    app.extensions["cdss"] = Evaluator(load_rules(app.config["RULES_DIR"]))

    from cdss import api, cli, errors  # noqa: PLC0415 - blueprints are imported inside the factory

    errors.init_app(app)
    app.register_blueprint(api.bp)
    cli.register(app)
    return app
