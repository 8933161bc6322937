"""The audit trail on a real SQLite file and a real PostgreSQL server (TEST_DATABASE_URL).

Each PostgreSQL run works in fresh schemas it drops afterwards, so runs are repeatable and never touch
other data. When PostgreSQL cannot be reached the postgres tests skip on a workstation and fail in CI.
"""
import datetime as dt
import json
import logging
import os
import time
import uuid

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, inspect, text
from sqlalchemy.exc import OperationalError

from cdss import create_app
from cdss.config import database_url
from cdss.storage import (MIGRATIONS, CardRecord, EvaluationRecord, Store, StorageError, card_rows, close_quietly,
                          json_text, patient_hash)
from tests.conftest import labs, make_patient

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SALT = "storage-test-salt"
RAW_ID = "MRN-0042-STORAGE"
TABLES = {"evaluations", "cards", "feedback", "alembic_version"}


class SqliteBackend:
    """Fresh SQLite files in a temporary folder."""

    def __init__(self, folder):
        self.folder = folder

    def fresh_url(self):
        return f"sqlite:///{self.folder / uuid.uuid4().hex}.sqlite3"

    def close(self):
        pass


class PostgresBackend:
    """Fresh schemas in the test database (search_path set per connection), dropped at the end."""

    def __init__(self, url):
        self.url = database_url({"DATABASE_URL": url}, None)
        self.admin = create_engine(self.url)
        self.schemas = []
        with self.admin.connect() as connection:
            connection.execute(text("SELECT 1"))

    def fresh_url(self):
        schema = f"cdss_test_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        self.schemas.append(schema)
        return f"{self.url}{'&' if '?' in self.url else '?'}options=-csearch_path%3D{schema}"

    def close(self):
        with self.admin.begin() as connection:
            for schema in self.schemas:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self.admin.dispose()


def connect_postgres():
    """The PostgreSQL backend; without a server: skip here, fail loudly in CI (CI=true)."""
    try:
        return PostgresBackend(TEST_DATABASE_URL)
    except OperationalError as error:
        message = f"PostgreSQL at TEST_DATABASE_URL is unreachable: {type(error).__name__}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI must run the storage tests on PostgreSQL too)")
        pytest.skip(message)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, tmp_path_factory):
    chosen = SqliteBackend(tmp_path_factory.mktemp("audit")) if request.param == "sqlite" else connect_postgres()
    yield chosen
    chosen.close()


def make_app(url, **config):
    return create_app({"TESTING": True, "DATABASE_URL": url, "PATIENT_HASH_SALT": SALT, **config})


def dispose(app):
    """Stop the audit replayer and close the app's pooled connections (an open one left is a warning)."""
    app.extensions["cdss.audit"].close()
    app.extensions["cdss.store"].close()


@pytest.fixture()
def new_app(backend):
    """Apps on fresh databases of the backend, closed after the test."""
    made = []
    yield lambda **config: made.append(make_app(backend.fresh_url(), **config)) or made[-1]
    for app in made:
        dispose(app)


@pytest.fixture(scope="module")
def audited(backend):
    """An app on a fresh database of the backend, migrated at start-up as in production."""
    app = make_app(backend.fresh_url())
    yield app
    dispose(app)


def rows(store, table):
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table}"))]


def test_migrations_create_every_table_at_the_head_revision(backend):
    store = Store(database_url({"DATABASE_URL": backend.fresh_url()}, None))
    store.migrate()
    assert TABLES <= set(inspect(store.engine).get_table_names())
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert rows(store, "alembic_version") == [{"version_num": head}]
    store.engine.dispose()


def test_migrations_apply_idempotently_and_keep_the_data(audited):
    store = audited.extensions["cdss.store"]
    evaluation_id = audited.test_client().post("/api/v1/evaluate", json=make_patient()).get_json()["evaluation_id"]
    store.migrate()
    store.migrate()
    assert len(rows(store, "alembic_version")) == 1
    assert store.get_evaluation(evaluation_id) is not None


CASES = [
    make_patient(patient={"id": RAW_ID, "age": 41, "sex": "female"}, labs=labs(ferritin=20, tsat=12),
                 pregnancy={"status": "pregnant", "trimester": 2}),
    make_patient(patient={"id": RAW_ID + "-b", "age": 60, "sex": "male"}, pregnancy=None,
                 medications=[{"name": "sertraline"}], conditions=[{"name": "dialysis"}]),
    make_patient(patient={"age": 50, "sex": "female"}),
]


