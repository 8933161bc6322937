"""Cohort screening: evaluate every patient of an NDJSON or CSV file in parallel, one result per line.

Each worker process builds its own Evaluator once (durable_rules holds the GIL and keeps per-process
state, so parallelism means processes). Results stream back in input order. Nothing is written to the
audit trail: screening is a population query run by a quality team, not advice shown to a clinician.
"""
import contextlib
import csv
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import click
from marshmallow import ValidationError

from cdss.errors import flatten

# CSV columns (all optional except that a lab value needs its unit). Lists are semicolon-separated.
CSV_LABS = {"ferritin": "ferritin_unit", "tsat": None, "folate": "folate_unit", "hemoglobin": "hemoglobin_unit",
            "serum_iron": "serum_iron_unit", "tibc": "tibc_unit"}
CSV_COLUMNS = ("patient_id", "age", "birth_date", "sex", *[name for lab, unit in CSV_LABS.items()
                                                            for name in (lab, unit) if name],
               "pregnancy_status", "trimester", "weeks_postpartum", "medications", "conditions",
               "rls_onset_age", "rls_family_history")
CHUNK = 256  # patients per task sent to a worker: amortises inter-process overhead (64: ~2x the parent CPU)

_evaluator = None  # one per worker process
_schema = None


def number(text):
    """A CSV cell as a number when it is one; otherwise the text, for the schema to reject by field."""
    try:
        return float(text) if any(mark in text for mark in ".eE") else int(text)
    except ValueError:
        return text


def csv_context(row):
    """The native patient context of one CSV row (validation is the schema's job, not this one's)."""
    cell = {key: (value or "").strip() for key, value in row.items() if key}
    context = {"patient": {}, "labs": {}, "medications": [], "conditions": []}
    for key, name in (("patient_id", "id"), ("sex", "sex"), ("birth_date", "birth_date")):
        if cell.get(key):
            context["patient"][name] = cell[key]
    if cell.get("age"):
        context["patient"]["age"] = number(cell["age"])
    for lab, unit_column in CSV_LABS.items():
        if cell.get(lab):
            lab_entry = {"value": number(cell[lab]), "unit": "%" if unit_column is None else cell.get(unit_column, "")}
            context["labs"][lab] = {key: value for key, value in lab_entry.items() if value != ""}
    add_csv_pregnancy(context, cell)
    context["medications"] = [{"rxnorm": item} if item.isdigit() else {"name": item}
                              for item in split_list(cell.get("medications", ""))]
    context["conditions"] = [dict(zip(("system", "code"), item.split("|", 1))) if "|" in item else {"name": item}
                             for item in split_list(cell.get("conditions", ""))]
    add_csv_rls(context, cell)
    return context


def add_csv_pregnancy(context, cell):
    """The pregnancy section from pregnancy_status, trimester and weeks_postpartum."""
    if cell.get("pregnancy_status"):
        context["pregnancy"] = {"status": cell["pregnancy_status"]}
        for key in ("trimester", "weeks_postpartum"):
            if cell.get(key):
                context["pregnancy"][key] = number(cell[key])


def add_csv_rls(context, cell):
    """The RLS history section from rls_onset_age and rls_family_history (true/false)."""
    rls = {}
    if cell.get("rls_onset_age"):
        rls["onset_age"] = number(cell["rls_onset_age"])
    flag = cell.get("rls_family_history", "").lower()
    if flag:
        rls["family_history"] = {"true": True, "yes": True, "false": False, "no": False}.get(flag, flag)
    if rls:
        context["rls"] = rls


def split_list(text):
    """Items of a semicolon-separated cell, trimmed, empty ones dropped."""
    return [item.strip() for item in text.split(";") if item.strip()]


def read_rows(handle, fmt):
    """(line number, raw row) for each patient of an open file: NDJSON text lines or CSV dicts."""
    if fmt == "csv":
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row
        return
    for line_number, line in enumerate(handle, 1):
        if line.strip():
            yield line_number, line


