"""Durable storage (SQLAlchemy 2): the audit trail of evaluations, the cards shown, clinicians' feedback.

SQLite under instance/ is the embedded default; PostgreSQL when DATABASE_URL names one. The schema is
owned by Alembic (migrations/); `Store.migrate()` brings a database up to date.
"""
import datetime as dt
import hashlib
import hmac
import json
import operator
import os
import socket
import sqlite3
import threading
import time
import weakref
from pathlib import Path

import orjson
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, create_engine, event, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.pool import NullPool

from cdss.deadline import WATCHDOG, socket_of

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Seconds, not the worker timeout: a database that stops answering costs a request this long at most.
TIMEOUTS = {"connect": 3.0, "statement": 3.0, "pool": 3.0}
JSON_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
WAL_SIZE_LIMIT = 4 * 1024 * 1024  # bytes of SQLite WAL kept after a checkpoint (about its auto-checkpoint size)


class StorageError(Exception):
    """The database could not store or read a record."""


class Base(DeclarativeBase):
    pass


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


class EvaluationRecord(Base):
    """One evaluation: what ran, what fired, what was advised; the patient only as a salted hash."""

    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(64))
    ruleset_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(String(32))
    ruleset_digest: Mapped[str] = mapped_column(String(80))
    fired_rules: Mapped[list] = mapped_column(JSON)
    classification: Mapped[str] = mapped_column(String(16))
    causes: Mapped[list] = mapped_column(JSON)
    recommendation_codes: Mapped[list] = mapped_column(JSON)
    patient_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[dict | None] = mapped_column(JSON)


class CardRecord(Base):
    """A CDS Hooks card shown to a clinician, tied to its evaluation and rules (for feedback)."""

    __tablename__ = "cards"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    evaluation_id: Mapped[str] = mapped_column(ForeignKey("evaluations.id"), index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    recommendation_code: Mapped[str] = mapped_column(String(64))
    rule_ids: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedbackRecord(Base):
    """A clinician's response to a card (CDS Hooks feedback), kept with the card's evaluation and rules."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(64))
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    evaluation_id: Mapped[str | None] = mapped_column(ForeignKey("evaluations.id"))
    ruleset_version: Mapped[str | None] = mapped_column(String(32))
    rule_ids: Mapped[list] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list] = mapped_column(JSON)
    override_reason: Mapped[dict | None] = mapped_column(JSON)
    outcome_timestamp: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditHeartbeat(Base):
    """The readiness probe's write: one row per host, rewritten on each /readyz (a real commit)."""

    __tablename__ = "audit_heartbeat"

    host: Mapped[str] = mapped_column(String(64), primary_key=True)
    written_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


def reason(error):
    """A database error in words for the log: its class and the driver's message, never the statement or its
    parameters (they may hold patient data)."""
    cause = getattr(error, "orig", None) or error
    return f"{type(error).__name__}: {str(cause).splitlines()[0][:200] if str(cause) else type(cause).__name__}"


def patient_hash(salt, patient_id):
    """A salted HMAC of a patient id: records can be linked without storing the id."""
    if not patient_id:
        return None
    return hmac.new(salt.encode(), patient_id.encode(), hashlib.sha256).hexdigest()


def json_text(value):
    """A JSON column's text: orjson's compact form (the audit row's three JSON columns cost ~20 us through
    json.dumps, ~2 us here). Whatever json.dumps would treat otherwise -- a date or dataclass (refused), an
    integer beyond 64 bits, a key that is not a string -- goes to json.dumps, so the same values are stored
    and the same ones refused. Read back by json.loads either way."""
    try:
        return orjson.dumps(value, option=JSON_PASSTHROUGH).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value)


