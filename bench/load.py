"""A bounded HTTP load generator, run as its own process: a fixed request count and a time limit.

Closed loop (`--concurrency`, as fast as the server answers) finds saturation; open loop (`--rate`)
sends on a fixed schedule and times each request from when it was due, so a slow server cannot hide
its queueing (no coordinated omission). One connection per request: gunicorn's sync workers close it.
Prints one JSON object: sent, errors by status, requests/s, p50/p90/p99/max latency in ms.
"""
import argparse
import json
import socket
import sys
import threading
import time


def build_requests(host, port, path, bodies):
    """Raw HTTP/1.1 POST requests, built once so the client spends its time on the wire, not formatting."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "Connection: close\r\nContent-Length: {length}\r\n\r\n")
    return [head.format(length=len(body)).encode() + body for body in bodies]


def send(address, payload, timeout=10.0):
    """One request; returns the status code (0 when the connection failed) and the full response."""
    try:
        with socket.create_connection(address, timeout=timeout) as connection:
            connection.sendall(payload)
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
    except OSError:
        return 0, b""
    response = b"".join(chunks)
    try:
        return int(response[9:12]), response
    except ValueError:
        return 0, response


class Run:
    """Shared state of one run: the next request index, latencies, statuses."""

    def __init__(self, requests, count, deadline):
        self.requests, self.count, self.deadline = requests, count, deadline
        self.next, self.lock = 0, threading.Lock()
        self.latencies, self.statuses = [], {}

    def take(self):
        """The index of the next request to send, or None when the count or the time is used up."""
        with self.lock:
            if self.next >= self.count or time.perf_counter() > self.deadline:
                return None
            self.next += 1
            return self.next - 1

    def done(self, status, latency):
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] = self.statuses.get(status, 0) + 1


def closed_loop(run, address):
    while (index := run.take()) is not None:
        started = time.perf_counter()
        status, _ = send(address, run.requests[index % len(run.requests)])
        run.done(status, time.perf_counter() - started)


def open_loop(run, address, start, interval):
    while (index := run.take()) is not None:
        due = start + index * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        status, _ = send(address, run.requests[index % len(run.requests)])
        run.done(status, time.perf_counter() - due)


def percentile(ordered, fraction):
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else None


def drive(address, requests, count, seconds, concurrency, rate=None):
    """Send up to `count` requests within `seconds`; the summary as a dict."""
    started = time.perf_counter()
    run = Run(requests, count, started + seconds)
    if rate:
        workers = [threading.Thread(target=open_loop, args=(run, address, started + 0.05, 1.0 / rate))
                   for _ in range(concurrency)]
    else:
        workers = [threading.Thread(target=closed_loop, args=(run, address)) for _ in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(run.latencies)
    return {"sent": len(ordered), "seconds": round(elapsed, 2), "statuses": run.statuses,
            "requests_per_s": round(len(ordered) / elapsed, 1), "p50_ms": percentile(ordered, 0.50),
            "p90_ms": percentile(ordered, 0.90), "p99_ms": percentile(ordered, 0.99),
            "max_ms": ordered[-1] * 1000 if ordered else None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--bodies", required=True, help="a JSON file: a list of request bodies")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, help="requests/s (open loop); omit for closed loop")
    options = parser.parse_args(argv)
    with open(options.bodies, encoding="utf-8") as handle:
        bodies = [json.dumps(body).encode() for body in json.load(handle)]
    requests = build_requests("127.0.0.1", options.port, options.path, bodies)
    summary = drive(("127.0.0.1", options.port), requests, options.count, options.seconds,
                    options.concurrency, options.rate)
    json.dump(summary, sys.stdout)


if __name__ == "__main__":
    main()