def init_worker(rules_dir):
    """Build this worker's Evaluator once (the rules engine is per process)."""
    global _evaluator, _schema  # noqa: PLW0603 - per-process state is the point
    from cdss.evaluation import Evaluator  # noqa: PLC0415
    from cdss.loader import load_rules  # noqa: PLC0415
    from schemas.context import PatientContextSchema  # noqa: PLC0415

    _evaluator = Evaluator(load_rules(rules_dir), new_id=lambda: "")
    _evaluator.combination = codes_only_combination()
    _evaluator.labeller = NoLabels  # a record carries codes, never labels: labelling was ~7% of a row (bench/)
    _schema = PatientContextSchema()


class NoLabels:
    """The evaluator's labelling step for screening: the result as it is (its labels would be dropped)."""

    @staticmethod
    def label(result):
        """The result, unchanged."""
        return result


def codes_only_combination():
    """The evaluator's own Combination without the reasoning texts: a screening record carries the
    classification, causes, recommendation codes and missing items, never the reasoning, and writing
    the texts was about 60% of combining (bench/). Everything that decides those fields is unchanged
    (tests/test_screening_codes.py compares the records with full evaluations)."""
    from cdss.evaluation import Combination  # noqa: PLC0415

    class CodesOnlyCombination(Combination):
        def reasoning(self, firing, depth=0):
            return {"rule": firing.rule_id, "statement": "", "facts": {}}  # the shape, without the texts

    return CodesOnlyCombination


def screen_chunk(chunk):
    """Screen a list of (line, format, raw row) in this worker: the records as NDJSON text, and one
    summary entry per row (see `entry`). Encoding here leaves the parent only writing text and counting.

    The rows are read and validated first, then evaluated: each stage's code and data stay in the CPU's
    caches across the chunk (CPU per patient ~10% below alternating the two per row; bench/)."""
    loaded = [load_row(line, fmt, raw) for line, fmt, raw in chunk]
    records = [item if isinstance(item, dict) else evaluate_row(*item) for item in loaded]
    return "".join(json.dumps(record) + "\n" for record in records), [entry(record) for record in records]


def entry(record):
    """What the summary counts of a record: (line, classification, recommendation codes); None for an error."""
    if "error" in record:
        return record["line"], None, ()
    return record["line"], record["classification"], tuple(record["recommendations"])


def screen_row(line, fmt, raw):
    """One patient: parse, validate, evaluate; an error record (with its line) instead of raising."""
    loaded = load_row(line, fmt, raw)
    return loaded if isinstance(loaded, dict) else evaluate_row(*loaded)


def load_row(line, fmt, raw):
    """(line, patient id, validated context) of one row, or its error record."""
    patient_id = None
    try:
        body = csv_context(raw) if fmt == "csv" else json.loads(raw)
        if not isinstance(body, dict):
            return error_record(line, None, "invalid_input", {"_body": ["must be a JSON object"]})
        patient_id = patient_id_of(body)
        return line, patient_id, _schema.load(body)
    except json.JSONDecodeError as error:
        return error_record(line, None, "malformed_json", {"_body": [f"not valid JSON: {error.msg}"]})
    except ValidationError as error:
        return error_record(line, patient_id, "invalid_input", flatten(error.messages))


def evaluate_row(line, patient_id, context):
    """The record of one validated context, or its error record (a condition name outside the vocabulary)."""
    from cdss.facts import UnknownConditionError  # noqa: PLC0415

    try:
        result = _evaluator.evaluate(context)
    except ValidationError as error:
        return error_record(line, patient_id, "invalid_input", flatten(error.messages))
    except UnknownConditionError as error:
        return error_record(line, patient_id, "invalid_input", error.fields)
    return {"line": line, "patient_id": patient_id, "classification": result["classification"]["type"],
            "causes": result["classification"]["causes"],
            "recommendations": [item["code"] for item in result["recommendations"]],
            "missing": result["missing"]}


def patient_id_of(body):
    """The patient id as given, when it is a string (the schema reports anything else)."""
    patient = body.get("patient")
    value = patient.get("id") if isinstance(patient, dict) else None
    return value if isinstance(value, str) else None


def error_record(line, patient_id, code, fields):
    """The result line of an invalid row."""
    return {"line": line, "patient_id": patient_id, "error": {"code": code, "fields": fields}}


