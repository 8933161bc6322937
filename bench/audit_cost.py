"""The CPU cost of one audit write (Store.store_audit_row), on the service's real audit rows, best of runs.

The rows are those the service builds for varied cases (bench/cases.py): captured from POST
/api/v1/evaluate, then written again with fresh ids, one commit each, as the request path writes them.
`--cards 3` adds three CDS Hooks cards to each row. CPU time (time.process_time), not wall time.
On PostgreSQL the rows go to a schema of the bench's own, dropped afterwards.
Run alone: python -m bench.audit_cost [--database-url postgresql+psycopg://...] [--count N].
"""
import argparse
import contextlib
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text

from bench.cases import make_cases
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
        rows = captured_rows(app, make_cases(options.count))
        cost = per_write_us(store, rows, options.cards, options.repeats)
        print(f"store_audit_row, {options.cards} cards, {url.split(':')[0]:24}{cost:>8.0f} us CPU")
        app.extensions["cdss.audit"].close()
        store.close()


if __name__ == "__main__":
    main()
