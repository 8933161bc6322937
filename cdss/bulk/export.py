"""A FHIR Bulk Data export on disk: its NDJSON files, and which patient each line belongs to.

The Bulk Data IG (v2, "Output File Requirements") puts one resource type in each file and allows several
files per type; file names are not normative, so the type is read from each resource. An export is
given as its directory or as its completion manifest (the `$export` status response, whose `output`
entries name the files: relative paths, paths, or file:// URLs).
"""
import json
from pathlib import Path
from urllib.parse import unquote, urlparse

# Resource types the screen reads; Medication is shared by patients (a MedicationRequest's reference).
PATIENT_TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
                 "MedicationAdministration", "AllergyIntolerance")
REFERENCE_FIELDS = ("subject", "patient")  # AllergyIntolerance.patient, the others' subject


class BulkExportError(Exception):
    """An export that cannot be read at all (no files, a manifest naming a remote or missing file)."""


def is_export(path):
    """Whether a path is a Bulk Data export: a directory, or a JSON manifest with an `output` list."""
    path = Path(path)
    if path.is_dir():
        return True
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            document = json.load(handle)
    except (ValueError, OSError):
        return False
    return isinstance(document, dict) and isinstance(document.get("output"), list)


def export_files(path):
    """The NDJSON files of an export, sorted; BulkExportError when there are none or one is missing."""
    path = Path(path)
    if path.is_dir():
        files = sorted(item for item in path.iterdir() if item.is_file() and item.suffix.lower() == ".ndjson")
    else:
        files = sorted(manifest_files(path))
    if not files:
        raise BulkExportError(f"{path}: no NDJSON files in this export")
    return files


def manifest_files(manifest):
    """The files an `$export` manifest names, resolved against the manifest's own directory."""
    document = json.loads(manifest.read_text(encoding="utf-8"))
    files = []
    for entry in document["output"]:
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            raise BulkExportError(f"{manifest}: an output entry without a url")
        parsed = urlparse(url)
        if parsed.scheme not in ("", "file"):
            raise BulkExportError(f"{manifest}: {url} is remote; download the export first (this screen reads files)")
        file = Path(unquote(parsed.path)) if parsed.scheme == "file" else manifest.parent / url
        if not file.is_file():
            raise BulkExportError(f"{manifest}: {url} is not a file")
        files.append(file)
    return files


def classify_line(line):
    """(category, key) of one NDJSON line.

    patient: a resource of a patient (key: the patient id); medication: a Medication (key: its id);
    ignored: a resource type this screen does not read (key: the type); no_patient: a resource naming no
    patient; malformed: not JSON, not an object, or no resourceType (key: why)."""
    try:
        resource = json.loads(line)
    except ValueError:
        return "malformed", "not valid JSON"
    if not isinstance(resource, dict):
        return "malformed", "not a JSON object"
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return "malformed", "no resourceType"
    if kind == "Medication":
        return ("medication", resource["id"]) if isinstance(resource.get("id"), str) else ("malformed", "a Medication without id")
    if kind not in PATIENT_TYPES:
        return "ignored", kind
    patient_id = resource.get("id") if kind == "Patient" else patient_reference(resource)
    return ("patient", patient_id) if isinstance(patient_id, str) and patient_id else ("no_patient", kind)


def split_lines(lines, counts, medications):
    """Yield (patient id, line) for each line of a patient; count the others into `counts` ((category, key)
    -> n) and keep the Medications in `medications` (id -> line). The map step of both backends."""
    for line in lines:
        category, key = classify_line(line)
        if category == "patient":
            yield key, line
        elif category == "medication":
            medications[key] = line
        else:
            counts[(category, key)] += 1


def patient_reference(resource):
    """The id of the patient a resource is about ('Patient/x' or '<base>/Patient/x'), or None."""
    for name in REFERENCE_FIELDS:
        target = resource.get(name)
        reference = target.get("reference") if isinstance(target, dict) else None
        if isinstance(reference, str):
            head, _, patient_id = reference.rpartition("Patient/")
            if patient_id and "/" not in patient_id and (head == "" or head.endswith("/")):
                return patient_id
            return None
    return None
