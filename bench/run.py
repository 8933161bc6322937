"""`make bench`: the service and two reference endpoints under the same gunicorn, then in-process costs.

Prints, side by side, requests/s and p50/p99 latency at saturation and at half of it of the service, a
bare Flask endpoint (the ceiling) and bench/minimal_app.py (the service's schema plus raw durable_rules
on the stock Host: the reference the issue sets the target against); the in-process evaluations/s of the
floor (hand-written predicates), raw durable_rules and Evaluator.evaluate; the CPU time per evaluation of
the stock Host engine path and the service's direct path (bench/engine_cost.py); the CPU cost of each
layer of a request (bench/ladder.py); the ratios the issues set targets for; then cohort screening
(bench/screening.py). Every request carries a different patient context (no reuse). The machine is
shared: the CPU-time figures are the stable ones; wall-clock rates move with everyone else's load.

    make bench                                   # defaults
    .venv/bin/python -m bench.run --screening-patients 1000000   # the 1M-patient screening run
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cases import make_cases
from bench import engine_cost, ladder
from bench.inprocess import measure
from bench.server import ROOT, gunicorn

RESULTS = ROOT / "bench" / "results"
TARGETS = {"throughput": 0.5, "p99_ms": 20.0, "engine": 2.0, "minimal": 1.0}


def load(port, path, bodies_file, count, seconds, concurrency, rate=None):
    """Run the load generator in its own process; its JSON summary."""
    command = [sys.executable, "-m", "bench.load", "--port", str(port), "--path", path, "--bodies",
               str(bodies_file), "--count", str(count), "--seconds", str(seconds), "--concurrency", str(concurrency)]
    if rate:
        command += ["--rate", f"{rate:.1f}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(done.stdout)


def drive_server(target, path, ready, bodies_file, options, workdir):
    """Warm up, saturate (closed loop), then hold half the saturated rate (open loop)."""
    with gunicorn(target, workdir, ready) as (port, _):
        load(port, path, bodies_file, 300, 10, 4)
        saturated = load(port, path, bodies_file, options.count, options.seconds, options.concurrency)
        half = saturated["requests_per_s"] / 2
        steady = load(port, path, bodies_file, int(half * options.half_seconds), options.half_seconds + 10,
                      16, rate=half)
    return {"saturated": saturated, "half": steady}


def http_table(servers):
    """The HTTP results side by side: {column title: drive_server result}."""
    lines = [f"{'':34}" + "".join(f"{title:>22}" for title in servers)]
    for phase, label in (("saturated", "saturation"), ("half", "half of saturation")):
        for key, unit in (("requests_per_s", "req/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")):
            lines.append(f"{label + ' ' + unit:34}" + "".join(f"{run[phase][key]:>22.1f}" for run in servers.values()))
        lines.append(f"{label + ' statuses':34}" + "".join(f"{json.dumps(run[phase]['statuses']):>22}"
                                                          for run in servers.values()))
    return "\n".join(lines)


def verdicts(service, bare, minimal, rates, steps):
    """The ratios and whether each target is met."""
    throughput = service["saturated"]["requests_per_s"] / bare["saturated"]["requests_per_s"]
    bound = minimal["saturated"]["requests_per_s"] / bare["saturated"]["requests_per_s"]
    p99 = service["half"]["p99_ms"]
    engine = rates["raw durable_rules"] / rates["Evaluator.evaluate"]
    floor = rates["python predicates (floor)"] / rates["Evaluator.evaluate"]
    return [
        f"evaluate / bare Flask throughput      {throughput:6.2f}   target >= {TARGETS['throughput']:.2f}  "
        f"{'MET' if throughput >= TARGETS['throughput'] else 'MISSED'}",
        f"evaluate p99 at half saturation (ms)  {p99:6.1f}   target <= {TARGETS['p99_ms']:.0f}    "
        f"{'MET' if p99 <= TARGETS['p99_ms'] else 'MISSED'}",
        f"evaluation path cost / raw durable     {engine:6.2f}x  target <= {TARGETS['engine']:.0f}x    "
        f"{'MET' if engine <= TARGETS['engine'] else 'MISSED'}",
        f"evaluation path cost / python floor    {floor:6.1f}x  (no target: what the engine costs)",
        f"schema + raw durable / bare Flask       {bound:6.2f}   (no target: the most any marshmallow +",
        f"                                                 durable_rules endpoint reached here)",
        f"evaluate / schema + raw durable (HTTP)  {throughput / bound:6.2f}   target >= {TARGETS['minimal']:.2f}  "
        f"{'MET' if throughput / bound >= TARGETS['minimal'] else 'MISSED'} (wall clock: moves with the box's load)",
        f"schema + raw durable CPU / evaluate CPU {cpu_ratio(steps):6.2f}   target >= {TARGETS['minimal']:.2f}  "
        f"{'MET' if cpu_ratio(steps) >= TARGETS['minimal'] else 'MISSED'} (in process, CPU time per request)",
    ]


def cpu_ratio(steps):
    """The ladder's CPU per request of the schema + raw durable app over the whole /api/v1/evaluate."""
    costs = dict(steps)
    return costs["schema + raw durable POST /evaluate"] / costs["evaluate (everything)"]