def tune_sqlite(connection, record):
    """WAL with synchronous=NORMAL: an audit commit costs well under a millisecond instead of ~16 ms
    (bench/), and the file is never corrupted; a power cut (not a process crash) may lose the last commits.

    The WAL file keeps the size it once reached unless told otherwise: journal_size_limit hands the space
    back to the disk after each checkpoint, so a burst (or an outage of the disk) does not keep it."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


# SQLite primary result codes after which a connection's view of its file cannot be trusted: it was
# opened read-only (the file was immutable or its folder read-only when the pool connected), or a
# write, sync or lock failed mid-transaction (disk full, I/O error). Such connections are dropped.
SQLITE_FILE_FAULTS = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
                      sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOTADB}


def drop_faulted_sqlite(context):
    """handle_error: treat a file fault like a lost connection, so SQLAlchemy discards this connection and
    every other one the pool opened before it (they may be read-only too); the next checkout opens the
    file afresh, so a worker recovers by itself once the disk or file is writable again."""
    code = getattr(context.original_exception, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in SQLITE_FILE_FAULTS:
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = True


def sqlite_busy(error):
    """Whether a database error is SQLite's "database is locked" (another connection holds the write lock)."""
    code = getattr(getattr(error, "orig", None), "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def restore_busy_timeout(dbapi_connection, record):
    """Pool check-in: give a connection that was the audit connection its busy timeout back."""
    milliseconds = record.info.pop("busy_timeout", None)
    if milliseconds is not None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
        cursor.close()


def cooperative():
    """Whether this process runs gevent-patched (a gunicorn gevent worker)."""
    try:
        from gevent import monkey  # noqa: PLC0415 - optional at import time
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def close_quietly(audit, discard=False):
    """Close and forget this process's audit connection (a forked child leaves its parent's alone); `discard`
    drops it instead of handing it back to the pool. A failing close has nothing left to save."""
    connection = audit.get("connection") if audit.get("pid") == os.getpid() else None
    audit.clear()
    if connection is not None:
        try:
            if discard and not connection.invalidated:
                connection.invalidate()
            connection.close()
        except SQLAlchemyError:
            pass


def engine_options(url, timeouts):
    """Connection options that bound every wait on the database (connect, statement, pool)."""
    if url.startswith("sqlite"):  # a locked file is the only wait SQLite has
        return {"pool_pre_ping": True, "connect_args": {"check_same_thread": False, "timeout": timeouts["statement"]}}
    # libpq keepalives and TCP_USER_TIMEOUT end a connection to a partitioned server within seconds
    return {"pool_pre_ping": True, "pool_timeout": timeouts["pool"], "connect_args": {
        "connect_timeout": max(1, round(timeouts["connect"])), "keepalives": 1, "keepalives_idle": 5,
        "keepalives_interval": 2, "keepalives_count": 2, "tcp_user_timeout": int(timeouts["statement"] * 1000)}}


def statement_timeout(milliseconds):
    """A connect listener setting PostgreSQL's statement_timeout (the server ends a slow statement)."""
    def listener(connection, record):
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(milliseconds)}")
        connection.commit()
    return listener


class PreparedInsert:
    """An INSERT of every column of a table, compiled once for a dialect, its parameters processed by the
    columns' own bind processors: the stored values are those of a Core insert, without its per-call
    compiled-cache lookup and execution context (bench/audit_cost.py)."""

    def __init__(self, table, dialect):
        compiled = insert(table).compile(dialect=dialect)
        self.sql = str(compiled)
        self.keys = list(compiled.positiontup) if dialect.positional else [column.key for column in table.columns]
        self._named = not dialect.positional
        self._values = operator.itemgetter(*self.keys)
        types = {column.key: column.type for column in table.columns}
        # (position, processor, processed None): a JSON column's None is stored as JSON null ("null")
        self._processors = [(index, process, process(None)) for index, key in enumerate(self.keys)
                            if (process := types[key].dialect_impl(dialect).bind_processor(dialect))]

    def parameters(self, row):
        """The DBAPI parameters for `row` (which has every column)."""
        values = list(self._values(row))
        for index, process, null in self._processors:
            value = values[index]
            values[index] = null if value is None else process(value)
        return dict(zip(self.keys, values)) if self._named else values


def execute_and_commit(connection, statements):
    """Run [(sql, parameters, many)] on the DBAPI connection of a SQLAlchemy Connection and commit.

    A failure goes through SQLAlchemy's own handling, as in Connection.execute: the handle_error events
    (drop_faulted_sqlite), disconnect detection, the invalidation of the connection (and of the pool), the
    rollback, and a DBAPIError (or StatementError) raised."""
    dbapi_connection, cursor, statement = connection.connection.dbapi_connection, None, None
    try:
        cursor = dbapi_connection.cursor()
        for statement, parameters, many in statements:
            if many:
                cursor.executemany(statement, parameters)
            else:
                cursor.execute(statement, parameters)
        cursor.close()
        statement = None
        dbapi_connection.commit()
    except BaseException as error:  # as SQLAlchemy's: an exit exception (a gevent Timeout) invalidates too
        connection._handle_dbapi_exception(error, statement, None, cursor, None)  # always raises


