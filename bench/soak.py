"""`make soak`: 50,000 evaluations through the real gunicorn server, with varied cases.

Passes when: no request fails; every answer equals what a single in-process evaluation of the same
context answers (the evaluation id aside); every request left one audit record; the engine holds no
live session between requests; and no worker's resident memory grows more than RSS_BOUND_MIB after
warm-up. Worker recycling is off for the soak, so growth cannot hide behind restarts.
"""
import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.cases import make_cases
from bench.load import build_requests, send
from bench.server import ROOT, gunicorn, rss_kib, worker_pids
from cdss.evaluation import Evaluator
from cdss.loader import load_rules
from schemas.context import PatientContextSchema
from schemas.evaluation import EvaluationSchema

RSS_BOUND_MIB = 25  # allowed growth per worker after warm-up: caches fill, arenas settle; a leak grows on


def expected_answers(cases):
    """What one in-process evaluation answers for each case, without its evaluation id."""
    evaluator = Evaluator(load_rules(ROOT / "rules"))
    return [dict(EvaluationSchema().dump(evaluator.evaluate(PatientContextSchema().load(case))), evaluation_id=None)
            for case in cases]


class Soak:
    """Counters shared by the client threads."""

    def __init__(self, total):
        self.total, self.next, self.lock = total, 0, threading.Lock()
        self.errors, self.mismatches, self.ids = {}, 0, set()

    def take(self):
        with self.lock:
            if self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1


def client(soak, address, requests, expected, deadline):
    """Send requests until the soak's total is reached, checking each answer."""
    while (index := soak.take()) is not None and time.monotonic() < deadline:
        case = index % len(requests)
        status, response = send(address, requests[case], timeout=30)
        if status != 200:
            with soak.lock:
                soak.errors[status] = soak.errors.get(status, 0) + 1
            continue
        answer = json.loads(response.split(b"\r\n\r\n", 1)[1])
        with soak.lock:
            soak.ids.add(answer["evaluation_id"])
            soak.mismatches += dict(answer, evaluation_id=None) != expected[case]


def readiness(port):
    """One /readyz body (served by whichever worker is free)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        return json.loads(response.read())


def sample(port, master):
    """Worker RSS (MiB) and the live engine sessions reported by a few /readyz calls."""
    sessions = max(readiness(port)["engine_sessions"] for _ in range(6))
    return {pid: rss_kib(pid) / 1024 for pid in worker_pids(master)}, sessions


def audit_count(database):
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM evaluations").fetchone()[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=50_000)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=15, help="time limit")
    options = parser.parse_args(argv)
    cases = make_cases(options.cases, seed=7)
    expected = expected_answers(cases)
    with tempfile.TemporaryDirectory(prefix="cdss-soak-") as folder:
        workdir = Path(folder)
        with gunicorn("wsgi:app", workdir, "/readyz", extra_args=("--max-requests", "0")) as (port, server):
            requests = build_requests("127.0.0.1", port, "/api/v1/evaluate", [json.dumps(c).encode() for c in cases])
            soak, deadline = Soak(options.total), time.monotonic() + options.minutes * 60
            warm = Soak(2000)
            run_clients(warm, port, requests, expected, deadline, options.concurrency)
            before, _ = sample(port, server.pid)
            started = time.monotonic()
            run_clients(soak, port, requests, expected, deadline, options.concurrency, report=(port, server.pid))
            elapsed = time.monotonic() - started
            after, sessions = sample(port, server.pid)
        audited = audit_count(workdir / "audit.sqlite3")
    return report(options, soak, warm, before, after, sessions, audited, elapsed)


def run_clients(soak, port, requests, expected, deadline, concurrency, report=None):
    """Run the client threads to the end, printing progress every 10,000 requests when asked."""
    threads = [threading.Thread(target=client, args=(soak, ("127.0.0.1", port), requests, expected, deadline))
               for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    printed = 0
    while any(thread.is_alive() for thread in threads):
        time.sleep(1)
        if report and soak.next // 10_000 > printed:
            printed = soak.next // 10_000
            rss, sessions = sample(*report)
            print(f"  {soak.next:>6} sent; worker RSS MiB {sorted(round(v, 1) for v in rss.values())};"
                  f" live engine sessions {sessions}; errors {soak.errors}", flush=True)
    for thread in threads:
        thread.join()


def report(options, soak, warm, before, after, sessions, audited, elapsed):
    """Print the soak's numbers and verdicts; the exit status says whether it passed."""
    done = sum(soak.errors.values()) + len(soak.ids)
    growth = {pid: after.get(pid, 0) - rss for pid, rss in before.items()}
    checks = {
        f"all {options.total} requests answered 200": done == options.total and not soak.errors,
        "every answer equals the single in-process evaluation": soak.mismatches == 0,
        "every request audited (one record each, warm-up included)": audited == options.total + 2000,
        "no live engine session after the soak": sessions == 0,
        f"no worker grew more than {RSS_BOUND_MIB} MiB": all(value <= RSS_BOUND_MIB for value in growth.values()),
        "the same workers served throughout": set(before) == set(after),
    }
    print(f"\nsoak: {done} evaluations in {elapsed:.0f} s ({done / elapsed:.0f}/s), {len(soak.ids)} "
          f"distinct evaluation ids, errors {soak.errors}, mismatches {soak.mismatches}, audit records {audited}")
    print("worker RSS MiB after warm-up -> after soak: "
          + ", ".join(f"{before[pid]:.1f} -> {after.get(pid, 0):.1f}" for pid in before))
    for name, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
