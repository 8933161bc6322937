"""gunicorn settings: gevent workers, one greenlet per connection; processes for the engine's CPU.

Why gevent (README, "Serving"): with sync workers one idle or slow client holds a whole process, so
three idle connections stopped all advice. A gevent worker holds each connection in a greenlet: idle
connections, slow headers or bodies and CDS Hooks calls waiting on a FHIR server cost a greenlet,
while the worker goes on answering. The rules engine is CPU-bound and does no I/O, so an evaluation
runs start to finish on one greenlet (cdss/serving.py serialises it besides); the engine holds the
GIL, so CPU scales with processes (2n-1 on 2 cores).

Shutdown: on SIGTERM the master first drains: /readyz answers 503 ("draining") for DRAIN_SECONDS
while the listener stays open and requests are served, so a load balancer stops sending new ones;
then gunicorn's graceful stop closes the listener and lets each worker finish what it accepted
(graceful_timeout). Environment: HOST, PORT, WEB_CONCURRENCY, CDSS_WORKER_CLASS, CDSS_DRAIN_SECONDS.
"""
import os
import time
import traceback

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))  # 2 cores: 2n-1 processes (the engine is CPU-bound)
worker_class = os.environ.get("CDSS_WORKER_CLASS", "gevent")
worker_connections = 1000  # connections (greenlets) per worker
timeout = 30  # a worker whose event loop is blocked this long is restarted
graceful_timeout = 20  # after the drain: time for accepted requests to finish
keepalive = 5  # also the gevent worker's header timeout: a connection silent this long is closed
backlog = 512
max_requests = 20000  # recycle workers now and then; the engine's state table is per process
max_requests_jitter = 2000  # so the workers do not all restart at once
accesslog = None  # the app writes one JSON line per request (cdss.logs), with its request id
errorlog = "-"
control_socket_disable = True  # gunicornc is not used; one fixed socket path per user would be shared by every server
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # heartbeat file off a slow disk
DRAIN_SECONDS = float(os.environ.get("CDSS_DRAIN_SECONDS", "5"))


def migrate():
    """Migrate the database (and set SQLite's WAL mode) once, before any worker starts."""
    from cdss.config import database_timeouts, database_url, load_config  # noqa: PLC0415
    from cdss.storage import Store  # noqa: PLC0415

    config = load_config()
    instance = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")
    store = Store(database_url(config, os.environ.get("CDSS_INSTANCE_PATH", instance)), database_timeouts(config))
    store.migrate()
    if store.url.startswith("sqlite"):
        # WAL (kept in the file): readers never block the audit writes, and a commit costs one fsync of
        # the log instead of the rollback journal's several (measured 16 ms -> 3 ms per audit record).
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    store.close()


def on_starting(server):
    """Migrate in a forked child: importing the app here would load SQLAlchemy, threading and ssl in the
    master, before gevent patches them in the workers (unpatched locks deadlock greenlets)."""
    child = os.fork()
    if child == 0:
        try:
            from cdss.access import enforce_bind  # noqa: PLC0415 - in the child, like migrate()

            enforce_bind(server)  # no authentication beyond loopback unless CDSS_INSECURE_DEVELOPMENT
            migrate()
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the child reports and exits; the master stops start-up
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise SystemExit("database migration failed; not starting")
    os.environ["CDSS_MIGRATE_ON_START"] = "0"
    # the workers' /readyz answers 503 while this file exists (cdss/health.py)
    os.environ["CDSS_DRAIN_FLAG"] = os.path.join(worker_tmp_dir or "/tmp", f"cdss-draining-{os.getpid()}")


def post_worker_init(worker):
    """gunicorn's own 400/414/431 in the one error shape (cdss/errors.py), set in each worker after gevent's patch."""
    from cdss.errors import answer_server_errors_in_json  # noqa: PLC0415

    answer_server_errors_in_json()


def when_ready(server):
    """On SIGTERM: drain first (readiness 503, listener open), then gunicorn's graceful stop."""
    stop = server.handle_term

    def drain_then_stop():
        flag = os.environ["CDSS_DRAIN_FLAG"]
        with open(flag, "w", encoding="ascii"):
            pass
        server.log.info("draining for %.1f s: /readyz answers 503, requests are still served", DRAIN_SECONDS)
        time.sleep(DRAIN_SECONDS)
        stop()

    server.handle_term = drain_then_stop


def on_exit(server):
    """Remove the drain flag."""
    flag = os.environ.get("CDSS_DRAIN_FLAG")
    if flag and os.path.exists(flag):
        os.unlink(flag)
