"""The Spark backend's join as DataFrame operations: read, classify in Arrow batches, group by patient.

`spark.read.text` reads the NDJSON files (lines end at "\\n" only: `lineSep`), each line as bytes, with
the file and split it came from (`_metadata`) and its place in the split (`monotonically_increasing_id`).
An Arrow UDF classifies each batch of lines with the embedded backend's `split_lines` (so both backends
agree on every line) and returns, per line, its patient id and text, and on one row of a batch the
Medications and counts of unused lines the batch held (`found`, JSON). `repartition(n, "patient")` +
`sortWithinPartitions` then put each patient's lines together, in export order, with every `found` row
(patient null) in one partition, first. That partition is read first and the Medications broadcast;
then every partition is screened in one job, reading the same shuffle output (the map stage runs once).

Why an Arrow UDF and not `mapInArrow`: PySpark 4.3's `mapInArrow` refuses to run without pandas (its
driver side goes through `pandas_udf`), which the spark extra does not install; `arrow_udf` needs only
pyarrow. The grouping is a sort, not `groupBy("patient")`: `applyInPandas` needs pandas too, and a
`groupBy` + `collect_list` join is only measured on its own by `bench.bulk` (see the README), not built
into the screen.
"""
import functools
import itertools
import json
import os
from collections import Counter
from urllib.parse import unquote, urlparse

import pyarrow as pa  # with PySpark, in the spark extra
import pyarrow.compute as pc

from cdss.bulk.export import split_lines

BLOCK_BITS = 40  # a split's start offset in the low bits of its order key: files below 1 TiB
CLASSIFIED = "patient string, block long, line string, found string"


def file_ranks(paths, ranks):
    """Each line's file's place in the export, from Spark's `_metadata.file_path` (file:/a%20b.ndjson)."""
    named = pc.unique(paths)  # a batch comes from one or a few files
    known = [ranks[os.path.abspath(unquote(urlparse(path).path))] for path in named.to_pylist()]
    return pa.array(known, pa.int64()).take(pc.index_in(paths, value_set=named))


def classify_batch(values, paths, starts, ranks):
    """One Arrow batch of lines classified: per line (patient id, block, line, found), nulls for a line
    that is not a patient's; the batch's Medications and unused-line counts as JSON on one such row."""
    texts = [raw.decode("utf-8", errors="replace").strip() for raw in values.to_pylist()]
    patients, lines, found = [None] * len(texts), [None] * len(texts), [None] * len(texts)
    counts, medications, current = Counter(), {}, [0]

    def numbered():
        """The non-blank lines, noting which one split_lines has just read (it reads one, then yields it)."""
        for current[0], text in enumerate(texts):
            if text:
                yield text

    for key, line in split_lines(numbered(), counts, medications):
        patients[current[0]], lines[current[0]] = key, line
    if counts or medications:  # every count and Medication came from a line without a patient: put it there
        spare = next(index for index, text in enumerate(texts) if text and patients[index] is None)
        found[spare] = json.dumps({"counts": [[*key, count] for key, count in counts.items()],
                                   "medications": medications})
    # export order: files in export_files' order, then splits by start offset, then rows within a split
    block = pc.add(pc.shift_left(file_ranks(paths, ranks), BLOCK_BITS), starts)
    return pa.StructArray.from_arrays([pa.array(patients, pa.string()), block, pa.array(lines, pa.string()),
                                       pa.array(found, pa.string())], names=["patient", "block", "line", "found"])


def classifier(files):
    """The Arrow UDF classifying lines of these files (the files' order is the export order)."""
    from pyspark.sql.functions import arrow_udf  # noqa: PLC0415

    ranks = {os.path.abspath(file): rank for rank, file in enumerate(files)}

    def classify(values: pa.Array, paths: pa.Array, starts: pa.Array) -> pa.Array:
        """classify_batch on this export's files (PySpark reads the UDF's kind from these type hints)."""
        return classify_batch(values, paths, starts, ranks)

    # non-deterministic: Spark then evaluates it once per row, not once per field of its struct
    return arrow_udf(classify, CLASSIFIED).asNondeterministic()


def classified_lines(spark, files):
    """The export's lines as (patient, block, row, line, found) rows: (block, row) is the export order."""
    from pyspark.sql import functions as F  # noqa: PLC0415 - PySpark is an optional extra

    text = spark.read.text([str(file) for file in files], lineSep="\n")
    rows = text.select(F.col("value").cast("binary").alias("value"), "_metadata.file_path",
                       "_metadata.file_block_start", F.monotonically_increasing_id().alias("row"))
    classified = rows.select(classifier(files)("value", "file_path", "file_block_start").alias("c"), "row")
    return classified.select("c.patient", "c.block", "row", "c.line", "c.found").where(
        F.col("patient").isNotNull() | F.col("found").isNotNull())  # blank lines go no further


def grouped_lines(spark, files, partitions):
    """The export as (patient, line, found) rows, by patient in `partitions` partitions, each sorted by
    patient then export order; the rows of `found` (patient null) come first in their partition."""
    lines = classified_lines(spark, files)
    return (lines.repartition(partitions, "patient").sortWithinPartitions("patient", "block", "row")
            .select("patient", "line", "found"))


def found_partition(spark, partitions):
    """The partition Spark's hash partitioning gives a null patient (the expression of HashPartitioning)."""
    from pyspark.sql import functions as F  # noqa: PLC0415

    return spark.range(1).select(F.pmod(F.hash(F.lit(None).cast("string")), F.lit(partitions))).first()[0]


def merge_found(rows):
    """The found rows at the head of their partition, merged: [(counts, Medications)]."""
    counts, medications = Counter(), {}
    for row in itertools.takewhile(lambda row: row.patient is None, rows):
        found = json.loads(row.found)
        counts.update({(category, key): count for category, key, count in found["counts"]})
        medications.update(found["medications"])
    return [(counts, medications)]


def patient_groups(found, index, rows):
    """A partition's (patient id, lines in export order) groups, past the found rows."""
    rows = itertools.dropwhile(lambda row: row.patient is None, rows) if index == found else rows
    for patient, group in itertools.groupby(rows, key=lambda row: row.patient):
        if patient is None:
            raise RuntimeError(f"found rows in partition {index}, not {found}: Spark's hash partitioning changed")
        yield patient, [row.line for row in group]


def join(spark, files, lines, partitions):
    """(the export grouped by patient as an RDD of rows, Medications by id, the groups of a partition);
    counts the lines not used into `lines`."""
    rdd = grouped_lines(spark, files, partitions).rdd  # one RDD for both jobs: one shuffle, read twice
    found = found_partition(spark, partitions)
    [(counts, medications)] = spark.sparkContext.runJob(rdd, merge_found, [found])
    lines.update(counts)
    return rdd, medications, functools.partial(patient_groups, found)
