"""Structured logs: one JSON object per line, and one line per request with its request id.

No PHI: a request line carries the method, the path, the status and the duration, never the query
string, a header other than the request id, or a body (patient contexts are clinical payloads).
"""
import json
import logging
import os
import re
import sys
import time

from flask import g, request

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed into logs and headers: accept only a short token, so it cannot smuggle data.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_PATH = 200
request_log = logging.getLogger("cdss.request")
ENCODER = json.JSONEncoder(default=str)  # made once: json.dumps(default=...) builds an encoder a line


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line: time, level, logger, message, and any `extra` fields."""

    FIELDS = ("request_id", "method", "path", "status", "duration_ms")
    _stamp = (None, "")

    def format(self, record):
        second, stamp = self._stamp  # one strftime a second, not one a line (a tuple: swapped atomically)
        if second != int(record.created):
            second = int(record.created)
            self._stamp = second, stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = {"time": f"{stamp}.{int(record.msecs):03d}Z",
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        given = record.__dict__
        line.update({key: given[key] for key in self.FIELDS if key in given})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return ENCODER.encode(line)


JsonFormatter.converter = time.gmtime


def configure_logging(level):
    """Send every log record to stderr as JSON (once per process; the level may change)."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


def request_id():
    """The current request's id: the caller's X-Request-ID when it is a plain token, else a new uuid."""
    state = g._get_current_object()  # one proxy lookup, not three (this runs several times a request)
    rid = getattr(state, "request_id", None)
    if rid is None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = state.request_id = given if REQUEST_ID.match(given) else random_uuid_hex()
    return rid


def random_uuid_hex():
    """A random (version 4) UUID as 32 hex digits: uuid.uuid4().hex without building a uuid.UUID (a fifth
    of the cost; this runs on every request)."""
    octets = bytearray(os.urandom(16))
    octets[6] = octets[6] & 0x0F | 0x40  # version 4 (RFC 9562 section 5.4)
    octets[8] = octets[8] & 0x3F | 0x80  # the RFC's variant
    return octets.hex()


def start_request():
    """Note the request's id and start time."""
    request_id()
    g.request_started = time.perf_counter()


def finish_request(response):
    """Echo the request id and write the request's one log line."""
    rid = request_id()
    response.headers[REQUEST_ID_HEADER] = rid
    if request_log.isEnabledFor(logging.INFO):
        current = request._get_current_object()
        started = g.get("request_started", time.perf_counter())
        # Logger.info would walk the stack for this line's file and function on every request; they are known.
        request_log.handle(request_log.makeRecord(
            request_log.name, logging.INFO, __file__, 0, "request", None, None, "finish_request", {
                "request_id": rid, "method": current.method, "path": current.path[:MAX_PATH],
                "status": response.status_code, "duration_ms": round((time.perf_counter() - started) * 1000, 2)}))
    return response


def init_app(app):
    """Structured logging for the process, and a log line with a request id for every request."""
    configure_logging(app.config["LOG_LEVEL"])
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per plugin at every start is noise
    app.before_request(start_request)
    app.after_request(finish_request)
