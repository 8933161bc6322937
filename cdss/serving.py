"""How requests share a worker process: one greenlet per connection, the rules engine one at a time.

gunicorn runs gevent workers (gunicorn.conf.py): a connection that is idle, slow to send its headers
or body, or waiting on a FHIR server holds only a greenlet, never the process. durable_rules holds
the GIL and keeps per-session state in C; a session must run start to finish with no other session's
actions in between (ENGINE.md). A greenlet switches only when it waits on I/O, and the engine does
none, so evaluations cannot interleave; the lock below makes that a guarantee rather than a property
of today's engine code: were anything inside a run ever to wait, the next run waits for it.

Greenlets are not pre-empted: a CDS Hooks call runs its CPU work (FHIR mapping, evaluation, cards,
~40 ms) in one piece once its FHIR reads return, and twenty calls whose reads return together held a
worker for a second while native requests queued behind them (`make stress`, phase 2). So a CDS Hooks
call steps aside at a few points (request start, each FHIR read returned, before the engine, before
the audit write): it waits until the worker has nothing else ready, at most YIELD_SECONDS each time.
A native request waits for at most one such step instead of every call's whole work.

Slow clients: gunicorn's gevent worker closes a connection whose request line and headers take longer
than `keepalive` (5 s, gunicorn.conf.py) but reads a body for as long as it trickles in. BodyDeadline
ends that: a body still arriving BODY_TIMEOUT seconds after the request started is answered 408 in the
one error shape and the connection is closed.
"""
import socket
import threading
import time

from flask import has_request_context, request
from marshmallow import validate
from werkzeug.wsgi import ClosingIterator

from cdss.errors import ApiError

try:
    import gevent
    from gevent import monkey
    from gevent.lock import Semaphore
except ImportError:  # pragma: no cover - gevent is a dependency; the service still runs without it
    gevent = None

YIELD_SECONDS = 0.05  # the longest a CDS Hooks call waits for the worker to be idle, per step
BACKGROUND_PREFIX = "/cds-services/"  # calls that wait on a FHIR server anyway: they give way
TURN = Semaphore() if gevent is not None else None  # per worker process (created after the fork)
# The whole body must arrive within BODY_TIMEOUT seconds (CDSS_BODY_TIMEOUT, 10: a 4 MiB CDS Hooks
# body needs 400 KiB/s) of the request's start: gunicorn bounds the headers (keepalive, 5 s), never the body.
TIMED_OUT = "cdss.body_timed_out"
LINGER_SECONDS = 2.0  # after a 408, how long the rest of a slow body is read and dropped before the close


def serialise_engine(evaluator):
    """Let one evaluation at a time (per process) into the rules engine."""
    run, lock = evaluator.engine.run, threading.Lock()  # a gevent lock once gevent has patched threading

    def run_alone(facts):
        give_way()
        with lock:
            return run(facts)

    evaluator.engine.run = run_alone
    return evaluator


def cooperative():
    """Whether this process serves with gevent (sockets patched): greenlets share one thread."""
    return gevent is not None and monkey.is_module_patched("socket")


def give_way(background=None):
    """In a CDS Hooks call under gevent: wait until nothing else in this worker is ready to run (at most
    YIELD_SECONDS), so native requests are not held behind the call's CPU work. Elsewhere: nothing.

    `background` says whether the caller is such a call; None: the current request's path decides (the
    FHIR client's reads run on pool greenlets without the request context and say True)."""
    if background is None:
        background = has_request_context() and request.path.startswith(BACKGROUND_PREFIX)
    if not (background and cooperative()):
        return
    # One call at a time waits for the idle loop: libev runs every idle watcher in the same loop turn,
    # so calls waiting together would resume together and run their steps back to back again.
    with TURN:
        with gevent.Timeout(YIELD_SECONDS, False):
            gevent.idle()


class BodyTimeoutError(ApiError):
    """The request body did not arrive in time (a slow or stalled client)."""

    status = 408
    code = "request_timeout"


class DeadlineInput:
    """wsgi.input whose reads end with BodyTimeoutError once the request's body deadline has passed."""

    def __init__(self, stream, environ, seconds):
        self.stream, self.environ, self.deadline = stream, environ, time.monotonic() + seconds

    def _bounded(self, read, *args):
        left = self.deadline - time.monotonic()
        error = BodyTimeoutError("the request body did not arrive in time")
        if left <= 0:
            self.environ[TIMED_OUT] = True
            raise error
        try:
            with gevent.Timeout(left, error):
                return read(*args)
        except BodyTimeoutError:
            self.environ[TIMED_OUT] = True
            raise

    def read(self, *args):
        return self._bounded(self.stream.read, *args)

    def readline(self, *args):
        return self._bounded(self.stream.readline, *args)

    def readlines(self, *args):
        return self._bounded(self.stream.readlines, *args)

    def __iter__(self):
        return iter(self.readline, b"")


class BodyDeadline:
    """WSGI middleware: under gevent, a body that has not arrived `seconds` after the request started is
    answered 408 and its connection closed (its greenlet and socket freed for good)."""

    def __init__(self, app, seconds):
        self.app, self.seconds = app, seconds

    def __call__(self, environ, start_response):
        if not cooperative() or environ.get("wsgi.input") is None:
            return self.app(environ, start_response)
        environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], environ, self.seconds)
        result = self.app(environ, start_response)
        if not environ.get(TIMED_OUT):
            return result
        return ClosingIterator(result, lambda: stop_reading(environ))


def stop_reading(environ):
    """After a 408 has been written: a lingering close. Send FIN, read and drop what the client is still
    sending for up to LINGER_SECONDS, then end the reading side so gunicorn reads no more of the slow body
    and closes the connection instead of waiting for the next request on it.

    Closing a socket with unread bytes makes the kernel send RST, and an RST can discard the 408 the client
    has not read yet: a client that keeps sending its body would see "connection reset", not the answer."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return
    timeout = sock.gettimeout()
    try:
        sock.shutdown(socket.SHUT_WR)
        ends = time.monotonic() + LINGER_SECONDS
        while (left := ends - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                break
    except OSError:  # a timeout, or the client went away: nothing left to save
        pass
    try:
        sock.settimeout(timeout)
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


def warm_up():
    """Compile now what the first request would otherwise compile on a worker's only thread: marshmallow
    builds its URL regex lazily, 0.2 s of CPU (more on a busy machine) that held every request queued
    behind the first CDS Hooks call of each worker (its fhirServer is a URL)."""
    for require_tld in (False, True):
        validate.URL(require_tld=require_tld)("https://warm-up.example.org/fhir")


def init_app(app):
    """Warm up; a CDS Hooks call gives way before it starts parsing its (up to 4 MiB) body; bodies have a
    deadline."""
    warm_up()
    app.before_request(give_way)
    app.wsgi_app = BodyDeadline(app.wsgi_app, app.config["BODY_TIMEOUT"])
