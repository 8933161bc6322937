"""Bulk Data fixtures: generated exports (seeded), one with the odd lines real exports hold, Java for Spark."""
import json
import os

import pytest

from cdss.bulk.synthetic import RXNORM, generate
from tests.system import require

CI_PATIENTS = int(os.environ.get("CDSS_TEST_BULK_PATIENTS", "2000"))  # "a few thousand patients in CI"
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="session")
def small_export(tmp_path_factory):
    """A 300-patient export with its manifest (and the malformed lines real exports hold)."""
    return generate(tmp_path_factory.mktemp("bulk-small"), 300, seed=11)


@pytest.fixture(scope="session")
def ci_export(tmp_path_factory):
    """The CI-sized export both backends screen, as a directory, with odd lines added (see add_odd_lines)."""
    folder = tmp_path_factory.mktemp("bulk-ci")
    generate(folder, CI_PATIENTS, seed=2026)
    add_odd_lines(folder)
    return folder


ODD_PATIENT = "odd-patient"


def compact(resource):
    """A resource as one NDJSON line's bytes."""
    return json.dumps(resource, separators=(",", ":")).encode()


def ferritin(patient_id, value, reference=None):
    """A final ferritin result of a patient, just before the screen's reference time."""
    return {"resourceType": "Observation", "id": f"ferritin-{patient_id[:8]}-{value}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
            "subject": {"reference": reference or f"Patient/{patient_id}"}, "effectiveDateTime": "2026-11-01T08:00:00+00:00",
            "valueQuantity": {"value": value, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"}}


def odd_patient():
    """An adult with restless legs syndrome, TSAT 30 %, and an order of a shared Medication (mirtazapine)."""
    tsat = {**ferritin(ODD_PATIENT, 0), "id": "tsat-odd", "code": {"coding": [{"system": "http://loinc.org", "code": "2502-3"}]},
            "valueQuantity": {"value": 30, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
    rls = {"resourceType": "Condition", "id": "rls-odd", "subject": {"reference": f"Patient/{ODD_PATIENT}"},
           "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
           "code": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}], "text": "Restless legs syndrome"}}
    return [{"resourceType": "Patient", "id": ODD_PATIENT, "gender": "female", "birthDate": "1980-05-01"}, rls, tsat]


def add_odd_lines(folder):
    """Files a backend could read differently: a byte order mark, CRLF, blank and padded lines, a carriage
    return inside a line, bytes that are not UTF-8, a shared Medication (and one with an escaped type), odd
    references, and two ferritin results of one patient at the same instant, in the first and the last
    file: the first in export order is used (12 ng/mL: iron deficiency; 300 would not be)."""
    patients = [json.loads(line)["id"] for line in (folder / "Patient.ndjson").read_text(encoding="utf-8").splitlines()]
    second, third = patients[:2]
    medication = {"resourceType": "Medication", "id": "shared-mirtazapine",
                  "code": {"coding": [{"system": RXNORM, "code": "314111", "display": "mirtazapine 30 MG Oral Tablet"}]}}
    order = {"resourceType": "MedicationRequest", "id": "odd-order", "status": "active", "intent": "order",
             "medicationReference": {"reference": "Medication/shared-mirtazapine"},
             "subject": {"reference": f"Patient/{ODD_PATIENT}"}}
    (folder / "AAA.ndjson").write_bytes(BOM + b"\n".join(map(compact, [*odd_patient(), ferritin(ODD_PATIENT, 12)])))
    (folder / "Medication.ndjson").write_bytes(b"\r\n".join([
        BOM + compact(medication), b"", b"   \t ", b'{"resourceType":"Medic\\u0061tion","id":"escaped"}',
        compact(order), b""]))
    (folder / "Observation.odd.ndjson").write_bytes(b"\n".join([
        compact(ferritin(second, 40)).replace(b',"status"', b',\r"status"'),  # JSON whitespace, not a line break
        compact(ferritin(third, 55)).replace(b'"ng/mL"', b'"ng/mL \xff\xfe"', 1),  # not UTF-8
        b"  " + compact(ferritin(third, 60, f"https://ehr.example/fhir/Patient/{third}")) + b"\t",
        compact(ferritin(third, 70, "Patient/a/b")),
        BOM + compact(ferritin(third, 80)),  # a byte order mark that does not open the file is not JSON
        b'{"resourceType":"Encounter","subject":{"reference":"Patient/x"}}', b""]))
    (folder / "ZZZ.ndjson").write_bytes(compact(ferritin(ODD_PATIENT, 300)) + b"\n")


@pytest.fixture(scope="session")
def java():
    """A Java runtime for Spark, installed by scripts/install-java.sh when missing."""
    require("install-java.sh", "Java 17+")
