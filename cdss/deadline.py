"""Client-side deadlines for database calls: a call that outlives its deadline has its socket shut.

libpq has a connect timeout and PostgreSQL a statement timeout, but neither ends a call whose server
stopped answering mid-conversation (a partition, a paused server or proxy): the client waits on its
socket for ever. A watchdog thread shuts such a socket down when its deadline passes; the waiting
call then fails at once with a disconnect, which the caller handles like any other database error.
Under gevent the watchdog is a greenlet and psycopg waits cooperatively, so it works there too.
"""
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager

log = logging.getLogger(__name__)


class Watchdog:
    """One thread per process that shuts the sockets of calls past their deadline."""

    def __init__(self):
        self._armed, self._heap = {}, []
        self._tokens = itertools.count()
        self._condition = threading.Condition()
        self._pid = None

    def _ensure_thread(self):
        if self._pid != os.getpid():  # a forked worker starts its own thread
            self._pid = os.getpid()
            self._armed.clear()
            self._heap.clear()
            threading.Thread(target=self._run, name="db-deadline-watchdog", daemon=True).start()

    def arm(self, fd, seconds):
        """Shut socket `fd` in `seconds` unless disarmed first; the token to disarm it (None: nothing armed)."""
        if fd is None or fd < 0 or not seconds:
            return None
        with self._condition:
            self._ensure_thread()
            token = next(self._tokens)
            self._armed[token] = fd
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            self._condition.notify()
        return token

    def disarm(self, token):
        """Cancel an armed deadline (its socket is left alone)."""
        if token is not None:
            with self._condition:
                self._armed.pop(token, None)

    @contextmanager
    def deadline(self, fd, seconds):
        """Shut socket `fd` if the block is still running after `seconds`."""
        token = self.arm(fd, seconds)
        try:
            yield
        finally:
            self.disarm(token)

    def _run(self):
        while True:
            with self._condition:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is None or wait > 0:
                    self._condition.wait(wait)
                    continue
                _, token = heapq.heappop(self._heap)
                shut(self._armed.pop(token))  # under the lock: the caller cannot have closed fd yet


def shut(fd):
    """Shut a socket down for both directions (its owner still closes it)."""
    try:
        with socket.socket(fileno=os.dup(fd)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
        log.error("database call passed its deadline: connection shut")
    except OSError:
        pass


WATCHDOG = Watchdog()


def socket_of(dbapi_connection):
    """The socket of a psycopg connection (None for SQLite, which has none)."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    try:
        return pgconn.socket if pgconn is not None else None
    except Exception:  # noqa: BLE001 - psycopg raises its own errors on a closed connection
        return None
