"""Counters every worker of an instance shares, kept in a small file on the instance path.

Per-process counts vanish when gunicorn recycles a worker; an operator needs the totals since the
instance started (or since the file was deleted). The file is allocated whole when it is created,
so an increment writes into space already owned: it keeps working when the disk is full.
"""
import fcntl
import mmap
import os
import struct
import weakref

SLOT = struct.Struct("<q")
NAMES = ("audit_database", "audit_outboxed", "audit_replayed", "audit_refused", "audit_unaudited",
         "database_failures", "outbox_failures")
SIZE = 4096  # one page: room for 512 counters


class SharedCounters:
    """Named 64-bit counters in a shared file; each increment holds the file's lock."""

    def __init__(self, path):
        self.path = str(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < SIZE:
                os.posix_fallocate(fd, 0, SIZE)  # allocated now, so a full disk cannot refuse an increment
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        self._lock = os.open(self.path, os.O_RDONLY)  # flock'd around each increment
        weakref.finalize(self, os.close, self._lock)

    def add(self, name, amount=1):
        """Add to a counter (visible to every process at once)."""
        offset = NAMES.index(name) * SLOT.size
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            SLOT.pack_into(self._map, offset, SLOT.unpack_from(self._map, offset)[0] + amount)
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def snapshot(self):
        """Every counter's current value."""
        return {name: SLOT.unpack_from(self._map, index * SLOT.size)[0] for index, name in enumerate(NAMES)}

