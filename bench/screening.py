"""Benchmark of cohort screening: patients per second of `cdss screen`'s engine on generated patients,
against the ceiling measured in the same run (the in-process single-evaluation rate times the cores).

    .venv/bin/python bench/screening.py [--patients 100000] [--single 3000] [--workers N]
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdss.evaluation import Evaluator  # noqa: E402
from cdss.loader import load_rules  # noqa: E402
from cdss.screening import read_rows, screen  # noqa: E402
from schemas.context import PatientContextSchema  # noqa: E402

RULES = ROOT / "rules"
CONDITIONS = ["esrd_dialysis", "ckd", "peripheral_neuropathy", "parkinson_disease", "sleep_apnea", "diabetes",
              "hemochromatosis", "celiac_disease", "rheumatoid_arthritis"]
MEDICATIONS = ["sertraline", "Zoloft", "metoclopramide", "bupropion", "pramipexole", "ferrous sulfate",
               "quetiapine", "topiramate", "mirtazapine", "atorvastatin"]


def patient(rng, index):
    """One generated native patient context spread across the guideline thresholds."""
    age = rng.choice([rng.randint(4, 17), rng.randint(18, 90), rng.randint(18, 90)])
    sex = rng.choice(["female", "male"])
    context = {"patient": {"id": f"bench-{index}", "age": age, "sex": sex}, "labs": {},
               "medications": [{"name": name} for name in rng.sample(MEDICATIONS, rng.randint(0, 2))],
               "conditions": [{"name": name} for name in rng.sample(CONDITIONS, rng.choice([0, 0, 1, 2]))]}
    if rng.random() < 0.9:
        context["labs"]["ferritin"] = {"value": round(rng.uniform(5, 400), 1), "unit": "ng/mL"}
    if rng.random() < 0.8:
        context["labs"]["tsat"] = {"value": round(rng.uniform(5, 60), 1), "unit": "%"}
    if rng.random() < 0.5:
        context["labs"]["folate"] = {"value": round(rng.uniform(1, 20), 1), "unit": "ng/mL"}
    if sex == "female" and 15 <= age <= 49:
        context["pregnancy"] = rng.choice([{"status": "not_pregnant"}, {"status": "pregnant",
                                           "trimester": rng.randint(1, 3)}, {"status": "postpartum"}])
    return context


def generate(path, count, seed=6):
    """Write `count` patients as NDJSON."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            handle.write(json.dumps(patient(rng, index)) + "\n")


def single_rate(path, count):
    """In-process evaluations per second (parse, validate, evaluate), one process, engine warmed up."""
    evaluator, schema = Evaluator(load_rules(RULES), new_id=lambda: ""), PatientContextSchema()
    with open(path, encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(count)]
    for line in lines[:100]:
        evaluator.evaluate(schema.load(json.loads(line)))
    started = time.perf_counter()
    for line in lines:
        evaluator.evaluate(schema.load(json.loads(line)))
    return count / (time.perf_counter() - started)


def screen_rate(path, workers):
    """Patients per second of a whole screening run (worker start-up included), and the invalid count."""
    started, invalid, total = time.perf_counter(), 0, 0
    with open(path, encoding="utf-8", newline="") as handle:
        for record in screen(read_rows(handle, "ndjson"), "ndjson", RULES, workers):
            json.dumps(record)
            total += 1
            invalid += "error" in record
    return total / (time.perf_counter() - started), total, invalid


def main():
    """Generate, measure both rates, print the ratio to the ceiling."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=3_000, help="patients for the single-process rate")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cohort.ndjson"
        generate(path, args.patients)
        single = single_rate(path, min(args.single, args.patients))
        rate, total, invalid = screen_rate(path, args.workers)
    ceiling = single * args.workers
    print(f"screening: {total} patients ({invalid} invalid), {args.workers} workers")
    print(f"  single-process evaluation rate: {single:,.0f} patients/s")
    print(f"  ceiling (single rate x {args.workers} cores): {ceiling:,.0f} patients/s")
    print(f"  cdss screen rate: {rate:,.0f} patients/s")
    print(f"  ratio to ceiling: {rate / ceiling:.2f}")


if __name__ == "__main__":  # the worker processes are spawned: they must not rerun the benchmark
    main()
