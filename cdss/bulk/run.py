"""`cdss screen` on a Bulk Data export: pick the backend, write the records, count the summary."""
import datetime as dt
import json
from collections import Counter

from cdss.bulk.export import BulkExportError, export_files
from cdss.bulk.patients import FIELDS, BulkSummary

PARQUET_BATCH = 10_000


def backend(engine):
    """The screen_export function of a backend: multiprocessing (embedded) or spark."""
    if engine == "spark":
        try:
            from cdss.bulk import spark  # noqa: PLC0415 - PySpark is an optional extra
            import pyspark  # noqa: F401, PLC0415
        except ImportError:
            raise BulkExportError("--engine spark needs PySpark: pip install 'rls-cdss[spark]'") from None
        return spark.screen_export
    from cdss.bulk import local  # noqa: PLC0415

    return local.screen_export


def screen_bulk(path, rules_dir, engine="multiprocessing", now=None, all_patients=False, **options):
    """Yield the records of an export and fill a summary; returns (records iterator, summary)."""
    files = export_files(path)
    now = now or dt.datetime.now(dt.timezone.utc)
    summary, lines = BulkSummary(), Counter()

    def records():
        for item in backend(engine)(files, str(rules_dir), now, lines, all_patients=all_patients, **options):
            summary.add(item)
            yield item
        summary.lines.update(lines)

    return records(), summary


def write_ndjson(records, handle, keep):
    """One JSON line per kept record."""
    for item in records:
        if keep(item):
            handle.write(json.dumps(item) + "\n")


def write_parquet(records, path, keep):
    """The kept records as one Parquet file (pyarrow, in batches)."""
    import pyarrow as pa  # noqa: PLC0415 - optional, with the spark extra
    import pyarrow.parquet as pq  # noqa: PLC0415

    strings = pa.list_(pa.string())
    schema = pa.schema([("patient_id", pa.string()), ("status", pa.string()), ("classification", pa.string()),
                        ("causes", strings), ("recommendations", strings), ("missing", strings),
                        ("could_not_check", strings), ("error", pa.string()), ("resources", pa.int64())])
    assert tuple(schema.names) == FIELDS
    with pq.ParquetWriter(path, schema) as writer:
        batch = []
        for item in records:
            if keep(item):
                batch.append(item)
            if len(batch) == PARQUET_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema))
