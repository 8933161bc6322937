"""The audit outbox: records the database could not take, kept on local disk until it can.

One append-only JSON-lines file on the instance path, shared by every worker of the instance. A
record is one write(2) under an exclusive flock, then fsync(2); only then is the caller told it is
kept, so it survives a crash of the process or of the machine. A record that could not be written
whole is cut off again, so the file never holds half a line.

Replay runs in one process at a time (a second flock): it moves the file aside as the next numbered
segment, then stores each segment's records in order, in transactions of BATCH, and deletes it.
The evaluation id is the table's primary key and a replayed insert skips an id already stored, so a
crash or failure between a commit and the deletion stores nothing twice: every record lands once.
"""
import errno
import fcntl
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
CURRENT = "current.jsonl"
BATCH = 500  # records per replay transaction: a long outage's backlog is stored in many short ones


class OutboxError(Exception):
    """The outbox could not keep a record (disk full, read-only file system, ...)."""


@contextmanager
def flocked(path, blocking=True):
    """Hold an exclusive lock on `path`; yields False when not blocking and another process holds it."""
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fsync_folder(folder):
    """Make a file's creation, rename or deletion in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Outbox:
    """Durable local storage for audit records, replayed into the database in order."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in ("append.lock", "replay.lock"):  # made now: a full disk must not stop a lock later
            (self.folder / name).touch()
        self._counted = {}  # file name -> (size, lines): depth without rereading unchanged segments

    def append(self, record):
        """Keep one record durably; OutboxError when the disk cannot take it."""
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        path = self.folder / CURRENT
        try:
            with flocked(self.folder / "append.lock"):
                created = not path.exists()
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    self._write_whole(fd, line)
                finally:
                    os.close(fd)
                if created:
                    fsync_folder(self.folder)
        except OSError as error:
            raise OutboxError(errno.errorcode.get(error.errno, str(error))) from None

    @staticmethod
    def _write_whole(fd, line):
        """Write and fsync one line, or leave the file as it was and raise."""
        start = os.fstat(fd).st_size
        try:
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)
            except OSError:
                log.error("audit outbox: a partial record could not be cut off")
            raise

    def writable(self):
        """Whether a record could be kept now (a probe file is written, synced and removed)."""
        probe = self.folder / f".probe-{os.getpid()}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                self._write_whole(fd, b"probe\n")
            finally:
                os.close(fd)
            probe.unlink()
            return True
        except OSError:
            try:
                probe.unlink()
            except OSError:
                pass
            return False

    def segments(self):
        """The segments waiting for replay, oldest first."""
        return sorted(self.folder.glob("segment-*.jsonl"))

    def depth(self):
        """How many records wait in the outbox."""
        total, counted = 0, {}
        for path in [*self.segments(), self.folder / CURRENT]:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            known = self._counted.get(path.name)
            lines = known[1] if known and known[0] == size else path.read_bytes().count(b"\n")
            counted[path.name] = (size, lines)
            total += lines
        self._counted = counted
        return total

    def pending(self):
        """Whether anything waits for replay (cheap: no file is read)."""
        current = self.folder / CURRENT
        return bool(self.segments()) or (current.exists() and current.stat().st_size > 0)

    def replay(self, store_batch):
        """Store every kept record, oldest first, through `store_batch(records)`; returns how many.

        Returns None when another process is replaying. A failing `store_batch` stops the replay and
        keeps the segment for the next try.
        """
        with flocked(self.folder / "replay.lock", blocking=False) as mine:
            if not mine:
                return None
            self._rotate()
            replayed = 0
            for segment in self.segments():
                records = [json.loads(line) for line in segment.read_bytes().splitlines() if line.strip()]
                for start in range(0, len(records), BATCH):  # each batch within the statement timeout
                    store_batch(records[start:start + BATCH])
                segment.unlink()
                fsync_folder(self.folder)
                replayed += len(records)
            return replayed

    def _rotate(self):
        """Move the current file aside as the next segment (under the append lock: no write is cut)."""
        with flocked(self.folder / "append.lock"):
            current = self.folder / CURRENT
            if not current.exists() or current.stat().st_size == 0:
                return
            numbers = [int(path.stem.split("-")[1]) for path in self.segments()]
            current.rename(self.folder / f"segment-{max(numbers, default=0) + 1:012d}.jsonl")
            fsync_folder(self.folder)
