"""Benchmark of Bulk Data screening: the join alone and the whole screen, multiprocessing vs Spark local,
on one generated export, measured in the same run.

    .venv/bin/python -m bench.bulk [--patients 100000] [--workers N] [--skip-spark]

Prints, for each backend, wall seconds and CPU seconds of the whole process tree (this process, its
workers, Spark's JVM and Python workers), and Spark's ratio to multiprocessing on both (target >= 0.9),
for each Spark join (`--spark-join`: DataFrame operations, or one RDD shuffle) in the same Spark session,
and the DataFrame join against the RDD join; also the DataFrame join by `groupBy` + `collect_list`.
On a shared machine the CPU ratio is the stable figure: wall time also counts other people's work. The
process tree is read from /proc every 0.2 s (TreeWatch: Spark's Python daemon ignores SIGCHLD, so a
worker it ends leaves its CPU in no parent's counters); the machine's CPU over each step (/proc/stat:
everyone's work too) is printed beside it as a cross-check.
Spark's first job includes JVM start-up; it is measured separately ("session") and left out of the rates.
"""
import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdss.bulk import local  # noqa: E402
from cdss.bulk.export import export_files  # noqa: E402
from cdss.bulk.synthetic import generate  # noqa: E402

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
TICK = os.sysconf("SC_CLK_TCK")
MEASURED = []  # CPU seconds of every timed call
MACHINE = []  # the machine's CPU seconds over every timed call
ORDER = ("rdd", "dataframe")  # the Spark joins (--spark-join), in the order measured: the first warms the JVM up


def proc_stats():
    """pid -> (parent pid, CPU seconds of the process itself) of every live process."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return stats


class TreeWatch:
    """The CPU of this process and of every process seen below it while watched, read from /proc every
    POLL seconds. A process that ends keeps its last reading: Spark's Python daemon ignores SIGCHLD, so
    the CPU of a worker it ends (the DataFrame join ends one per screen) is in no parent's counters."""

    POLL = 0.2

    def __init__(self):
        self.readings, self.done = {}, threading.Event()
        self.poll()
        self.before = dict(self.readings)  # a process that was there already counts from here
        self.own = self.own_cpu()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    @staticmethod
    def own_cpu():
        """This process's CPU seconds."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def poll(self):
        """Read every process below this one, and those seen before that now live elsewhere."""
        stats = proc_stats()
        children = {}
        for pid, (parent, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        pending = list(children.get(os.getpid(), [])) + [pid for pid in self.readings if pid in stats]
        while pending:
            pid = pending.pop()
            self.readings[pid] = stats[pid][1]
            pending += [child for child in children.get(pid, []) if child not in self.readings]

    def watch(self):
        """Poll until stopped."""
        while not self.done.wait(self.POLL):
            self.poll()

    def stop(self):
        """CPU seconds used while watched."""
        self.done.set()
        self.thread.join()
        self.poll()
        used = sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.readings.items())
        return used + self.own_cpu() - self.own


def machine_cpu():
    """CPU seconds every process of the machine has used (from /proc/stat: all but idle and iowait)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def timed(function, *args, **kwargs):
    """(wall seconds, process-tree CPU seconds, result) of one call; the CPU is also kept in MEASURED, and
    the machine's CPU over the call in MACHINE (it counts other people's work, but no process escapes it)."""
    started, watch, machine = time.perf_counter(), TreeWatch(), machine_cpu()
    result = function(*args, **kwargs)
    MEASURED.append(watch.stop())
    MACHINE.append(machine_cpu() - machine)
    return time.perf_counter() - started, MEASURED[-1], result


def screen_all(module, files, **options):
    """Screen the whole export; the number of records."""
    return sum(1 for _ in module.screen_export(files, str(ROOT / "rules"), NOW, Counter(), all_patients=True,
                                               **options))


def stop_spark():
    """Stop Spark and its JVM (it exits when its stdin closes), so getrusage counts it as a reaped child."""
    from pyspark.sql import SparkSession  # noqa: PLC0415

    spark = SparkSession.getActiveSession()
    if spark is None:
        return
    process = spark.sparkContext._gateway.proc  # noqa: SLF001 - the JVM launched for this driver
    spark.stop()
    process.stdin.close()
    process.wait(timeout=60)


