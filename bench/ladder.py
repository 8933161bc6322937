"""Where a request's time goes: the WSGI CPU cost of each layer in process, on the same cases, best of runs.

Each step adds one layer to the one before: a bare Flask JSON endpoint; the service's own framework
(request id, JSON log line, CORS, error handlers) answering /healthz; /api/v1/evaluate with the audit
write replaced by a no-op; the whole /api/v1/evaluate. No gunicorn, no sockets: what is left of a
served request's cost is the server's, paid alike by both apps. The schema + raw durable app
(bench/minimal_app.py) is measured the same way, as the reference. CPU time (time.process_time), not
wall time: the machine is shared. Run alone: python -m bench.ladder.
"""
import io
import json
import logging
import tempfile
import time
from pathlib import Path

from werkzeug.test import EnvironBuilder

import bench.bare_app
import bench.minimal_app
from bench.cases import make_cases
from cdss import create_app


def environ(path, method="GET", body=b""):
    """A WSGI environ built once; its body stream is replaced on every call."""
    built = EnvironBuilder(path=path, method=method, data=body, content_type="application/json").get_environ()
    return built, body


def call(app, prepared):
    """One request through app.wsgi_app; the response body is consumed and closed."""
    built, body = prepared
    request = dict(built, **{"wsgi.input": io.BytesIO(body)})
    status = []
    response = app.wsgi_app(request, lambda line, headers, exc_info=None: status.append(line))
    b"".join(response)
    getattr(response, "close", lambda: None)()
    return status[0]


def per_request_us(app, prepared, repeats=5):
    """Best of `repeats` passes over the prepared requests: microseconds of CPU per request."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for item in prepared:
            call(app, item)
        best = min(best, (time.process_time() - started) / len(prepared))
    return best * 1e6


def measure(cases, repeats=5):
    """[(layer, microseconds per request)] on the same bodies."""
    bodies = [json.dumps(case).encode() for case in cases]
    with tempfile.TemporaryDirectory(prefix="cdss-ladder-") as folder:
        app = create_app({"DATABASE_URL": f"sqlite:///{Path(folder) / 'audit.sqlite3'}",
                          "PATIENT_HASH_SALT": "ladder", "REUSE_RESULTS": 0})
        store = app.extensions["cdss.store"]
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        quiet = logging.getLogger().handlers
        streams = [(handler, handler.setStream(io.StringIO())) for handler in quiet
                   if isinstance(handler, logging.StreamHandler)]  # the log lines are made, not printed
        evaluate = [environ("/api/v1/evaluate", "POST", body) for body in bodies]
        assert call(app, evaluate[0]).startswith("200"), "the service must answer the ladder's cases"
        steps = [("bare Flask POST /echo", per_request_us(bench.bare_app.app, [
                      environ("/echo", "POST", body) for body in bodies], repeats)),
                 ("service framework GET /healthz", per_request_us(app, [environ("/healthz")] * len(bodies), repeats))]
        # The audit trail inserts through store_audit_row (cdss/audit.py); record_evaluation is not on
        # the request path any more, so skipping it skipped nothing.
        insert = store.store_audit_row
        store.store_audit_row = lambda *args, **kwargs: None
        try:
            steps.append(("evaluate, audit write skipped", per_request_us(app, evaluate, repeats)))
        finally:
            store.store_audit_row = insert
        steps.append(("evaluate (everything)", per_request_us(app, evaluate, repeats)))
        steps.append(("schema + raw durable POST /evaluate", per_request_us(bench.minimal_app.app, [
            environ("/evaluate", "POST", body) for body in bodies], repeats)))
        for handler, stream in streams:
            handler.setStream(stream)
        store.close()
    return steps


def main():
    for layer, cost in measure(make_cases(1000)):
        print(f"{layer:40}{cost:>10.0f} us")


if __name__ == "__main__":
    main()
