"""Benchmark of cohort screening: patients per second of `cdss screen` (multiprocessing) on generated patients.

    .venv/bin/python -m bench.screening [--patients 50000] [--workers N]   # --patients 1000000: the 1M run

Prints the wall-clock rate and, because the machine is shared, the rate its CPU time projects onto
dedicated cores: patients / (CPU seconds of the parent and every worker) x workers -- once with the
pool's start-up (spawning and loading the rules in every worker, measured by screening one patient)
and once without it, the steady rate a 1M-patient run approaches -- with the single-process CPU cost
of one patient measured in the same run as the reference.
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.cases import make_cases
from cdss.config import ROOT
from cdss.loader import load_rules
from cdss.screening import read_rows, screen, screen_row

RULES = ROOT / "rules"
TARGET = 2500  # patients/s on 2 cores (issue 13)


def generate(path, count, seed=6):
    """Write `count` varied patients (bench/cases.py, condition names from the loaded rules) as NDJSON."""
    knowledge = load_rules(RULES)
    with open(path, "w", encoding="utf-8") as handle:
        for start in range(0, count, 10_000):
            for case in make_cases(min(10_000, count - start), seed=seed + start, knowledge=knowledge):
                handle.write(json.dumps(case) + "\n")


def children_cpu():
    """CPU seconds of every finished child process of this one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def single_cpu_us(path, count):
    """CPU microseconds per patient of one screening row (parse, validate, evaluate), this process."""
    from cdss import screening  # noqa: PLC0415

    screening.init_worker(str(RULES))
    with open(path, encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(count)]
    for line in lines[:200]:
        screen_row(0, "ndjson", line)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for line in lines:
            screen_row(0, "ndjson", line)
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def schema_cpu_us(path, count):
    """CPU microseconds per patient of loading the parsed body with the patient-context schema alone."""
    from schemas.context import PatientContextSchema  # noqa: PLC0415

    schema = PatientContextSchema()
    with open(path, encoding="utf-8") as handle:
        bodies = [json.loads(next(handle)) for _ in range(count)]
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for body in bodies:
            schema.load(body)
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def screen_run(path, workers):
    """(wall seconds, CPU seconds of parent and workers, patients, invalid) of one whole screening run."""
    invalid = total = 0
    cpu_before, children_before = time.process_time(), children_cpu()
    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as handle, open(os.devnull, "w", encoding="utf-8") as out:
        for text, entries in screen(read_rows(handle, "ndjson"), "ndjson", RULES, workers):
            out.write(text)  # as `cdss screen` writes its output
            total += len(entries)
            invalid += sum(classification is None for _, classification, _ in entries)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before + children_cpu() - children_before
    return wall, cpu, total, invalid


def main(argv=None):
    """Generate, measure, print the rates and the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--single", type=int, default=2_000, help="patients for the single-process CPU cost")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cdss-screen-") as folder:
        path = Path(folder) / "cohort.ndjson"
        generate(path, options.patients)
        single = single_cpu_us(path, min(options.single, options.patients))
        schema = schema_cpu_us(path, min(options.single, options.patients))
        wall, cpu, total, invalid = screen_run(path, options.workers)
        one = Path(folder) / "one.ndjson"
        one.write_text(path.open(encoding="utf-8").readline(), encoding="utf-8")
        startup = min(screen_run(one, options.workers)[1] for _ in range(2))
    projected = total / cpu * options.workers
    steady = total / max(cpu - startup, 1e-9) * options.workers
    print(f"screening: {total:,} generated patients ({invalid} invalid), {options.workers} worker processes")
    print(f"  one patient, single process (CPU)      {single:8.0f} us  -> {1e6 / single * options.workers:8,.0f}"
          f" patients/s on {options.workers} cores")
    print(f"    of which the schema load alone (CPU)  {schema:8.0f} us")
    print(f"  cdss screen, wall clock (shared box)   {total / wall:8,.0f} patients/s  ({wall:,.1f} s)")
    print(f"  cdss screen, CPU of parent + workers   {cpu * 1e6 / total:8.0f} us a patient -> {projected:8,.0f}"
          f" patients/s on {options.workers} dedicated cores")
    print(f"  pool start-up (spawn, imports, rules; CPU)  {startup:5.1f} s  -> steady {(cpu - startup) * 1e6 / total:6.0f}"
          f" us a patient -> {steady:8,.0f} patients/s on {options.workers} dedicated cores")
    print(f"  target >= {TARGET:,} patients/s on 2 cores: {'MET' if steady >= TARGET else 'MISSED'} (steady, CPU-projected)")
    sys.stdout.flush()


if __name__ == "__main__":  # the worker processes are spawned: they must not rerun the benchmark
    main()