@pytest.mark.parametrize("context", CASES, ids=["pregnant", "dialysis-ssri", "no-patient-id"])
def test_every_evaluation_is_recorded_with_what_ran_and_what_it_advised(audited, context):
    response = audited.test_client().post("/api/v1/evaluate", json=context)
    assert response.status_code == 200
    answer = response.get_json()
    record = audited.extensions["cdss.store"].get_evaluation(answer["evaluation_id"])
    assert record.source == "native"
    assert (record.ruleset_id, record.ruleset_version, record.ruleset_digest) == (
        answer["ruleset"]["id"], answer["ruleset"]["version"], answer["ruleset"]["digest"])
    assert record.fired_rules == answer["fired_rules"] and record.fired_rules
    assert record.classification == answer["classification"]["type"]
    assert record.causes == answer["classification"]["causes"]
    assert record.recommendation_codes == [item["code"] for item in answer["recommendations"]]
    assert record.patient_hash == patient_hash(SALT, context["patient"].get("id"))
    assert record.payload is None


def test_the_patient_is_stored_only_as_a_salted_hash(audited):
    client = audited.test_client()
    evaluation_id = client.post("/api/v1/evaluate", json=CASES[0]).get_json()["evaluation_id"]
    stored = [row for row in rows(audited.extensions["cdss.store"], "evaluations") if row["id"] == evaluation_id]
    assert len(stored) == 1
    assert RAW_ID not in repr(stored[0])
    assert "ferritin" not in repr(stored[0]["payload"])
    assert stored[0]["patient_hash"] != patient_hash("another-salt", RAW_ID)


def test_a_stored_evaluation_is_served_by_its_id(audited):
    client = audited.test_client()
    answer = client.post("/api/v1/evaluate", json=CASES[1]).get_json()
    stored = client.get(f"/api/v1/evaluations/{answer['evaluation_id']}")
    assert stored.status_code == 200
    body = stored.get_json()
    assert body["id"] == answer["evaluation_id"]
    assert body["recommendation_codes"] == [item["code"] for item in answer["recommendations"]]
    assert "payload" not in body and RAW_ID not in stored.get_data(as_text=True)


