"""/healthz says the process answers; /readyz says it can serve: rules loaded and the database reachable."""
import pytest

from cdss import create_app


@pytest.fixture(scope="module")
def dead_database_app():
    """An app whose audit database does not answer (nothing listens on port 1)."""
    return create_app({"TESTING": True, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
                       "MIGRATE_ON_START": False, "PATIENT_HASH_SALT": "test-salt"})


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_with_rules_and_database(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"] == {"rules": "ok", "database": "ok", "engine": "ok"}
    assert body["rules"] == len(app.extensions["cdss"].knowledge.rules) > 0
    assert body["engine_sessions"] == 0


def test_readyz_is_503_when_the_database_is_unreachable(dead_database_app):
    response = dead_database_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "database unreachable"


def test_healthz_stays_ok_when_the_database_is_unreachable(dead_database_app):
    assert dead_database_app.test_client().get("/healthz").status_code == 200


def test_readyz_is_503_without_rules(app, monkeypatch):
    monkeypatch.setitem(app.extensions, "cdss", None)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["rules"] == "no rules loaded"


def test_readyz_is_503_once_the_engine_ran_out_of_sessions(app, monkeypatch):
    monkeypatch.setitem(app.extensions, "cdss.unhealthy", True)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["engine"] == "capacity exhausted"
