"""The Spark backend: a Bulk Data export joined with Spark DataFrames and screened per partition.

The join is Spark's: the NDJSON files are read as text, each line is classified (the same
`classify_line` as the embedded backend, as a Python UDF, so both agree on every line), and lines are
grouped by patient with `groupBy`. Screening runs in `mapPartitions` with one rules engine per Python
worker process (durable_rules keeps its state per process), through `screen_lines`, the embedded
backend's function. Local mode by default; any cluster through `--master` or the usual SPARK_* settings.
Every server this starts (driver, block manager) listens on 127.0.0.1 unless `--master` names a cluster.
"""
import os
import sys

from cdss.bulk.export import classify_line
from cdss.bulk.patients import parse_now, screen_lines

LOOPBACK = {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
SETTINGS = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
            "spark.python.worker.reuse": "true", "spark.driver.memory": "2g",
            # plain pickled Python UDFs: the Arrow path would add pandas for no gain on one string column
            "spark.sql.execution.pythonUDF.arrow.enabled": "false"}


def session(master=None, partitions=None):
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
    settings["spark.sql.shuffle.partitions"] = str(partitions or max(2, 4 * (os.cpu_count() or 1)))
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def classify(line):
    """classify_line as a (category, key) row for the UDF."""
    return classify_line(line)


def screen_partition(rows, medications, rules_dir, now, all_patients):
    """Screen the patients of one partition (rows of patient id and lines) in this worker process."""
    groups = [(row["key"], list(row["lines"])) for row in rows]
    yield from screen_lines(groups, medications.value, rules_dir, parse_now(now), all_patients)


def join(spark, files, lines):
    """(the cached classified lines, patient groups, Medications by id) of an export; counts unused lines."""
    from pyspark.sql import functions as F  # noqa: PLC0415, N812 - the PySpark convention
    from pyspark.sql.types import StringType, StructField, StructType  # noqa: PLC0415

    kind = StructType([StructField("category", StringType()), StructField("key", StringType())])
    text = spark.read.text([str(file) for file in files]).filter(F.trim("value") != "")
    keyed = text.select(F.trim("value").alias("line"), F.udf(classify, kind)(F.trim("value")).alias("k")) \
        .select("line", "k.category", "k.key").cache()
    others = keyed.filter(F.col("category").isin("patient", "medication") == F.lit(False))
    for row in others.groupBy("category", "key").count().collect():
        lines[(row["category"], row["key"])] += row["count"]
    medications = {row["key"]: row["line"] for row in keyed.filter(F.col("category") == "medication").collect()}
    groups = keyed.filter(F.col("category") == "patient").groupBy("key").agg(F.collect_list("line").alias("lines"))
    return keyed, groups, medications


def join_export(files, lines, master=None, partitions=None):
    """The join alone: the number of patient groups. For the benchmark."""
    keyed, groups, _ = join(session(master, partitions), files, lines)
    try:
        return groups.count()
    finally:
        keyed.unpersist()


def screen_export(files, rules_dir, now, lines, all_patients=False, master=None, partitions=None):
    """Yield one record per patient of the export; count the lines not used into `lines`."""
    spark = session(master, partitions)
    keyed, groups, found = join(spark, files, lines)
    medications = spark.sparkContext.broadcast(found)
    now_text = now.isoformat()
    records = groups.rdd.mapPartitions(
        lambda rows: screen_partition(rows, medications, rules_dir, now_text, all_patients))
    try:
        yield from records.toLocalIterator()
    finally:
        keyed.unpersist()
