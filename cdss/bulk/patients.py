"""One patient of an export, screened: the CDS Hooks mapping of their resources, the same rules, one record.

`screen_patient` is the only place a backend turns a patient's NDJSON lines into a result, so the
multiprocessing and Spark backends cannot disagree, and neither can disagree with the point of care.
"""
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

from marshmallow import ValidationError

from cdss.errors import flatten
from cdss.facts import UnknownConditionError
from cdss.hooks.advice import has_rls
from cdss.hooks.fhir import load_context, patient_context
from cdss.hooks.invocation import gather, thresholds_of

# The record of every patient, in this field order (the Parquet schema follows it).
FIELDS = ("patient_id", "status", "classification", "causes", "recommendations", "missing", "could_not_check",
          "error", "resources")
STATUSES = ("screened", "not_applicable", "invalid", "unknown_patient")
# The population-health questions of the summary: a patient counts once per question it answers yes.
QUESTIONS = {
    "iron_studies": lambda codes: "order_iron_studies" in codes,
    "iron_therapy": lambda codes: any(code.startswith(("oral_iron", "iv_iron")) for code in codes),
    "medication_review": lambda codes: bool({"review_medication", "augmentation_risk"} & set(codes)),
}

_evaluators = {}  # rules directory -> this process's Evaluator (the rules engine is per process)


def evaluator_for(rules_dir):
    """This process's Evaluator for a rules directory, built on first use."""
    if rules_dir not in _evaluators:
        from cdss.evaluation import Evaluator  # noqa: PLC0415 - workers import the engine, the driver need not
        from cdss.loader import load_rules  # noqa: PLC0415

        _evaluators[rules_dir] = Evaluator(load_rules(rules_dir), new_id=lambda: "")
    return _evaluators[rules_dir]


def record(patient_id, status, resources, **values):
    """A result record with every field present."""
    base = dict.fromkeys(FIELDS)
    base.update(causes=[], recommendations=[], missing=[], could_not_check=[])
    base.update(patient_id=patient_id, status=status, resources=resources, **values)
    return base


def screen_patient(patient_id, lines, medications, evaluator, now, all_patients=False):
    """The record of one patient from their NDJSON lines and the export's Medications (id -> line).

    Without a Patient resource the lines belong to a patient the export does not hold (unknown_patient);
    patients without restless legs syndrome on the problem list are not_applicable unless all_patients,
    exactly as the CDS Hooks services speak only for them."""
    resources = [json.loads(line) for line in lines]
    if not any(resource["resourceType"] == "Patient" for resource in resources):
        return record(patient_id, "unknown_patient", len(lines))
    resources += referenced_medications(resources, medications)
    mapped = patient_context(gather({"export": resources}), patient_id, evaluator.vocabulary, now,
                             thresholds_of(evaluator.knowledge))
    if not all_patients and not has_rls(mapped.context, evaluator.vocabulary):
        return record(patient_id, "not_applicable", len(lines))
    try:
        result = evaluator.evaluate(load_context(mapped))
    except ValidationError as error:
        return record(patient_id, "invalid", len(lines), error=json.dumps(flatten(error.messages), sort_keys=True))
    except UnknownConditionError as error:
        return record(patient_id, "invalid", len(lines), error=json.dumps(error.fields, sort_keys=True))
    return record(patient_id, "screened", len(lines), classification=result["classification"]["type"],
                  causes=list(result["classification"]["causes"]),
                  recommendations=[item["code"] for item in result["recommendations"]],
                  missing=list(result["missing"]), could_not_check=could_not_check(mapped, result))


def referenced_medications(resources, medications):
    """The export's Medication resources that this patient's requests, statements and administrations reference."""
    found = []
    for resource in resources:
        reference = (resource.get("medicationReference") or {}).get("reference")
        if isinstance(reference, str) and reference.startswith("Medication/"):
            line = medications.get(reference.removeprefix("Medication/"))
            if line is not None:
                found.append(json.loads(line))
    return found


SINGULAR = {"medications": "medication", "conditions": "condition", "allergies": "allergy"}


def could_not_check(mapped, result):
    """What was received but not used, in words: the mapping's notes, then unrecognised codes."""
    words = list(mapped.notes)
    words += [f"unrecognised {SINGULAR.get(kind, kind)}: {item}" for kind, items in result.get("unrecognized", {}).items()
              for item in items]
    return words


def screen_lines(groups, medications, rules_dir, now, all_patients):
    """Records of (patient id, lines) groups, in this process (a worker's share of the export)."""
    evaluator = evaluator_for(rules_dir)
    return [screen_patient(patient_id, lines, medications, evaluator, now, all_patients)
            for patient_id, lines in groups]


def parse_now(value):
    """The screen's reference time from an ISO date or datetime (ages and gestational ages are taken then)."""
    when = dt.datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@dataclass
class BulkSummary:
    """Counts of one Bulk Data screen: patients by status, classification, recommendation and question,
    and the lines that could not be used (malformed, of a patient not in the export, not read)."""

    statuses: Counter = field(default_factory=Counter)
    classifications: Counter = field(default_factory=Counter)
    recommendations: Counter = field(default_factory=Counter)
    questions: Counter = field(default_factory=Counter)
    lines: Counter = field(default_factory=Counter)  # (category, key) -> lines

    def add(self, item):
        """Count one patient record."""
        self.statuses[item["status"]] += 1
        if item["status"] == "unknown_patient":
            self.lines[("unknown_patient", "resources")] += item["resources"]
        if item["status"] != "screened":
            return
        self.classifications[item["classification"]] += 1
        self.recommendations.update(item["recommendations"])
        self.questions.update(name for name, asks in QUESTIONS.items() if asks(item["recommendations"]))

    def as_dict(self):
        """The summary as JSON-ready data."""
        return {"patients": sum(count for status, count in self.statuses.items() if status != "unknown_patient"),
                "by_status": dict(sorted(self.statuses.items())),
                "by_classification": dict(sorted(self.classifications.items())),
                "by_recommendation": dict(sorted(self.recommendations.items())),
                "needing": {name: self.questions[name] for name in QUESTIONS},
                "lines_not_used": {f"{category}: {key}": count for (category, key), count in sorted(self.lines.items())}}

    def text(self):
        """The summary as lines for a terminal."""
        data = self.as_dict()
        lines = [f"Screened a Bulk Data export: {data['patients']} patients, "
                 f"{self.statuses['screened']} with restless legs syndrome evaluated"]
        lines += [f"  {name:<28} {count}" for name, count in data["by_status"].items()]
        lines.append("Patients needing:")
        lines += [f"  {name.replace('_', ' '):<28} {count}" for name, count in data["needing"].items()]
        lines.append("By classification:")
        lines += [f"  {name:<28} {count}" for name, count in data["by_classification"].items()]
        lines.append("By recommendation (patients):")
        lines += [f"  {name:<28} {count}" for name, count in data["by_recommendation"].items()]
        if data["lines_not_used"]:
            lines.append("Lines not used:")
            lines += [f"  {name:<40} {count}" for name, count in data["lines_not_used"].items()]
        return "\n".join(lines)