def chunks(rows, fmt, size=CHUNK):
    """Rows grouped into tasks of `size`."""
    batch = []
    for line, raw in rows:
        batch.append((line, fmt, raw))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def screen(rows, fmt, rules_dir, workers=None):
    """Yield (NDJSON text, summary entries) per chunk of rows, in input order, evaluated across `workers`
    processes (default: all cores)."""
    from cdss.loader import load_rules  # noqa: PLC0415

    load_rules(rules_dir)  # fail here, once, with the file and rule named: a failing worker is respawned forever
    workers = workers or os.cpu_count() or 1
    # spawn: workers start clean (no engine state or threads inherited from the parent).
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=init_worker, initargs=(str(rules_dir),)) as pool:
        yield from pool.imap(screen_chunk, chunks(rows, fmt))


@dataclass
class Summary:
    """Counts of one screening run: by classification, by recommendation, and the invalid lines."""

    total: int = 0
    classifications: Counter = field(default_factory=Counter)
    recommendations: Counter = field(default_factory=Counter)
    invalid_lines: list = field(default_factory=list)

    def add(self, line, classification, recommendations):
        """Count one result (an `entry`): classification None is an invalid row."""
        self.total += 1
        if classification is None:
            self.invalid_lines.append(line)
            return
        self.classifications[classification] += 1
        self.recommendations.update(recommendations)

    def as_dict(self):
        """The summary as JSON-ready data."""
        return {"patients": self.total, "evaluated": self.total - len(self.invalid_lines),
                "invalid": len(self.invalid_lines), "invalid_lines": self.invalid_lines,
                "by_classification": dict(self.classifications.most_common()),
                "by_recommendation": dict(self.recommendations.most_common())}

    def text(self, limit=50):
        """The summary as lines for a terminal."""
        lines = [f"Screened {self.total} patients: {self.total - len(self.invalid_lines)} evaluated, "
                 f"{len(self.invalid_lines)} invalid"]
        lines.append("By classification:")
        lines += [f"  {name:<24} {count}" for name, count in self.classifications.most_common()]
        lines.append("By recommendation (patients):")
        lines += [f"  {name:<24} {count}" for name, count in self.recommendations.most_common()]
        if self.invalid_lines:
            shown = ", ".join(str(line) for line in self.invalid_lines[:limit])
            more = f" (and {len(self.invalid_lines) - limit} more)" if len(self.invalid_lines) > limit else ""
            lines.append(f"Invalid rows at lines: {shown}{more}")
        return "\n".join(lines)


class Progress:
    """A one-line progress bar on a terminal (stderr); silent when the stream is not a TTY."""

    def __init__(self, stream, total=None, width=30):
        self.stream, self.total, self.width = stream, total, width
        self.enabled = stream.isatty()
        self.done, self.started, self.shown = 0, time.monotonic(), 0.0

    def update(self, count=1):
        """Advance by `count` patients; redraw at most ten times a second."""
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self.shown >= 0.1 or self.done == self.total):
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            if self.total:
                filled = int(self.width * min(self.done / self.total, 1))
                bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}"
            else:
                bar = f"{self.done} patients"
            self.stream.write(f"\r{bar}  {rate:,.0f}/s ")
            self.stream.flush()

    def close(self):
        """End the bar's line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def detect_format(path, fmt):
    """csv or ndjson: as asked, else from the file name (.csv is CSV; anything else NDJSON)."""
    if fmt != "auto":
        return fmt
    return "csv" if str(path).lower().endswith(".csv") else "ndjson"


def count_rows(path, fmt):
    """Rows in a regular file (for the progress bar); None for a pipe."""
    if path == "-" or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", newline="") as handle:
        count = sum(1 for line in handle if line.strip())
    return count - 1 if fmt == "csv" else count


def open_input(path):
    """The input as text: a file (newline="" as the csv module needs) or stdin for '-'."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin)
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115 - the caller's `with` closes it


@click.command("screen")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["auto", "ndjson", "csv", "bulk"]), default="auto",
              help="Input format (default: a directory or an $export manifest is Bulk Data, .csv is CSV, else NDJSON).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Where to write one result per patient (default: stdout; a file for Parquet).")
@click.option("--output-format", type=click.Choice(["ndjson", "parquet"]), default="ndjson",
              help="Bulk Data only: NDJSON or Parquet (Parquet needs the spark extra's pyarrow).")
@click.option("--engine", type=click.Choice(["multiprocessing", "spark"]), default="multiprocessing",
              help="Bulk Data only: processes on this machine (default) or Spark.")
