"""The embedded backend: a Bulk Data export joined and screened by worker processes on this machine.

A map-reduce on local files. Map: each worker reads a byte range of one NDJSON file, classifies each
line (`classify_line`) and appends it to one of B bucket files by a stable hash of its patient id.
Reduce: each worker takes a bucket, groups its lines by patient and screens them. Memory stays at one
bucket per worker, whatever the export's size; both phases use every core.
"""
import codecs
import multiprocessing
import os
import tempfile
import zlib
from collections import Counter
from pathlib import Path

from cdss.bulk.export import split_lines
from cdss.bulk.patients import screen_lines

RANGE_BYTES = 32 * 1024 * 1024  # the map phase's unit of work


def byte_ranges(files, size=RANGE_BYTES):
    """(file, start, end) ranges of about `size` bytes covering every file."""
    for file in files:
        length = os.path.getsize(file)
        for start in range(0, max(length, 1), size):
            yield str(file), start, min(start + size, length)


def lines_in_range(file, start, end):
    """The lines that start in [start, end) of a file (a line belongs to the range its first byte is in)."""
    with open(file, "rb") as handle:
        if start:
            handle.seek(start - 1)
            handle.readline()  # the rest of a line that began before this range
        while (position := handle.tell()) < end:
            line = handle.readline()
            if not line:
                break
            if position == 0:  # a byte order mark may open a file (RFC 8259 s8.1), as Hadoop's reader also allows
                line = line.removeprefix(codecs.BOM_UTF8)
            text = line.decode("utf-8", errors="replace").strip()
            if text:
                yield text


def bucket_of(patient_id, buckets):
    """A stable bucket for a patient id (the same in every process and run)."""
    return zlib.crc32(patient_id.encode("utf-8")) % buckets


def map_range(task):
    """Classify one range's lines; patients' lines go to bucket files, Medications are returned."""
    file, start, end, workdir, buckets, index = task
    outputs, counts, medications = {}, Counter(), {}
    try:
        for key, line in split_lines(lines_in_range(file, start, end), counts, medications):
            bucket = bucket_of(key, buckets)
            if bucket not in outputs:
                outputs[bucket] = open(Path(workdir, f"{bucket}.{index}.tsv"), "w", encoding="utf-8",  # noqa: SIM115
                                       newline="\n")
            outputs[bucket].write(f"{key}\t{line}\n")
    finally:
        for handle in outputs.values():
            handle.close()
    return counts, medications


def group_bucket(workdir, bucket):
    """One bucket's lines grouped by patient id, each patient's lines in export order."""
    groups = {}
    parts = sorted(Path(workdir).glob(f"{bucket}.*.tsv"), key=lambda part: int(part.name.split(".")[1]))
    for part in parts:  # by map task index: "2" before "10"
        with part.open(encoding="utf-8", newline="\n") as handle:  # a "\r" inside a line is JSON whitespace
            for row in handle:
                key, _, line = row.rstrip("\n").partition("\t")
                groups.setdefault(key, []).append(line)
    return groups


def reduce_bucket(task):
    """Screen each patient of one bucket."""
    workdir, bucket, medications, rules_dir, now, all_patients = task
    return screen_lines(sorted(group_bucket(workdir, bucket).items()), medications, rules_dir, now, all_patients)


def count_bucket(task):
    """The number of patients in one bucket (the join alone, for the benchmark)."""
    return len(group_bucket(*task))


def map_export(pool, files, workdir, buckets, lines):
    """The map phase: every line of the export classified into bucket files; returns the Medications."""
    tasks = [(file, start, end, workdir, buckets, index) for index, (file, start, end) in enumerate(byte_ranges(files))]
    medications = {}
    for part_counts, part_medications in pool.imap_unordered(map_range, tasks):
        lines.update(part_counts)
        medications.update(part_medications)
    return medications


def join_export(files, lines, workers=None, workdir=None):
    """The join alone (map, then group each bucket): the number of patient groups. For the benchmark."""
    workers = workers or os.cpu_count() or 1
    buckets = workers * 8
    with tempfile.TemporaryDirectory(prefix="cdss-bulk-", dir=workdir) as tmp, \
            multiprocessing.get_context("spawn").Pool(workers) as pool:
        map_export(pool, files, tmp, buckets, lines)
        return sum(pool.imap_unordered(count_bucket, [(tmp, bucket) for bucket in range(buckets)]))


def screen_export(files, rules_dir, now, lines, all_patients=False, workers=None, workdir=None):
    """Yield one record per patient of the export; count the lines not used into `lines` ((category, key) -> n)."""
    workers = workers or os.cpu_count() or 1
    buckets = workers * 8
    context = multiprocessing.get_context("spawn")  # workers start clean: no engine state inherited
    with tempfile.TemporaryDirectory(prefix="cdss-bulk-", dir=workdir) as tmp, context.Pool(workers) as pool:
        medications = map_export(pool, files, tmp, buckets, lines)
        jobs = [(tmp, bucket, medications, rules_dir, now.isoformat(), all_patients) for bucket in range(buckets)]
        for records in pool.imap_unordered(reduce_task, jobs):
            yield from records


def reduce_task(job):
    """reduce_bucket with the reference time sent as text (datetimes pickle, but text is explicit)."""
    from cdss.bulk.patients import parse_now  # noqa: PLC0415

    workdir, bucket, medications, rules_dir, now, all_patients = job
    return reduce_bucket((workdir, bucket, medications, rules_dir, parse_now(now), all_patients))
