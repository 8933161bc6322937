"""Start and stop a real gunicorn (with the project's gunicorn.conf.py) on a free loopback port."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(port, path, seconds=60):
    """Poll until the server answers `path` with 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not answer {path} within {seconds} s")


@contextmanager
def gunicorn(target, workdir, ready_path, extra_env=None, extra_args=()):
    """gunicorn serving `target` with gunicorn.conf.py, its audit database and logs in `workdir`."""
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), PYTHONPATH=str(ROOT),
               DATABASE_URL=f"sqlite:///{workdir / 'audit.sqlite3'}", CDSS_PATIENT_HASH_SALT="bench-salt",
               CDSS_INSTANCE_PATH=str(workdir), CDSS_REUSE_RESULTS="0")  # varied inputs, never a reused result
    env.update(extra_env or {})
    log = open(workdir / f"{target.replace(':', '-')}.log", "w", encoding="utf-8")  # noqa: SIM115
    process = subprocess.Popen([str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), *extra_args, target],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(port, ready_path)
        yield port, process
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def worker_pids(master):
    """The gunicorn workers of a master process."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def rss_kib(pid):
    """Resident set size of a process in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
