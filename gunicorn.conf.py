"""gunicorn settings for a 2-core machine. The rules engine holds the GIL: scale with processes.

Graceful shutdown is gunicorn's: on SIGTERM the master stops accepting, each worker finishes its
request within `graceful_timeout`, then exits. Environment: HOST, PORT, WEB_CONCURRENCY.
"""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))  # 2 cores: 2n-1 sync workers (the engine is CPU-bound)
worker_class = "sync"
threads = 1  # the engine is not shared across threads: one evaluation per process at a time
timeout = 30  # an evaluation takes about a millisecond; 30 s only catches a stuck worker
graceful_timeout = 20
keepalive = 2  # sync workers close after each response; kept for a proxy in front
backlog = 512
max_requests = 20000  # recycle workers now and then; the engine's state table is per process
max_requests_jitter = 2000  # so the workers do not all restart at once
accesslog = None  # the app writes one JSON line per request (cdss.logs), with its request id
errorlog = "-"
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # heartbeat file off a slow disk


def on_starting(server):
    """Migrate the database once, in the master, before any worker starts (workers then skip it)."""
    from cdss.access import enforce_bind
    from cdss.config import database_url, load_config
    from cdss.errors import answer_server_errors_in_json
    from cdss.storage import Store

    enforce_bind(server)  # no authentication beyond loopback unless CDSS_INSECURE_DEVELOPMENT (cdss/access.py)
    answer_server_errors_in_json()  # gunicorn's own 400/414/431 in the one error shape (inherited by workers)

    instance = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")
    store = Store(database_url(load_config(), os.environ.get("CDSS_INSTANCE_PATH", instance)))
    store.migrate()
    if store.url.startswith("sqlite"):
        # WAL (kept in the file): readers never block the audit writes, and a commit costs one fsync of
        # the log instead of the rollback journal's several (measured 16 ms -> 3 ms per audit record).
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    store.engine.dispose()
    os.environ["CDSS_MIGRATE_ON_START"] = "0"
