"""CDS Hooks fixtures: an app with authentication off (JWT tests build their own), requests from files,
and a FHIR server played by `responses`."""
import copy
import json
from pathlib import Path

import pytest
import responses

from cdss import create_app

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FHIR = "https://ehr.example.org/fhir"


def fixture(name):
    """A JSON fixture (a fresh copy each time)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def hooks_app(tmp_path_factory):
    """The application with CDS Hooks authentication off (development mode) on its own database."""
    database = tmp_path_factory.mktemp("hooks-db") / "cdss.sqlite3"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PATIENT_HASH_SALT": "test-salt",
                       "AUTH_DISABLED": True, "FHIR_MAX_PAGES": 5})


@pytest.fixture()
def hooks(hooks_app):
    return hooks_app.test_client()


@pytest.fixture()
def fhir_server():
    """A FHIR server that answers only what a test registers; any other request fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def post(client, service, body, **kwargs):
    """POST a hook request and return (status, JSON)."""
    response = client.post(f"/cds-services/{service}", json=copy.deepcopy(body), **kwargs)
    return response.status_code, response.get_json()


def codes(cards):
    """The recommendation codes of a response's cards (from the reasoning extension)."""
    return [card["extension"]["org.rls-cdss.reasoning"]["recommendation"] for card in cards]
