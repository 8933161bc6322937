"""The audit trail loses nothing: every answered evaluation is in the database, now or after replay.

Each record goes to the database; when that fails it goes to the durable outbox (cdss/outbox.py) and
a replayer stores it once the database is back. When neither can take it, the evaluation is refused
(503): advice that cannot be traced is not given, unless CDSS_AUDIT_FAIL_OPEN says otherwise.
After a database failure this process sends records straight to the outbox for RETRY_SECONDS (no
request waits on a database known to be down); the replayer then tries the database again.
"""
import hashlib
import json
import logging
import os
import threading
import time

from flask import current_app

from cdss.counters import SharedCounters
from cdss.errors import ApiError
from cdss.outbox import Outbox, OutboxError
from cdss.serving import give_way
from cdss.storage import StorageError, audit_row, card_rows, patient_hash

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


class AuditUnavailableError(ApiError):
    """Neither the database nor the outbox could keep the audit record: no advice without a trace."""

    status = 503
    code = "audit_unavailable"


class AuditTrail:
    """Writes audit records to the database or the outbox, and replays the outbox."""

    def __init__(self, store, folder, fail_open=False):
        self.store, self.fail_open = store, fail_open
        # one outbox per database: records are only ever replayed into the database they were meant for
        key = hashlib.sha256(store.url.encode()).hexdigest()[:16]
        self.outbox = Outbox(os.path.join(folder, "audit-outbox", key))
        self.shared = SharedCounters(os.path.join(folder, "audit-counters"))
        self.local = dict.fromkeys(("database", "outboxed", "refused", "unaudited"), 0)
        self.pid = os.getpid()
        self._down_until = 0.0  # monotonic time before which this process skips the database
        self._replayer, self._stop, self._lock = None, threading.Event(), threading.Lock()
        if self.outbox.pending():
            self.wake()

    def record(self, row, cards=()):
        """Keep one audit row (with its cards); AuditUnavailableError when it cannot be kept (and fail-open
        is off)."""
        give_way()  # a CDS Hooks call lets waiting native requests run first (cdss/serving.py)
        if time.monotonic() >= self._down_until:
            try:
                self.store.store_audit_row(row, cards)
                self.count("database", "audit_database")
                return "database"
            except StorageError as error:
                self._down_until = time.monotonic() + RETRY_SECONDS
                self.shared.add("database_failures")
                log.error("audit record of evaluation %s not stored in the database (%s): to the outbox",
                          row["id"], error)
        try:
            self.outbox.append({"evaluation": row, "cards": list(cards)})
        except OutboxError as error:
            self.shared.add("outbox_failures")
            return self.refuse(row, error)
        self.count("outboxed", "audit_outboxed")
        self.wake()
        return "outbox"

    def refuse(self, row, error):
        """Neither store took the record: refuse the answer, or (fail-open) answer unaudited."""
        if self.fail_open:
            self.count("unaudited", "audit_unaudited")
            log.critical("evaluation %s answered WITHOUT an audit record (outbox: %s; fail-open is on)",
                         row["id"], error)
            return None
        self.count("refused", "audit_refused")
        log.critical("evaluation %s refused: no audit record could be kept (outbox: %s)", row["id"], error)
        raise AuditUnavailableError("the evaluation could not be audited, so no advice was given; retry shortly")

    def count(self, local, shared):
        """Count an outcome for this process and for the instance."""
        self.local[local] += 1
        self.shared.add(shared)

    def wake(self):
        """Make sure this process's replayer runs (it stops once the outbox is empty)."""
        with self._lock:
            if self._replayer is None or not self._replayer.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()
                self._stop.clear()
                self._replayer = threading.Thread(target=self._replay_loop, name="audit-replay", daemon=True)
                self._replayer.start()

    def _replay_loop(self):
        """Replay the outbox every RETRY_SECONDS until it is empty and the database takes writes."""
        while not self._stop.wait(RETRY_SECONDS):
            try:
                if self.replay_once():
                    return
            except Exception:  # noqa: BLE001 - the replayer must outlive any one failure; it retries
                log.exception("audit outbox replay failed; retrying")

    def replay_once(self):
        """One replay attempt; True when the outbox is empty and the database took the records."""
        try:
            replayed = self.outbox.replay(self.store.store_replayed)
        except StorageError as error:
            log.warning("audit outbox replay waits for the database (%s)", error)
            return False
        if replayed is None:  # another worker is replaying
            return not self.outbox.pending()
        if replayed:
            self.shared.add("audit_replayed", replayed)
            log.info("audit outbox: %d records replayed into the database", replayed)
        self._down_until = 0.0
        return not self.outbox.pending()

    def figures(self):
        """This process's counts, the instance's shared counters and the outbox depth."""
        return {"pid": os.getpid(), "process": dict(self.local), "instance": self.shared.snapshot(),
                "outbox_depth": self.outbox.depth()}

    def close(self):
        """Stop the replayer."""
        self._stop.set()
        if self._replayer is not None:
            self._replayer.join(timeout=5)


def init_app(app, store):
    """Attach the audit trail (its outbox and counters live on the instance path)."""
    folder = app.config.get("AUDIT_OUTBOX_DIR") or app.instance_path
    os.makedirs(folder, exist_ok=True)
    app.extensions["cdss.audit"] = AuditTrail(store, folder, app.config.get("AUDIT_FAIL_OPEN", False))


def record_evaluation(result, source, context, service_id=None, cards=()):
    """Audit one evaluation (and the CDS Hooks cards shown for it: [(uuid, code, rule ids)]) before its
    answer goes out; 503 (AuditUnavailableError) when it cannot be."""
    extensions = current_app.extensions
    patient_id = context.get("patient", {}).get("id")
    payload = context_payload(context) if current_app.config["AUDIT_PAYLOADS"] else None
    row = audit_row(result, source, patient_hash(extensions["cdss.salt"], patient_id), payload)
    return extensions["cdss.audit"].record(row, card_rows(row["id"], service_id, cards))


def context_payload(context):
    """The clinical payload as JSON-safe data (only when AUDIT_PAYLOADS asks for it)."""
    return json.loads(json.dumps(context, default=str))
