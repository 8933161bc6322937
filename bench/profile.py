"""Profile the request path in process with pyinstrument: POST /api/v1/evaluate over varied cases.

Run: .venv/bin/python -m bench.profile [--database-url URL] [--count N]. Prints the call tree.
"""
import argparse
import tempfile

from pyinstrument import Profiler

from bench.cases import make_cases
from cdss import create_app


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--wal", action="store_true", help="put the SQLite file in WAL mode (as gunicorn.conf.py)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite:///{folder}/audit.sqlite3"
        app = create_app({"DATABASE_URL": url, "PATIENT_HASH_SALT": "profile", "LOG_LEVEL": "WARNING"})
        if options.wal:
            with app.extensions["cdss.store"].engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        client, cases = app.test_client(), make_cases(options.count)
        for case in cases[:100]:
            client.post("/api/v1/evaluate", json=case)
        profiler = Profiler(interval=0.0005)
        with profiler:
            for case in cases:
                assert client.post("/api/v1/evaluate", json=case).status_code == 200
        print(profiler.output_text(unicode=False, color=False, show_all=False, timeline=False))
        app.extensions["cdss.store"].close()


if __name__ == "__main__":
    main()
