"""The CPU cost of one audit write (Store.store_audit_row), on the service's real audit rows.

Two figures. "Inside requests": the thread CPU spent inside store_audit_row while POST /api/v1/evaluate
runs for varied cases (bench/cases.py) -- the write's real cost, paid with caches cooled by the rest of
the request (about three times its cost in a loop). "In a loop": the same rows written again with fresh
ids, back to back, one commit each; `--cards 3` adds three CDS Hooks cards to each. CPU time, never
wall time: the machine is shared. Best (and median) of `--repeats` passes.
On PostgreSQL the rows go to a schema of the bench's own, dropped afterwards.
Run alone: python -m bench.audit_cost [--database-url postgresql+psycopg://...] [--count N].
"""
import argparse
import contextlib
import io
import json
import logging
import statistics
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text

from bench.cases import make_cases
from bench.ladder import call, environ
from cdss import create_app
from cdss.storage import card_rows


@contextlib.contextmanager
def own_database(url, folder):
    """A fresh SQLite file in `folder`, or a fresh schema of the PostgreSQL database `url` (dropped after)."""
    if not url:
        yield f"sqlite:///{folder}/audit.sqlite3"
        return
    schema, admin = f"cdss_bench_{uuid.uuid4().hex[:12]}", create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def captured_rows(app, cases):
    """The audit rows the service writes for `cases` (captured, not stored)."""
    store, rows = app.extensions["cdss.store"], []
    insert = store.store_audit_row
    store.store_audit_row = lambda row, cards=(): rows.append(row)
    try:
        client = app.test_client()
        for case in cases:
            assert client.post("/api/v1/evaluate", json=case).status_code == 200
    finally:
        store.store_audit_row = insert
    return rows


def inside_requests_us(app, cases, repeats):
    """[microseconds of thread CPU inside store_audit_row per request], one per pass over `cases`."""
    store, spent = app.extensions["cdss.store"], [0.0]
    insert = store.store_audit_row

    def timed(row, cards=()):
        started = time.thread_time()
        insert(row, cards)
        spent[0] += time.thread_time() - started

    requests = [environ("/api/v1/evaluate", "POST", json.dumps(case).encode()) for case in cases]
    streams = [(handler, handler.setStream(io.StringIO())) for handler in logging.getLogger().handlers
               if isinstance(handler, logging.StreamHandler)]  # the log lines are made, not printed
    store.store_audit_row, passes = timed, []
    try:
        for _ in range(repeats):
            spent[0] = 0.0
            for request in requests:
                assert call(app, request).startswith("200")
            passes.append(spent[0] / len(requests) * 1e6)
    finally:
        store.store_audit_row = insert
        for handler, stream in streams:
            handler.setStream(stream)
    return passes


def per_write_us(store, rows, cards, repeats):
    """Best of `repeats` passes: microseconds of CPU per store_audit_row (fresh ids each pass)."""
    best = float("inf")
    for _ in range(repeats):
        batch = []
        for row in rows:
            fresh = dict(row, id=str(uuid.uuid4()))
            shown = [(uuid.uuid4().hex, "iron.workup", ["iron.workup.ferritin"]) for _ in range(cards)]
            batch.append((fresh, card_rows(fresh["id"], "rls-iron", shown)))
        started = time.process_time()
        for row, shown in batch:
            store.store_audit_row(row, shown)
        best = min(best, (time.process_time() - started) / len(batch))
    return best * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cards", type=int, default=0, help="CDS Hooks cards stored with each row")
    parser.add_argument("--database-url", help="default: a fresh SQLite file (WAL, as the service runs it)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cdss-audit-cost-") as folder, \
            own_database(options.database_url, folder) as url:
        app = create_app({"DATABASE_URL": url, "PATIENT_HASH_SALT": "bench", "LOG_LEVEL": "WARNING",
                          "REUSE_RESULTS": 0})
        store = app.extensions["cdss.store"]
        cases, database = make_cases(options.count), url.split(":")[0]
        inside = inside_requests_us(app, cases, options.repeats)
        print(f"store_audit_row inside requests, {database:20} best {min(inside):5.0f} us CPU, "
              f"median {statistics.median(inside):5.0f}")
        cost = per_write_us(store, captured_rows(app, cases), options.cards, options.repeats)
        print(f"store_audit_row in a loop, {options.cards} cards, {database:18} best {cost:5.0f} us CPU")
        app.extensions["cdss.audit"].close()
        store.close()


if __name__ == "__main__":
    main()
