"""The Spark backend: a Bulk Data export joined by patient in Spark and screened per partition.

Two joins (`--spark-join`), one screen. `dataframe` (the default, cdss.bulk.frames): `spark.read.text`,
the lines classified in Arrow batches by `split_lines` (the embedded backend's step, so both agree on
every line), `repartition` + `sortWithinPartitions` by patient. `rdd` (below): the embedded backend's
map-reduce with Spark moving the data; a patient's line goes to shuffle partition 1..n-1 by its patient
id, what each map task found beside (Medications, counts of the lines not used) to partition 0. Either
way the found data is read first from the shuffle's output and the Medications broadcast; then one job
screens every partition by `screen_lines`, one rules engine per Python worker process (durable_rules
keeps its state per process), reading the same shuffle output, so every line is read and classified once.
Measured 2026-12-02 (`python -m bench.bulk --patients 100000`, 2 cores): join + screen 183 s (dataframe),
188 s (rdd), 196 s (multiprocessing); machine CPU on 20,000 patients 70.0 / 78.6 / 72.9 s (README).
Local mode by default; any cluster through `--master` or the usual SPARK_* settings. Every server this
starts (driver, block manager) listens on 127.0.0.1 unless `--master` names a cluster.
"""
import functools
import os
import sys
from collections import Counter
from operator import itemgetter

from cdss.bulk.export import split_lines
from cdss.bulk.local import RANGE_BYTES, bucket_of
from cdss.bulk.patients import parse_now, screen_lines

LOOPBACK = {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
SETTINGS = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
            "spark.python.worker.reuse": "true", "spark.driver.memory": "2g",
            # NDJSON lines end at "\n" only, as the embedded backend reads them (Hadoop also ends them at a
            # lone "\r", which JSON allows between tokens); the "\r" of a "\r\n" is stripped with the spaces
            "spark.hadoop.textinputformat.record.delimiter": "\n"}
JOINS = ("dataframe", "rdd")  # how the export is joined by patient (see join)
DEFAULT_JOIN = "dataframe"  # measured: see the README, "Scale beyond one machine"
FOUND = 0  # the RDD join's shuffle partition of what the map tasks found beside patients' lines


def session(master=None):
    """A SparkSession: local[*] on loopback unless a master is given (then Spark's own settings rule)."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 - PySpark is an optional extra

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter (and its cdss)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    master = master or os.environ.get("SPARK_MASTER") or "local[*]"
    builder = SparkSession.builder.master(master).appName("rls-cdss screen")
    settings = dict(SETTINGS)
    if master.startswith("local"):
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # else Spark binds the machine's network address
        settings.update(LOOPBACK)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def reduce_partitions(context, files):
    """Patient partitions: a few per core, and enough that each holds about RANGE_BYTES of NDJSON."""
    size = sum(os.path.getsize(file) for file in files)
    return max(4 * context.defaultParallelism, -(-size // RANGE_BYTES))


def partition_of(key, patients):
    """The shuffle partition of a map output key: FOUND for None, else 1 + the patient id's bucket."""
    return FOUND if key is None else 1 + bucket_of(key, patients)


def map_lines(index, rows):
    """One map task: (patient id, (task index, line)) per patient line, then (None, (counts, Medications))."""
    counts, medications = Counter(), {}
    lines = (text for text in (row.strip() for row in rows) if text)
    for key, line in split_lines(lines, counts, medications):
        yield key, (index, line)
    yield None, (counts, medications)


def merge_found(pairs):
    """Partition FOUND: every map task's counts and Medications, merged."""
    counts, medications = Counter(), {}
    for _, (part_counts, part_medications) in pairs:
        counts.update(part_counts)
        medications.update(part_medications)
    yield counts, medications


def in_export_order(values):
    """The lines of (map task index, line) pairs in export order: map tasks are numbered in export order
    and the shuffle keeps each task's lines in order, but not the order of the tasks."""
    return [line for _, line in sorted(values, key=itemgetter(0))]


def patient_groups(index, pairs):
    """A patient partition as sorted (patient id, lines in export order) groups; none for FOUND."""
    groups = {}
    for key, value in pairs:
        groups.setdefault(key, []).append(value)
    if index == FOUND:
        return []
    return [(key, in_export_order(values)) for key, values in sorted(groups.items())]


def join_rdd(spark, files, lines, partitions):
    """(the export shuffled by patient, Medications by id, the groups of a partition); counts the lines
    not used into `lines`."""
    context = spark.sparkContext
    text = context.union([context.textFile(str(file)) for file in files])
    shuffled = text.mapPartitionsWithIndex(map_lines).partitionBy(
        1 + partitions, functools.partial(partition_of, patients=partitions))
    [(counts, medications)] = context.runJob(shuffled, merge_found, [FOUND])  # runs the map stage once
    lines.update(counts)
    return shuffled, medications, patient_groups


def join(spark, files, lines, partitions=None, join_with=DEFAULT_JOIN):
    """The export joined by patient, `join_with`: "dataframe" (cdss.bulk.frames) or "rdd" (above)."""
    from cdss.bulk import frames  # noqa: PLC0415

    partitions = partitions or reduce_partitions(spark.sparkContext, files)
    return {"dataframe": frames.join, "rdd": join_rdd}[join_with](spark, files, lines, partitions)


def join_export(files, lines, master=None, partitions=None, join_with=DEFAULT_JOIN):
    """The join alone, its groups read in Python as the screen reads them: the number of patient groups.
    For the benchmark."""
    grouped, _, groups = join(session(master), files, lines, partitions, join_with)
    return grouped.mapPartitionsWithIndex(lambda index, items: [sum(1 for _ in groups(index, items))]).sum()


def screen_partition(index, items, groups, medications, rules_dir, now, all_patients):
    """Screen the patients of one partition in this worker process."""
    return screen_lines(groups(index, items), medications.value, rules_dir, parse_now(now), all_patients)


def screen_export(files, rules_dir, now, lines, all_patients=False, master=None, partitions=None, join_with=DEFAULT_JOIN):
    """Yield one record per patient of the export; count the lines not used into `lines`."""
    from pyspark import StorageLevel  # noqa: PLC0415

    spark = session(master)
    grouped, found, groups = join(spark, files, lines, partitions, join_with)
    medications = spark.sparkContext.broadcast(found)
    now_text = now.isoformat()
    records = grouped.mapPartitionsWithIndex(
        lambda index, items: screen_partition(index, items, groups, medications, rules_dir, now_text, all_patients))
    # One job screens every partition at once (toLocalIterator alone runs one partition at a time, so one
    # core would screen); the records wait on disk and are then read back one partition at a time.
    records.persist(StorageLevel.DISK_ONLY)
    try:
        records.count()
        yield from records.toLocalIterator()
    finally:
        records.unpersist()
        medications.unpersist()
