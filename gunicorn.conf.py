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