@click.option("--master", help="Spark master URL (default: SPARK_MASTER, else local[*] on 127.0.0.1).")
@click.option("--spark-join", type=click.Choice(["dataframe", "rdd"]),
              help="Spark only: join the export by patient with DataFrame operations or one RDD shuffle "
                   "(default: dataframe; both give the same results).")
@click.option("--as-of", help="Bulk Data only: reference date or time (ISO) for ages (default: now).")
@click.option("--all-patients", is_flag=True,
              help="Bulk Data only: evaluate every patient, not only those with RLS on the problem list.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: one per core).")
@click.option("--summary-json", type=click.File("w", encoding="utf-8"), help="Also write the summary as JSON.")
@click.option("--fail-on-invalid", is_flag=True, help="Exit with status 1 when any row is invalid.")
def screen_command(input_path, fmt, output, output_format, engine, master, spark_join, as_of, all_patients, workers,
                   summary_json, fail_on_invalid):
    """Screen a cohort (NDJSON, CSV or a FHIR Bulk Data export): one result per patient, then a summary on stderr."""
    from cdss.bulk.export import is_export  # noqa: PLC0415
    from cdss.config import load_config  # noqa: PLC0415

    if spark_join and engine != "spark":
        raise click.UsageError("--spark-join needs --engine spark")
    rules_dir = load_config()["RULES_DIR"]
    if fmt == "bulk" or (fmt == "auto" and input_path != "-" and is_export(input_path)):
        options = {"master": master} if engine == "spark" else {"workers": workers}
        if spark_join:
            options["join_with"] = spark_join
        summary = screen_export_command(input_path, rules_dir, engine, output, output_format, as_of,
                                        all_patients, options)
        invalid = summary.statuses["invalid"]
    else:
        if os.path.isdir(input_path) or engine != "multiprocessing" or output_format != "ndjson":
            raise click.UsageError("--engine spark and Parquet output read FHIR Bulk Data exports only")
        summary = screen_native(input_path, detect_format(input_path, fmt), rules_dir, output, workers)
        invalid = len(summary.invalid_lines)
    click.echo(summary.text(), err=True)
    if summary_json:
        json.dump(summary.as_dict(), summary_json, indent=2)
    if fail_on_invalid and invalid:
        sys.exit(1)


def screen_native(input_path, fmt, rules_dir, output, workers):
    """Screen native NDJSON/CSV rows; returns the summary."""
    progress = Progress(sys.stderr, count_rows(input_path, fmt) if sys.stderr.isatty() else None)
    summary = Summary()
    with open_input(input_path) as handle, click.open_file(output, "w", encoding="utf-8") as out:
        for text, entries in screen(read_rows(handle, fmt), fmt, rules_dir, workers):
            out.write(text)
            for line, classification, recommendations in entries:
                summary.add(line, classification, recommendations)
            progress.update(len(entries))
    progress.close()
    return summary


def screen_export_command(input_path, rules_dir, engine, output, output_format, as_of, all_patients, options):
    """Screen a Bulk Data export with a backend; write NDJSON or Parquet; returns the summary."""
    import datetime as dt  # noqa: PLC0415

    from cdss.bulk.export import BulkExportError  # noqa: PLC0415
    from cdss.bulk.patients import parse_now  # noqa: PLC0415
    from cdss.bulk.run import screen_bulk, write_ndjson, write_parquet  # noqa: PLC0415

    try:
        now = parse_now(as_of) if as_of else dt.datetime.now(dt.timezone.utc)
    except ValueError:
        raise click.BadParameter("not an ISO date or date-time", param_hint="--as-of") from None
    try:
        records, summary = screen_bulk(input_path, rules_dir, engine, now, all_patients, **options)
        keep = (lambda item: item["status"] != "unknown_patient") if all_patients else \
            (lambda item: item["status"] in ("screened", "invalid"))
        if output_format == "parquet":
            if output == "-":
                raise click.UsageError("Parquet output needs --output FILE")
            write_parquet(records, output, keep)
        else:
            with click.open_file(output, "w", encoding="utf-8") as out:
                write_ndjson(records, out, keep)
    except BulkExportError as error:
        raise click.ClickException(str(error)) from None
    return summary