class Store:
    """The service's database: one engine, short sessions, every failure raised as StorageError."""

    def __init__(self, url, timeouts=None):
        self.url = url
        self.timeouts = dict(TIMEOUTS, **(timeouts or {}))
        self.engine = create_engine(url, json_serializer=json_text, **engine_options(url, self.timeouts))
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", tune_sqlite)
            event.listen(self.engine, "handle_error", drop_faulted_sqlite)
            event.listen(self.engine, "checkin", restore_busy_timeout)
        else:
            event.listen(self.engine, "connect", statement_timeout(self.timeouts["statement"] * 1000))
            self._bound_ping()
            # Every pooled checkout (feedback, the jti table, reads) is bounded too: this service's
            # transactions are a statement or two, so one held three statement timeouts is stuck.
            event.listen(self.engine, "checkout", self._arm_checkout)
            event.listen(self.engine, "checkin", self._disarm_checkin)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The audit insert runs on every evaluation: it keeps one connection per process instead of a
        # pool checkout, a pre-ping and a reset each time (141 -> 92 us a record on SQLite, bench/).
        self._audit = {}  # "pid" and "connection" of this process's audit connection
        self._audit_lock = threading.Lock()
        self._audit_insert = PreparedInsert(EvaluationRecord.__table__, self.engine.dialect)
        self._cards_insert = PreparedInsert(CardRecord.__table__, self.engine.dialect)
        dialect = sqlite if url.startswith("sqlite") else postgresql
        self._replay_insert = dialect.insert(EvaluationRecord.__table__).on_conflict_do_nothing(index_elements=["id"])
        self._replay_cards = dialect.insert(CardRecord.__table__).on_conflict_do_nothing(index_elements=["uuid"])
        self._heartbeat = dialect.insert(AuditHeartbeat.__table__)
        self._heartbeat = self._heartbeat.on_conflict_do_update(
            index_elements=["host"], set_={"written_at": self._heartbeat.excluded.written_at})
        weakref.finalize(self, close_quietly, self._audit)

    def _bound_ping(self):
        """The pool's pre-ping within the statement timeout (a ping to a paused server waits for ever)."""
        ping = self.engine.dialect.do_ping

        def do_ping(dbapi_connection):
            with WATCHDOG.deadline(socket_of(dbapi_connection), self.timeouts["statement"]):
                return ping(dbapi_connection)

        self.engine.dialect.do_ping = do_ping

    def _arm_checkout(self, dbapi_connection, record, proxy):
        record.info["deadline"] = WATCHDOG.arm(socket_of(dbapi_connection), 3 * self.timeouts["statement"])

    def _disarm_checkin(self, dbapi_connection, record):
        WATCHDOG.disarm(record.info.pop("deadline", None))

    def migrate(self):
        """Bring the schema to the newest Alembic revision (on an engine of its own: a migration on a slow
        machine may take longer than the pool's deadlines allow)."""
        from alembic import command  # noqa: PLC0415 - only needed at start-up
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            engine.dispose()

    def _write(self, *records):
        try:
            with self.sessions.begin() as session:
                session.add_all(records)
        except SQLAlchemyError as error:
            raise StorageError(reason(error)) from None

    def _read(self, query):
        try:
            with self.sessions() as session:
                return session.execute(query).scalars().first()
        except SQLAlchemyError as error:
            raise StorageError(reason(error)) from None

    def record_evaluation(self, result, source, patient_key, payload=None):
        """Store the audit record of one evaluation (not through the ORM: its unit of work cost ~1 ms)."""
        self.store_audit_row(audit_row(result, source, patient_key, payload))

    def store_audit_row(self, row, cards=()):
        """Insert one audit row (and its CDS Hooks cards) on this process's audit connection, in one
        transaction, within the statement timeout."""
        try:  # processed once, outside the lock and the retries
            statements = [(self._audit_insert.sql, self._audit_insert.parameters(row), False)]
            if cards:
                statements.append((self._cards_insert.sql, [self._cards_insert.parameters(card) for card in cards],
                                   True))
        except (KeyError, TypeError, ValueError) as error:  # a row the table cannot take: said as SQLAlchemy would
            raise StorageError(reason(StatementError(str(error), None, None, error))) from None
        started, pause, reconnected = time.monotonic(), 0.001, False
        with self._audit_lock:
            while True:
                left, connection = self.timeouts["statement"] - (time.monotonic() - started), None
                try:
                    if left <= 0:
                        raise StorageError("TimeoutError")
                    connection = self._audit_connection()
                    with WATCHDOG.deadline(socket_of(connection.connection.dbapi_connection), left):
                        execute_and_commit(connection, statements)
                    return
                except SQLAlchemyError as error:
                    if sqlite_busy(error) and connection is not None and not connection.invalidated:
                        # another process holds SQLite's write lock (the failed transaction is rolled
                        # back already): wait here, cooperatively (see _audit_connection), and try again
                        # within the statement timeout
                        time.sleep(min(pause, max(left, 0)))
                        pause = min(pause * 2, 0.02)
                        continue
                    close_quietly(self._audit, discard=True)  # a connection that failed mid-write is not reused
                    disconnected = isinstance(error, DBAPIError) and error.connection_invalidated
                    if reconnected or not disconnected:  # a restarted server gets one retry
                        raise StorageError(reason(error)) from None
                    reconnected = True

    def store_replayed(self, records):
        """Insert outbox records ({"evaluation", "cards"}), in order, in one transaction; an evaluation or
        card already stored is skipped."""
        def dated(row):
            return dict(row, created_at=dt.datetime.fromisoformat(row["created_at"]))
        rows = [dated(record["evaluation"]) for record in records]
        cards = [dated(card) for record in records for card in record.get("cards", ())]

        def work(connection):
            if rows:
                connection.execute(self._replay_insert, rows)
            if cards:
                connection.execute(self._replay_cards, cards)
        self._bounded(work)

    def probe_write(self):
        """Whether an audit write is possible now: a heartbeat row is written and committed."""
        row = {"host": socket.gethostname()[:64], "written_at": utcnow()}
        try:
            self._bounded(lambda connection: connection.execute(self._heartbeat, row))
            return True
        except StorageError:
            return False

    def _bounded(self, work):
        """Run `work(connection)` in one transaction on a pooled connection, within the statement timeout."""
        try:
            with self.engine.connect() as connection:
                try:
                    with WATCHDOG.deadline(socket_of(connection.connection.dbapi_connection),
                                           self.timeouts["statement"]):
                        work(connection)
                        connection.commit()
                except SQLAlchemyError:
                    connection.invalidate()  # never hand a broken or read-only connection back to the pool
                    raise
        except SQLAlchemyError as error:
            raise StorageError(reason(error)) from None

    def _audit_connection(self):
        """This process's audit connection (a forked child never uses its parent's); it is held for good,
        so the checkout deadline is lifted and each write gets its own."""
        held = self._audit.get("connection") if self._audit.get("pid") == os.getpid() else None
        if held is None or held.invalidated:
            # an invalidated one (an exit exception mid-write) is replaced here, never silently reconnected
            # by SQLAlchemy without the set-up below
            close_quietly(self._audit, discard=True)
            connection = self.engine.connect()
            # the checkout listeners keep their state in the DBAPI connection's info (record.info)
            WATCHDOG.disarm(connection.connection.info.pop("deadline", None))
            if self.url.startswith("sqlite") and cooperative():
                # SQLite waits for another process's write lock by sleeping in C, which stops every
                # greenlet of a gevent worker (up to 100 ms a sleep); the audit write waits in Python instead
                connection.exec_driver_sql("PRAGMA busy_timeout = 0")
                connection.commit()
                connection.connection.info["busy_timeout"] = int(self.timeouts["statement"] * 1000)
            self._audit.update(pid=os.getpid(), connection=connection)
        return self._audit["connection"]

    def close(self):
        """Close the audit connection and the pool."""
        with self._audit_lock:
            close_quietly(self._audit)
        self.engine.dispose()

    def get_evaluation(self, evaluation_id):
        """A stored evaluation record, or None."""
        return self._read(select(EvaluationRecord).where(EvaluationRecord.id == evaluation_id))

    def record_cards(self, evaluation_id, service_id, cards):
        """Store the cards of a CDS Hooks response: [(uuid, recommendation code, rule ids)]."""
        self._write(*(CardRecord(uuid=uuid, evaluation_id=evaluation_id, service_id=service_id,
                                 recommendation_code=code, rule_ids=rule_ids) for uuid, code, rule_ids in cards))

    def get_card(self, card_uuid):
        """A stored card, or None."""
        return self._read(select(CardRecord).where(CardRecord.uuid == card_uuid))

    def record_feedback(self, **fields):
        """Store one feedback item."""
        self._write(FeedbackRecord(**fields))

    def feedback_for(self, card_uuid):
        """All feedback stored for a card."""
        try:
            with self.sessions() as session:
                return list(session.execute(
                    select(FeedbackRecord).where(FeedbackRecord.card_uuid == card_uuid)).scalars())
        except SQLAlchemyError as error:
            raise StorageError(reason(error)) from None

    def ping(self):
        """Whether the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False


def card_rows(evaluation_id, service_id, cards):
    """The cards table's rows for a CDS Hooks response: cards are [(uuid, recommendation code, rule ids)]."""
    now = utcnow()
    return [{"uuid": uuid, "evaluation_id": evaluation_id, "service_id": service_id, "recommendation_code": code,
             "rule_ids": rule_ids, "created_at": now} for uuid, code, rule_ids in cards]


def audit_row(result, source, patient_key, payload=None):
    """The audit table's row for one evaluation."""
    return {
        "id": result["evaluation_id"], "created_at": utcnow(), "source": source,
        "ruleset_id": result["ruleset"]["id"], "ruleset_version": result["ruleset"]["version"],
        "ruleset_digest": result["ruleset"]["digest"], "fired_rules": result["fired_rules"],
        "classification": result["classification"]["type"], "causes": result["classification"]["causes"],
        "recommendation_codes": [item["code"] for item in result["recommendations"]],
        "patient_hash": patient_key, "payload": payload}
