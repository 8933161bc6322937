"""How requests share a worker process: one greenlet per connection, the rules engine one at a time.

gunicorn runs gevent workers (gunicorn.conf.py): a connection that is idle, slow to send its headers
or body, or waiting on a FHIR server holds only a greenlet, never the process. durable_rules holds
the GIL and keeps per-session state in C; a session must run start to finish with no other session's
actions in between (ENGINE.md). A greenlet switches only when it waits on I/O, and the engine does
none, so evaluations cannot interleave; the lock below makes that a guarantee rather than a property
of today's engine code: were anything inside a run ever to wait, the next run waits for it.
"""
import threading


def serialise_engine(evaluator):
    """Let one evaluation at a time (per process) into the rules engine."""
    run, lock = evaluator.engine.run, threading.Lock()  # a gevent lock once gevent has patched threading

    def run_alone(facts):
        with lock:
            return run(facts)

    evaluator.engine.run = run_alone
    return evaluator
