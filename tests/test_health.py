"""/healthz says the process answers; /readyz says it can serve: rules loaded, audit possible, not draining."""
import os

import pytest

from cdss import create_app
from cdss.outbox import OutboxError

DEAD = "postgresql://postgres@127.0.0.1:1/none"  # nothing listens on port 1


@pytest.fixture(scope="module")
def dead_database_app(tmp_path_factory):
    """An app whose audit database does not answer, with an outbox of its own."""
    app = create_app({"TESTING": True, "DATABASE_URL": DEAD, "MIGRATE_ON_START": False,
                      "PATIENT_HASH_SALT": "test-salt", "AUDIT_OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox"))})
    yield app
    app.extensions["cdss.audit"].close()


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_with_rules_and_database(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"] == {"rules": "ok", "engine": "ok", "audit": "ok", "database": "ok", "outbox": "ok",
                              "serving": "ok"}
    assert body["rules"] == len(app.extensions["cdss"].knowledge.rules) > 0
    assert body["engine_sessions"] == 0
    assert body["audit"]["pid"] == os.getpid()
    assert set(body["audit"]["process"]) == {"database", "outboxed", "refused", "unaudited"}
    assert body["audit"]["outbox_depth"] == 0


def test_readyz_writes_to_the_database_not_just_reads(client, app):
    store = app.extensions["cdss.store"]
    with store.engine.connect() as connection:
        before = connection.exec_driver_sql("SELECT written_at FROM audit_heartbeat").all()
    assert client.get("/readyz").status_code == 200
    with store.engine.connect() as connection:
        after = connection.exec_driver_sql("SELECT written_at FROM audit_heartbeat").all()
    assert len(after) == 1 and after != before


def test_readyz_stays_ready_on_the_outbox_when_the_database_is_unreachable(dead_database_app):
    response = dead_database_app.test_client().get("/readyz")
    assert response.status_code == 200
    checks = response.get_json()["checks"]
    assert checks["database"] == "audit write failed (records go to the outbox)"
    assert checks["audit"] == "ok" and checks["outbox"] == "ok"


def test_readyz_is_503_when_neither_database_nor_outbox_can_write(dead_database_app, monkeypatch):
    monkeypatch.setattr(dead_database_app.extensions["cdss.audit"].outbox, "writable", lambda: False)
    response = dead_database_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["audit"] == "no audit record can be kept (database and outbox failed)"


def test_an_evaluation_that_cannot_be_audited_is_refused_in_the_error_shape(dead_database_app, monkeypatch):
    trail = dead_database_app.extensions["cdss.audit"]

    def full(record):
        raise OutboxError("ENOSPC")

    monkeypatch.setattr(trail.outbox, "append", full)
    response = dead_database_app.test_client().post("/api/v1/evaluate", json={"patient": {"age": 50}})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "audit_unavailable"
    assert "evaluation_id" not in response.get_json()


def test_fail_open_answers_unaudited_only_when_asked(dead_database_app, monkeypatch):
    trail = dead_database_app.extensions["cdss.audit"]
    monkeypatch.setattr(trail.outbox, "append", lambda record: (_ for _ in ()).throw(OutboxError("EROFS")))
    monkeypatch.setattr(trail, "fail_open", True)
    before = trail.shared.snapshot()["audit_unaudited"]
    response = dead_database_app.test_client().post("/api/v1/evaluate", json={"patient": {"age": 50}})
    assert response.status_code == 200
    assert trail.shared.snapshot()["audit_unaudited"] == before + 1


def test_readyz_is_503_while_draining(app, tmp_path, monkeypatch):
    flag = tmp_path / "draining"
    monkeypatch.setenv("CDSS_DRAIN_FLAG", str(flag))
    assert app.test_client().get("/readyz").status_code == 200
    flag.touch()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["serving"] == "draining (shutting down)"


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
