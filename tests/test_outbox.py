"""The outbox keeps records durably, replays them in order, exactly once; shared counters outlive a worker."""
import errno
import multiprocessing
import os

import pytest
from sqlalchemy import text

from cdss.counters import SharedCounters
from cdss.outbox import Outbox, OutboxError
from cdss.storage import Store, utcnow


def row(number):
    return {"id": f"00000000-0000-0000-0000-{number:012d}", "created_at": utcnow(), "source": "native",
            "ruleset_id": "rls", "ruleset_version": "1", "ruleset_digest": "sha256:x", "fired_rules": [],
            "classification": "primary", "causes": [], "recommendation_codes": [], "patient_hash": None,
            "payload": None}


@pytest.fixture()
def store(tmp_path):
    made = Store(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    made.migrate()
    yield made
    made.close()


def stored_ids(store):
    with store.engine.connect() as connection:
        return [found for (found,) in connection.execute(text("SELECT id FROM evaluations ORDER BY rowid"))]


def test_records_are_replayed_in_the_order_they_were_kept(tmp_path, store):
    outbox = Outbox(tmp_path / "outbox")
    for number in range(5):
        outbox.append({"evaluation": row(number), "cards": []})
    assert outbox.depth() == 5
    assert outbox.replay(store.store_replayed) == 5
    assert stored_ids(store) == [row(number)["id"] for number in range(5)]
    assert outbox.depth() == 0 and not outbox.pending()


def test_a_replay_interrupted_after_its_commit_stores_nothing_twice(tmp_path, store):
    outbox = Outbox(tmp_path / "outbox")
    for number in range(3):
        outbox.append({"evaluation": row(number)})

    def commit_then_crash(records):
        store.store_replayed(records)
        raise RuntimeError("crash before the segment is deleted")

    with pytest.raises(RuntimeError):
        outbox.replay(commit_then_crash)
    outbox.append({"evaluation": row(3)})
    assert outbox.depth() == 4
    assert outbox.replay(store.store_replayed) == 4
    assert stored_ids(store) == [row(number)["id"] for number in range(4)]


def test_a_record_the_disk_cannot_take_is_refused_and_leaves_no_partial_line(tmp_path, monkeypatch):
    outbox = Outbox(tmp_path / "outbox")
    outbox.append({"evaluation": row(0)})
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OutboxError, match="ENOSPC"):
        outbox.append({"evaluation": row(1)})
    monkeypatch.undo()
    outbox.append({"evaluation": row(2)})
    assert outbox.depth() == 2
    lines = (tmp_path / "outbox" / "current.jsonl").read_text().splitlines()
    assert [line.count('"id"') for line in lines] == [1, 1]


def append_many(folder, start):
    outbox = Outbox(folder)
    for number in range(start, start + 50):
        outbox.append({"evaluation": row(number)})


def test_workers_append_concurrently_without_tearing_a_record(tmp_path, store):
    folder = tmp_path / "outbox"
    Outbox(folder)
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=append_many, args=(folder, start)) for start in (0, 100, 200)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)
    assert all(process.exitcode == 0 for process in processes)
    outbox = Outbox(folder)
    assert outbox.replay(store.store_replayed) == 150
    assert len(set(stored_ids(store))) == 150


def bump(path):
    SharedCounters(path).add("audit_outboxed", 2)


def test_shared_counters_are_seen_by_every_process_and_outlive_them(tmp_path):
    path = tmp_path / "counters"
    counters = SharedCounters(path)
    counters.add("audit_outboxed")
    process = multiprocessing.get_context("fork").Process(target=bump, args=(path,))
    process.start()
    process.join(30)
    assert counters.snapshot()["audit_outboxed"] == 3  # the other process's increment, seen at once
    assert SharedCounters(path).snapshot()["audit_outboxed"] == 3  # a restarted worker reads the totals


def test_a_long_backlog_is_replayed_in_batches_and_a_failed_batch_is_retried_without_duplicates(
        tmp_path, store, monkeypatch):
    monkeypatch.setattr("cdss.outbox.BATCH", 4)
    outbox = Outbox(tmp_path / "outbox")
    for number in range(10):
        outbox.append({"evaluation": row(number)})
    calls = []

    def second_batch_fails(records):
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("the database went away mid-replay")
        store.store_replayed(records)

    with pytest.raises(RuntimeError):
        outbox.replay(second_batch_fails)
    assert calls == [4, 4]
    assert outbox.replay(store.store_replayed) == 10
    assert stored_ids(store) == [row(number)["id"] for number in range(10)]
