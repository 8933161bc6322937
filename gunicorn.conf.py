"""gunicorn settings for a 2-core machine. The rules engine holds the GIL: scale with processes."""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))  # 2 cores: 2n-1 sync workers
worker_class = "sync"
threads = 1
timeout = 30
graceful_timeout = 20
max_requests = 20000  # recycle workers now and then; the engine's state table is per process
max_requests_jitter = 2000
accesslog = None


def on_starting(server):
    """Migrate the database once, in the master, before any worker starts (workers then skip it)."""
    from cdss.config import database_url, load_config
    from cdss.storage import Store

    instance = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")
    Store(database_url(load_config(), os.environ.get("CDSS_INSTANCE_PATH", instance))).migrate()
    os.environ["CDSS_MIGRATE_ON_START"] = "0"
