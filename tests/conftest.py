"""Shared fixtures: the app, a client, the loaded rules, and a patient builder with overridable defaults."""
import copy
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from cdss import create_app
from cdss.access import key_digest
from cdss.evaluation import Evaluator
from cdss.loader import load_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
ALL_CRITERIA = {"urge_to_move": True, "worse_at_rest": True, "relieved_by_movement": True,
                "worse_in_evening": True, "not_explained_by_other_condition": True}


@pytest.fixture(scope="session")
def knowledge():
    return load_rules(RULES)


@pytest.fixture(scope="session")
def evaluator(knowledge):
    return Evaluator(knowledge)


API_KEY = "test-api-key"  # configured only as its digest, like a deployment's keys


class AuthenticatedClient(FlaskClient):
    """A test client that sends the test API key with every request (tests/test_access.py proves refusals)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_X_API_KEY"] = API_KEY


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The application on a fresh SQLite database (PostgreSQL storage tests make their own), API keys on."""
    database = tmp_path_factory.mktemp("db") / "cdss.sqlite3"
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}",
                      "PATIENT_HASH_SALT": "test-salt", "API_KEYS": {"tests": key_digest(API_KEY)}})
    app.test_client_class = AuthenticatedClient
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


def make_patient(**overrides):
    """A complete adult context (iron replete, diagnosis confirmed); keyword overrides replace sections."""
    patient = {
        "patient": {"id": "test-1", "age": 45, "sex": "female"},
        "labs": {"ferritin": {"value": 150, "unit": "ng/mL"}, "tsat": {"value": 30, "unit": "%"},
                 "folate": {"value": 9, "unit": "ng/mL"}},
        "pregnancy": {"status": "not_pregnant"},
        "medications": [],
        "conditions": [],
        "rls": {"onset_age": 40, "family_history": False, "criteria": dict(ALL_CRITERIA)},
    }
    for key, value in overrides.items():
        if value is None:
            patient.pop(key, None)
        else:
            patient[key] = copy.deepcopy(value)
    return patient


def labs(**values):
    """Labs in canonical units: labs(ferritin=30, tsat=15)."""
    units = {"ferritin": "ng/mL", "tsat": "%", "folate": "ng/mL", "hemoglobin": "g/dL",
             "serum_iron": "ug/dL", "tibc": "ug/dL"}
    return {test: {"value": value, "unit": units[test]} for test, value in values.items()}


def codes(result):
    """Recommendation codes of an evaluation, in order."""
    return [item["code"] for item in result["recommendations"]]