def test_an_unknown_evaluation_id_is_404(audited):
    response = audited.test_client().get(f"/api/v1/evaluations/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_every_request_adds_exactly_one_record(audited):
    store = audited.extensions["cdss.store"]
    before = len(rows(store, "evaluations"))
    client = audited.test_client()
    for context in CASES * 3:
        assert client.post("/api/v1/evaluate", json=context).status_code == 200
    client.post("/api/v1/evaluate", json={"labs": "bad"})  # rejected input: nothing was evaluated
    assert len(rows(store, "evaluations")) == before + len(CASES) * 3


def test_the_payload_is_stored_only_when_audit_payloads_asks(new_app):
    app = new_app(AUDIT_PAYLOADS=True)
    answer = app.test_client().post("/api/v1/evaluate", json=CASES[0]).get_json()
    record = app.extensions["cdss.store"].get_evaluation(answer["evaluation_id"])
    assert record.payload["patient"]["id"] == RAW_ID
    assert record.payload["labs"]["ferritin"]["value"] == 20


def audit_row_with(**fields):
    """An audit row as the service builds it (fired rules, causes, codes, a patient hash), with overrides."""
    return {"id": str(uuid.uuid4()), "created_at": dt.datetime(2026, 3, 1, 9, 30, 5, 123456, tzinfo=dt.timezone.utc),
            "source": "cds-hooks", "ruleset_id": "rls-iron", "ruleset_version": "1.0.0",
            "ruleset_digest": "sha256:" + "ab" * 32,
            "fired_rules": [{"rule": "iron.oral.ferritin-threshold", "version": "1.1.0"}, {"rule": "renal.cause",
                                                                                           "version": "2.0.0"}],
            "classification": "secondary", "causes": ["iron_deficiency", "renal_disease"],
            "recommendation_codes": ["oral_iron", "nephrology_iron_plan"], "patient_hash": patient_hash(SALT, RAW_ID),
            "payload": None, **fields}


def stored_as(store, table, key, value):
    """A row as the driver returns it (no SQLAlchemy type processing), with whether each column is SQL NULL."""
    names = [column.name for column in table.columns if column.name != key]
    listed = ", ".join([*names, *(f"{name} IS NULL" for name in names)])
    with store.engine.connect() as connection:
        found = connection.execute(text(f"SELECT {listed} FROM {table.name} WHERE {key} = :value"), {"value": value})
        return tuple(found.one())


@pytest.mark.parametrize("fields", [
    {}, {"payload": {"patient": {"id": RAW_ID, "name": "Zoë"}, "labs": {"ferritin": {"value": 20.5}}},
         "patient_hash": None, "causes": [], "created_at": dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone.utc)},
    {"created_at": dt.datetime(2026, 3, 1, 11, 30, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
], ids=["typical", "payload-no-patient-whole-second", "other-offset"])
def test_the_audit_write_stores_exactly_what_a_core_insert_stores(audited, fields):
    # store_audit_row runs a statement compiled once on the DBAPI cursor; what it stores (JSON text, JSON
    # null, the datetime's storage format) and what the ORM reads back must be those of SQLAlchemy's insert
    store = audited.extensions["cdss.store"]
    row, twin = audit_row_with(**fields), audit_row_with(**fields)
    shown = [(uuid.uuid4().hex, "oral_iron", ["iron.oral.ferritin-threshold"]), (uuid.uuid4().hex, "x", [])]
    cards = card_rows(row["id"], "rls-iron", shown)
    twin_cards = [dict(card, uuid=uuid.uuid4().hex, evaluation_id=twin["id"]) for card in cards]
    store.store_audit_row(row, cards)
    with store.engine.begin() as connection:
        connection.execute(insert(EvaluationRecord.__table__), twin)
        connection.execute(insert(CardRecord.__table__), twin_cards)
    evaluations = EvaluationRecord.__table__
    assert stored_as(store, evaluations, "id", row["id"]) == stored_as(store, evaluations, "id", twin["id"])
    for card, twin_card in zip(cards, twin_cards):
        stored, expected = (stored_as(store, CardRecord.__table__, "uuid", item["uuid"]) for item in (card, twin_card))
        assert stored[1:] == expected[1:] and stored[0] == row["id"]  # the first column is the evaluation id
    read, twin_read = store.get_evaluation(row["id"]), store.get_evaluation(twin["id"])
    for column in evaluations.columns.keys():
        if column != "id":
            assert getattr(read, column) == getattr(twin_read, column), column
    assert read.fired_rules == row["fired_rules"] and read.payload == row["payload"]
    assert store.get_card(cards[0]["uuid"]).rule_ids == ["iron.oral.ferritin-threshold"]


def test_a_failed_audit_write_is_a_storage_error_without_patient_data_and_the_next_one_is_stored(audited):
    store = audited.extensions["cdss.store"]
    row = audit_row_with(payload={"patient": {"id": RAW_ID}})
    store.store_audit_row(row)
    with pytest.raises(StorageError, match="IntegrityError") as raised:  # the same id again
        store.store_audit_row(dict(row, causes=["a-cause-never-stored"]))
    assert RAW_ID not in str(raised.value) and "a-cause-never-stored" not in str(raised.value)
    assert store.get_evaluation(row["id"]).causes == row["causes"]
    with pytest.raises(StorageError, match="StatementError: Object of type date is not JSON serializable"):
        store.store_audit_row(audit_row_with(payload={"when": dt.date(2026, 1, 1)}))
    after = audit_row_with()
    store.store_audit_row(after)
    assert store.get_evaluation(after["id"]) is not None


def test_an_audit_connection_invalidated_outside_a_write_is_replaced_not_silently_reconnected(audited):
    # An exit exception (a gevent Timeout) during a write invalidates the audit connection and escapes
    # store_audit_row. The next write must open its connection the audit way (no checkout deadline left
    # armed to shut it 3 statement timeouts later, SQLite's busy timeout handled), not let SQLAlchemy
    # reconnect the invalidated one behind its back.
    store = audited.extensions["cdss.store"]
    store.store_audit_row(audit_row_with())
    held = store._audit["connection"]
    held.invalidate()
    row = audit_row_with()
    store.store_audit_row(row)
    assert store.get_evaluation(row["id"]) is not None
    replaced = store._audit["connection"]
    assert replaced is not held and not replaced.invalidated
    assert "deadline" not in replaced.connection.info


@pytest.mark.postgres
def test_the_held_audit_connection_outlives_the_checkout_deadline(caplog):
    # A pooled checkout is shut by the watchdog after three statement timeouts; the audit connection is
    # held for good, so its checkout deadline must be lifted (it was not: each audit connection was shut
    # 9 s after it opened, and a commit cut that way was retried into a duplicate key and the outbox).
    backend = connect_postgres()
    store = Store(backend.fresh_url(), {"statement": 0.2})
    try:
        store.migrate()
        store.store_audit_row(audit_row_with())
        held = store._audit["connection"]
        time.sleep(3 * 0.2 + 0.4)
        with caplog.at_level(logging.ERROR, logger="cdss.deadline"):
            store.store_audit_row(audit_row_with())
        assert store._audit["connection"] is held and not held.invalidated
        assert not [record for record in caplog.records if record.name == "cdss.deadline"]
    finally:
        store.close()
        backend.close()


def test_a_pooled_connection_gets_its_busy_timeout_back_after_serving_as_the_audit_connection(tmp_path,
                                                                                            monkeypatch):
    # Under gevent the audit connection waits for SQLite's lock in Python (busy_timeout 0); handed back to
    # the pool, it must wait in SQLite again, or a feedback write meeting the lock fails at once.
    monkeypatch.setattr("cdss.storage.cooperative", lambda: True)
    store = Store(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    try:
        store.migrate()
        store.store_audit_row(audit_row_with())
        assert store._audit["connection"].exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
        store._audit["connection"].rollback()
        with store._audit_lock:
            close_quietly(store._audit)  # back to the pool, as when a worker's store closes it
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3000
    finally:
        store.close()


def assert_answered_from_the_outbox(app, caplog):
    """The evaluation is answered 200; the failed database write is logged (without PHI), the record
    is kept in the outbox, and the failure is counted for the process and the instance."""
    trail = app.extensions["cdss.audit"]
    before, failures_before = trail.local["outboxed"], trail.shared.snapshot()["database_failures"]
    with caplog.at_level(logging.ERROR, logger="cdss.audit"):
        response = app.test_client().post("/api/v1/evaluate", json=CASES[0])
    assert response.status_code == 200
    assert response.get_json()["recommendations"]
    assert trail.local["outboxed"] == before + 1
    assert trail.shared.snapshot()["database_failures"] >= failures_before + 1
    assert trail.outbox.depth() >= 1
    failures = [record.getMessage() for record in caplog.records if record.name == "cdss.audit"]
    assert any(response.get_json()["evaluation_id"] in message for message in failures)
    assert not any(RAW_ID in message for message in failures)


def test_an_evaluation_whose_tables_were_dropped_is_answered_and_kept_in_the_outbox(new_app, caplog):
    app = new_app()
    store = app.extensions["cdss.store"]
    with store.engine.begin() as connection:
        for table in ("feedback", "cards", "evaluations"):
            connection.execute(text(f"DROP TABLE {table}"))
    assert_answered_from_the_outbox(app, caplog)


def test_an_evaluation_whose_database_is_dead_is_answered_and_kept_in_the_outbox(new_app, caplog, monkeypatch):
    app = new_app()
    dead = Store("postgresql+psycopg://postgres@127.0.0.1:1/none")  # nothing listens on port 1
    monkeypatch.setattr(app.extensions["cdss.audit"], "store", dead)
    assert_answered_from_the_outbox(app, caplog)
    dead.close()


@pytest.mark.postgres
def test_the_audit_connection_survives_a_database_restart(caplog):
    # The audit insert keeps one connection per process; a server that dropped it gets one retry on a
    # fresh connection, so no record is lost to a restart.
    backend = connect_postgres()
    app = make_app(backend.fresh_url())
    try:
        client, store = app.test_client(), app.extensions["cdss.store"]
        assert client.post("/api/v1/evaluate", json=CASES[1]).status_code == 200
        pid = store._audit["connection"].exec_driver_sql("SELECT pg_backend_pid()").scalar()
        store._audit["connection"].rollback()
        with backend.admin.begin() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        answer = client.post("/api/v1/evaluate", json=CASES[0]).get_json()
        assert store.get_evaluation(answer["evaluation_id"]) is not None
        assert app.extensions["cdss.audit"].local["outboxed"] == 0
    finally:
        dispose(app)
        backend.close()


@pytest.mark.parametrize("value", [
    ["renal_disease"], [{"rule": "iron.safety.tsat-45", "version": "1.0.0"}], {"patient": {"name": "Zoë"}},
    {1: "a key that is not a string"}, 2 ** 70, None, 1.5e-7, "\u2028"])
def test_a_json_column_stores_what_json_dumps_would(value):
    """orjson writes the JSON columns; every value reads back as json.dumps' text would."""
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_a_json_column_refuses_what_json_dumps_refuses():
    with pytest.raises(TypeError, match="Object of type date is not JSON serializable"):
        json_text({"birth_date": dt.date(2020, 1, 1)})
