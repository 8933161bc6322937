"""The serving design under gunicorn: idle and slow clients cannot starve it, shutdown drains, and the
rules engine never interleaves two evaluations on one process.

A real gunicorn with the project's gunicorn.conf.py on a free loopback port, with ONE worker: under
the old sync workers a single silent connection held that worker until the 30 s timeout, so every
assertion below would fail. No latency is asserted (the machine is shared); a request that waits on a
starved worker fails outright on its timeout.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import make_patient

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
BODY = json.dumps(make_patient()).encode()
BODY_TIMEOUT = 4  # seconds for a request body in the test server (10 by default)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port, path, timeout=10):
    """(status, body) of a GET; status 0 when the connection failed."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, None


def evaluate(port, timeout=10):
    """The status of one native evaluation."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/evaluate", data=BODY,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn (gevent, one worker) on SQLite in a fresh folder; stopped (SIGTERM, then kill) at the end."""
    folder = tmp_path_factory.mktemp("serving")
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1", CDSS_INSTANCE_PATH=str(folder),
               DATABASE_URL=f"sqlite:///{folder / 'audit.sqlite3'}", CDSS_PATIENT_HASH_SALT="serving-salt",
               CDSS_DRAIN_SECONDS="2", CDSS_BODY_TIMEOUT=str(BODY_TIMEOUT))
    log = open(folder / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while get(port, "/readyz", timeout=2)[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.3)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def open_connections(port, idle=20, slowloris=10, slow_bodies=5):
    """Connections that hold a sync worker: silent, half a header, half a body."""
    held = []
    for _ in range(idle):
        held.append(socket.create_connection(("127.0.0.1", port)))
    for _ in range(slowloris):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"POST /api/v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        held.append(connection)
    for _ in range(slow_bodies):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"POST /api/v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY[:10])
        held.append(connection)
    return held


def test_idle_and_slow_clients_do_not_block_a_normal_request(server):
    port, _ = server
    held = open_connections(port)
    try:
        statuses = [evaluate(port) for _ in range(20)]
        assert statuses == [200] * 20
        assert get(port, "/readyz")[0] == 200
    finally:
        for connection in held:
            connection.close()


def test_a_body_trickling_in_is_cut_with_a_408_and_its_connection_closed(server):
    # 1 byte every 0.5 s: gunicorn bounds only the headers (5 s); the body deadline ends the rest
    port, _ = server
    slow = socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT + 10)
    slow.sendall(b"POST /api/v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY[:1])
    started, answer = time.monotonic(), b""
    slow.setblocking(False)
    for byte in BODY[1:]:
        try:
            while chunk := slow.recv(65536):
                answer += chunk
            break  # the server closed the connection
        except BlockingIOError:
            pass
        assert time.monotonic() - started < BODY_TIMEOUT + 8, "the slow body was never cut"
        try:
            slow.send(bytes([byte]))
        except OSError:
            break
        time.sleep(0.5)
    slow.setblocking(True)
    try:
        while chunk := slow.recv(65536):
            answer += chunk
    except OSError:
        pass
    slow.close()
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert BODY_TIMEOUT - 1 < elapsed < BODY_TIMEOUT + 8, elapsed
    assert evaluate(port) == 200


def test_sigterm_drains_first_and_finishes_accepted_requests(server):
    port, process = server
    # a request accepted before the signal, its body still arriving
    pending = socket.create_connection(("127.0.0.1", port), timeout=20)
    pending.sendall(b"POST /api/v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n".encode() + BODY[:10])
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while (status := get(port, "/readyz", timeout=2))[0] != 503:
        assert time.monotonic() < deadline and status[0] == 200, status
        time.sleep(0.1)
    assert status[1]["checks"]["serving"] == "draining (shutting down)"
    assert evaluate(port) == 200  # still served while draining: the listener is open
    pending.sendall(BODY[10:])
    answer = b""
    while chunk := pending.recv(65536):  # a reset would raise here
        answer += chunk
    pending.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert process.wait(timeout=40) == 0


GREENLETS = r"""
from gevent import monkey; monkey.patch_all()
import json, sys, greenlet, gevent
from cdss import create_app
from tests.conftest import make_patient, labs

app = create_app({"TESTING": True, "DATABASE_URL": "sqlite:///" + sys.argv[1], "PATIENT_HASH_SALT": "g",
                  "REUSE_RESULTS": 0})
evaluator = app.extensions["cdss"]
cases = [make_patient(labs=labs(ferritin=f, tsat=10 + f % 30)) for f in range(5, 400, 13)]
sequential = app.test_client()
expected = [json.dumps(dict(sequential.post("/api/v1/evaluate", json=c).get_json(), evaluation_id=None),
                       sort_keys=True) for c in cases]
inside, switches_inside = [0], [0]
run = evaluator.engine.run
def traced_run(facts):
    inside[0] += 1
    try:
        return run(facts)
    finally:
        inside[0] -= 1
evaluator.engine.run = traced_run
def tracer(event, args):
    if event in ("switch", "throw") and inside[0]:
        switches_inside[0] += 1
greenlet.settrace(tracer)
def worker(offset):
    client = app.test_client()
    got = []
    for index in range(len(cases)):
        case = (index + offset) % len(cases)
        body = client.post("/api/v1/evaluate", json=cases[case]).get_json()
        got.append((case, json.dumps(dict(body, evaluation_id=None), sort_keys=True)))
        gevent.sleep(0)
    return got
jobs = [gevent.spawn(worker, offset) for offset in range(10)]
gevent.joinall(jobs, raise_error=True)
mismatches = sum(answer != expected[case] for job in jobs for case, answer in job.value)
print(json.dumps({"evaluations": sum(len(job.value) for job in jobs), "mismatches": mismatches,
                  "switches_inside_engine": switches_inside[0]}))
"""


def test_greenlets_never_interleave_inside_the_rules_engine(tmp_path):
    # 10 greenlets evaluating (audit writes included) under gevent's monkey-patching, as a worker runs
    result = subprocess.run([sys.executable, "-c", GREENLETS, str(tmp_path / "g.sqlite3")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["evaluations"] == 10 * 31
    assert figures["mismatches"] == 0
    assert figures["switches_inside_engine"] == 0


GIVE_WAY = r"""
from gevent import monkey; monkey.patch_all()
import json, sys, gevent
from cdss import create_app
from cdss.serving import give_way

app = create_app({"TESTING": True, "DATABASE_URL": "sqlite:///" + sys.argv[1], "PATIENT_HASH_SALT": "g"})
order = []
def native():
    order.append("native")
def step(path):
    with app.test_request_context(path, method="POST"):
        gevent.spawn(native)  # a native request ready to run in the same worker
        give_way()
        order.append(path)
for path in ("/api/v1/evaluate", "/cds-services/rls-iron"):
    step(path)
    gevent.sleep(0)
print(json.dumps(order))
"""


def test_a_cds_hooks_call_lets_ready_native_requests_run_first_and_a_native_request_never_waits(tmp_path):
    # make stress, phase 2: twenty calls whose FHIR reads returned together ran their CPU work back to back
    result = subprocess.run([sys.executable, "-c", GIVE_WAY, str(tmp_path / "g.sqlite3")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "/api/v1/evaluate", "native", "native", "/cds-services/rls-iron"]


SQLITE_LOCKED = r"""
from gevent import monkey; monkey.patch_all()
import json, sqlite3, sys, time, gevent
from cdss.storage import Store, utcnow

store = Store("sqlite:///" + sys.argv[1])
store.migrate()
row = {"id": "00000000-0000-0000-0000-000000000001", "created_at": utcnow(), "source": "native",
       "ruleset_id": "rls", "ruleset_version": "1", "ruleset_digest": "sha256:x", "fired_rules": [],
       "classification": "primary", "causes": [], "recommendation_codes": [], "patient_hash": None, "payload": None}
store.store_audit_row(dict(row, id="00000000-0000-0000-0000-000000000000"))  # the worker's connection, in WAL
holder = sqlite3.connect(sys.argv[1], isolation_level=None)
holder.execute("BEGIN IMMEDIATE")  # the write lock, as another worker's transaction holds it
ticks = []
def ticker():
    while len(ticks) < 1000:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)
gevent.spawn(ticker)
gevent.spawn_later(0.3, holder.execute, "COMMIT")  # released by a greenlet: needs the hub to run
started = time.monotonic()
store.store_audit_row(row)
waited = time.monotonic() - started
print(json.dumps({"waited": waited, "ticks_while_waiting": sum(started <= t <= started + waited for t in ticks)}))
"""


def test_an_audit_write_waiting_for_sqlites_lock_does_not_stop_the_worker(tmp_path):
    # SQLite's own busy wait sleeps in C and stops every greenlet: here the lock's holder is a greenlet,
    # so that wait could only end at the statement timeout (3 s) with the write lost to the outbox
    result = subprocess.run([sys.executable, "-c", SQLITE_LOCKED, str(tmp_path / "locked.sqlite3")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0.25 < figures["waited"] < 2.0, figures
    assert figures["ticks_while_waiting"] >= 10, figures
