"""Benchmark of Bulk Data screening: the join alone and the whole screen, multiprocessing vs Spark local,
on one generated export, measured in the same run.

    .venv/bin/python -m bench.bulk [--patients 100000] [--workers N] [--skip-spark]

Prints patients/s of each backend and Spark's ratio to multiprocessing (target >= 0.9). Spark's
first job includes JVM start-up; it is timed separately ("session") and left out of the rates.
"""
import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdss.bulk import local  # noqa: E402
from cdss.bulk.export import export_files  # noqa: E402
from cdss.bulk.synthetic import generate  # noqa: E402

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def timed(function, *args, **kwargs):
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def screen_all(module, files, **options):
    """Screen the whole export; the number of records."""
    return sum(1 for _ in module.screen_export(files, str(ROOT / "rules"), NOW, Counter(), all_patients=True,
                                               **options))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--skip-spark", action="store_true")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cdss-bulk-bench-") as folder:
        seconds, manifest = timed(generate, folder, options.patients, 2026)
        files = export_files(manifest)
        size = sum(file.stat().st_size for file in files) / 2**20
        print(f"{options.patients} patients, {size:,.0f} MiB of NDJSON in {len(files)} files "
              f"(generated in {seconds:.0f} s); {options.workers} workers; every patient evaluated")
        rows = []
        join_s, groups = timed(local.join_export, files, Counter(), workers=options.workers)
        screen_s, count = timed(screen_all, local, files, workers=options.workers)
        rows.append(("multiprocessing", join_s, screen_s, count, groups))
        if not options.skip_spark:
            from cdss.bulk import spark  # noqa: PLC0415

            session_s, _ = timed(spark.session)
            join_s, groups = timed(spark.join_export, files, Counter())
            screen_s, count = timed(screen_all, spark, files)
            rows.append(("spark local[*]", join_s, screen_s, count, groups))
            print(f"(Spark session start-up: {session_s:.1f} s, not counted)")
    print(f"\n{'backend':18}{'join s':>9}{'join patients/s':>17}{'screen s':>10}{'patients/s':>12}")
    for name, join_s, screen_s, count, groups in rows:
        print(f"{name:18}{join_s:9.1f}{groups / join_s:17,.0f}{screen_s:10.1f}{count / screen_s:12,.0f}")
    if len(rows) == 2:
        ratio = (rows[1][3] / rows[1][2]) / (rows[0][3] / rows[0][2])
        print(f"\nspark / multiprocessing screening rate  {ratio:5.2f}  target >= 0.90  {'MET' if ratio >= 0.9 else 'MISSED'}")


if __name__ == "__main__":
    main()