def run_screening(patients):
    """The cohort-screening benchmark (multiprocessing), in its own process."""
    print(f"\n== cohort screening (bench/screening.py, {patients:,} patients) ==", flush=True)
    subprocess.run([sys.executable, "-m", "bench.screening", "--patients", str(patients)], cwd=ROOT, check=True,
                   timeout=max(900, patients // 100))
    print("\n== Bulk Data screening, multiprocessing vs Spark local (bench/bulk.py) ==", flush=True)
    subprocess.run([sys.executable, "-m", "bench.bulk"], cwd=ROOT, check=True, timeout=3600)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8000, help="requests per saturation run (and unique cases)")
    parser.add_argument("--seconds", type=float, default=25.0, help="time limit of a saturation run")
    parser.add_argument("--half-seconds", type=float, default=8.0, help="duration of the half-saturation run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--inprocess-seconds", type=float, default=3.0)
    parser.add_argument("--screening-patients", type=int, default=50_000, help="1000000 for the 1M-patient run")
    options = parser.parse_args(argv)
    cases = make_cases(options.count)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cdss-bench-") as folder:
        workdir = Path(folder)
        bodies = workdir / "cases.json"
        bodies.write_text(json.dumps(cases), encoding="utf-8")
        print(f"{len(cases)} distinct patient contexts; gunicorn.conf.py settings for every server", flush=True)
        service = drive_server("wsgi:app", "/api/v1/evaluate", "/readyz", bodies, options, workdir)
        bare = drive_server("bench.bare_app:app", "/echo", "/healthz", bodies, options, workdir)
        minimal = drive_server("bench.minimal_app:app", "/evaluate", "/healthz", bodies, options, workdir)
    print("\n== HTTP (gunicorn on 127.0.0.1, load generator in a second process) ==")
    print(http_table({"/api/v1/evaluate": service, "bare Flask /echo": bare, "schema+raw durable": minimal}))
    rates, drift = measure(cases[:2000], options.inprocess_seconds)
    print("\n== in-process, same cases (evaluations/s, one core) ==")
    for name, value in rates.items():
        print(f"{name:34}{value:>12.0f}")
    print(f"(the floor disagrees with the service on {drift} of 2000 cases)")
    costs = engine_cost.measure(1000, 5)
    print("\n== CPU per evaluation, stock Host engine path vs the service's direct path (same firings) ==")
    print("\n".join(engine_cost.report(costs)))
    steps = ladder.measure(cases[:1000])
    print("\n== where a request's CPU goes (in process, WSGI, no server; each step adds a layer) ==")
    for layer, cost in steps:
        print(f"{layer:40}{cost:>10.0f} us")
    print("\n== ratios ==")
    print("\n".join(verdicts(service, bare, minimal, rates, steps)))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(
        {"service": service, "bare": bare, "minimal": minimal, "inprocess": rates, "drift": drift,
         "ladder_us": dict(steps), "engine_cost_us": costs}, indent=2), encoding="utf-8")
    run_screening(options.screening_patients)


if __name__ == "__main__":
    main()
