"""Faults for the audit tests: a TCP proxy to PostgreSQL that refuses or blackholes, a tiny disk.

The real PostgreSQL service is never touched: the app under test reaches it through this proxy on a
free loopback port, and the proxy is what is stopped (connections refused) or paused (connections
accepted and bytes swallowed, as in a network partition).
"""
import contextlib
import os
import select
import socket
import subprocess
import threading
import time


class TcpProxy:
    """A loopback TCP proxy to `target`; stop() refuses, pause() blackholes, start()/resume() heal."""

    def __init__(self, target):
        self.target = target
        self.port = None
        self.paused = threading.Event()
        self._listener, self._pairs, self._lock = None, [], threading.Lock()
        self._threads = []

    def start(self):
        """Listen (on the same port after a stop) and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept, listener)
        return self

    def stop(self):
        """Close the listener and every connection: clients see their connections dropped, then refused."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for side in pair:
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)
                side.close()

    def pause(self):
        """Blackhole: connections are still accepted, no byte goes through in either direction."""
        self.paused.set()

    def resume(self):
        self.paused.clear()

    def close(self):
        self.resume()
        self.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            self._spawn(self._pump, client, upstream)

    def _pump(self, client, upstream):
        sockets = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 0.1)
                if self.paused.is_set():
                    continue
                for side in readable:
                    data = side.recv(65536)
                    if not data:
                        return
                    (upstream if side is client else client).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for side in sockets:
                side.close()


# Big enough that the load of a fault test never fills it by itself: SQLite's WAL grows by a few 4 KiB
# pages per audit commit until its auto-checkpoint at 1,000 pages (4 MiB), and a 2 MiB disk filled with
# WAL in two seconds of normal load (then no checkpoint can run and "space returns" never happens).
TMPFS_SIZE = "32m"


def mount_tmpfs(folder, size=TMPFS_SIZE):
    """Mount a small tmpfs on `folder` (root only); False when this machine does not allow it."""
    os.makedirs(folder, exist_ok=True)
    if os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                            capture_output=True, check=False)
    return result.returncode == 0


def unmount(folder):
    """Unmount a tmpfs mounted by mount_tmpfs (lazily: an open file must not keep it)."""
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def fill(folder):
    """Fill the file system of `folder` to the last byte; returns the filler's path (remove it to heal)."""
    path = os.path.join(folder, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return path


def read_only(path):
    """Make a file impossible to open for writing: immutable for root (chattr +i), mode 0444 otherwise."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    else:
        os.chmod(path, 0o444)


def writable(path):
    """Undo read_only()."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)
    else:
        os.chmod(path, 0o644)


def wait_for(predicate, seconds=15.0, interval=0.05):
    """Poll until predicate() is true; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value