def collect_list_join(files):
    """The DataFrame join by `groupBy("patient")` + `collect_list` instead of the sort: patient groups read
    in Python (the found rows left out). For comparison only."""
    from pyspark.sql import functions as F  # noqa: PLC0415

    from cdss.bulk import frames, spark  # noqa: PLC0415

    lines = frames.classified_lines(spark.session(), files).where(F.col("patient").isNotNull())
    grouped = lines.groupBy("patient").agg(F.sort_array(F.collect_list(F.struct("block", "row", "line"))).alias("lines"))
    return grouped.rdd.mapPartitions(lambda rows: [sum(1 for row in rows if row.lines)]).sum()


def measure(options, files):
    """Rows of (backend, join wall, join CPU, screen wall, screen CPU, records, groups, screen machine CPU)."""
    rows = []
    join_s, join_cpu, groups = timed(local.join_export, files, Counter(), workers=options.workers)
    screen_s, screen_cpu, count = timed(screen_all, local, files, workers=options.workers)
    rows.append(("multiprocessing", join_s, join_cpu, screen_s, screen_cpu, count, groups, MACHINE[-1]))
    if not options.skip_spark:
        from cdss.bulk import spark  # noqa: PLC0415

        session_s, session_cpu, _ = timed(spark.session)
        joins = {join: timed(spark.join_export, files, Counter(), join_with=join) for join in ORDER}
        collect_s, collect_cpu, collect_groups = timed(collect_list_join, files)
        for join in ORDER:  # the joins first, then the screens: each screen runs on a warmed-up JVM
            screen_s, screen_cpu, count = timed(screen_all, spark, files, join_with=join)
            rows.append((f"spark {join} join", *joins[join][:2], screen_s, screen_cpu, count, joins[join][2],
                         MACHINE[-1]))
        print(f"(Spark session start-up: {session_s:.1f} s, {session_cpu:.1f} CPU s, not counted)")
        print(f"(Spark DataFrame join by groupBy + collect_list instead of the sort: {collect_s:.1f} s, "
              f"{collect_cpu:.1f} CPU s, {collect_groups} patients)")
        stop_spark()
    return rows


def report(rows):
    """The table, the ratios, and the getrusage cross-check of the CPU figures."""
    print(f"\n{'backend':22}{'join s':>8}{'join CPU s':>12}{'join pat/s':>12}{'screen s':>10}{'screen CPU s':>14}"
          f"{'patients/s':>12}{'CPU ms/patient':>16}{'machine CPU s':>15}")
    for name, join_s, join_cpu, screen_s, screen_cpu, count, groups, machine in rows:
        print(f"{name:22}{join_s:8.1f}{join_cpu:12.1f}{groups / join_s:12,.0f}{screen_s:10.1f}{screen_cpu:14.1f}"
              f"{count / screen_s:12,.0f}{1000 * screen_cpu / count:16.2f}{machine:15.1f}")
    (_, _, _, mp_s, mp_cpu, mp_n, _, mp_machine), *sparks = rows
    for name, _, _, sp_s, sp_cpu, sp_n, _, sp_machine in sparks:
        for label, ratio in (("wall-clock", (sp_n / sp_s) / (mp_n / mp_s)), ("CPU", (mp_cpu / mp_n) / (sp_cpu / sp_n)),
                             ("machine CPU", (mp_machine / mp_n) / (sp_machine / sp_n))):
            print(f"{name} / multiprocessing screening rate ({label:11}) {ratio:5.2f}  target >= 0.90  "
                  f"{'MET' if ratio >= 0.9 else 'MISSED'}")
    if len(sparks) == 2:  # the DataFrame join against the RDD join
        (_, _, _, rdd_s, rdd_cpu, rdd_n, _, rdd_machine), (_, _, _, df_s, df_cpu, df_n, _, df_machine) = sparks
        print(f"dataframe / rdd join screening rate: CPU {(rdd_cpu / rdd_n) / (df_cpu / df_n):.2f}, machine CPU "
              f"{(rdd_machine / rdd_n) / (df_machine / df_n):.2f}, wall-clock {(df_n / df_s) / (rdd_n / rdd_s):.2f}")
    total = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
                for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"(CPU of every timed step, from /proc while its processes lived: {sum(MEASURED):.1f} s; getrusage "
          f"after the run: {total:.1f} s, short of Spark's Python workers, which Spark's shutdown orphans)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--skip-spark", action="store_true")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cdss-bulk-bench-") as folder:
        seconds, _, manifest = timed(generate, folder, options.patients, 2026)
        files = export_files(manifest)
        size = sum(file.stat().st_size for file in files) / 2**20
        print(f"{options.patients} patients, {size:,.0f} MiB of NDJSON in {len(files)} files "
              f"(generated in {seconds:.0f} s); {options.workers} workers; every patient evaluated")
        rows = measure(options, files)
    report(rows)


if __name__ == "__main__":
    main()
