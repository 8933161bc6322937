"""Start-up cost of the service: CPU time and peak RSS of importing the app and building it once.

Run in a fresh process each time (peak RSS only grows):
    .venv/bin/python -m bench.startup            # the whole app (create_app)
    .venv/bin/python -m bench.startup terminology  # the terminology alone (code systems + value sets)
CPU time (time.process_time), not wall time: the machine is shared. Compare figures from one run.
"""
import resource
import sys
import tempfile
import time


def rss_mib():
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv):
    """Print the CPU seconds and peak RSS before and after the measured step."""
    started, base = time.process_time(), rss_mib()
    if argv[1:] == ["terminology"]:
        from cdss.loader import load_rules
        from cdss.vocabulary import Vocabulary
        knowledge = load_rules("rules")
        before, before_rss = time.process_time(), rss_mib()
        Vocabulary(knowledge.medications, knowledge.conditions)
        step = "terminology (code systems + value sets)"
    else:
        from cdss import create_app
        before, before_rss = time.process_time(), rss_mib()
        with tempfile.TemporaryDirectory() as folder:
            create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{folder}/startup.sqlite3",
                        "PATIENT_HASH_SALT": "startup"})
        step = "create_app"
    after = time.process_time()
    print(f"imports {before - started:.3f} s CPU, peak RSS {base:.0f} -> {before_rss:.0f} MiB")
    print(f"{step} {after - before:.3f} s CPU, peak RSS {before_rss:.0f} -> {rss_mib():.0f} MiB")


if __name__ == "__main__":
    main(sys.argv)
