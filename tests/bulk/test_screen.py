"""Screening a Bulk Data export: the CDS Hooks mapping per patient, both backends, the summary."""
import datetime as dt
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdss.bulk.export import classify_line, export_files
from cdss.bulk.patients import screen_patient
from cdss.bulk.synthetic import RXNORM, generate
from cdss.hooks.invocation import invoke
from cdss.hooks.services import SERVICES
from cdss.screening import screen_command
from tests.bulk.conftest import ODD_PATIENT, add_odd_lines, ferritin, odd_patient

AS_OF = "2026-11-01T09:00:00+00:00"
NOW = dt.datetime.fromisoformat(AS_OF)


def patients_of(manifest):
    """patient id -> the export's lines of that patient (the join, done plainly here)."""
    grouped = defaultdict(list)
    for file in export_files(manifest):
        for line in file.read_text(encoding="utf-8").splitlines():
            category, key = classify_line(line)
            if category == "patient":
                grouped[key].append(line)
    return grouped


def hook_request(patient_id, resources, service):
    """A patient-view request whose prefetch holds this patient's resources under every template."""
    prefetch = {}
    for key, query in service.templates().items():
        kind = query.split("?")[0].split("/")[0]
        found = [resource for resource in resources if resource["resourceType"] == kind]
        if "?" not in query:
            prefetch[key] = found[0] if found else None
        else:
            prefetch[key] = {"resourceType": "Bundle", "type": "searchset",
                             "entry": [{"resource": resource} for resource in found]}
    return {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": patient_id}, "prefetch": prefetch}


def run(manifest, *options):
    """`cdss screen` on an export; (exit code, records by patient, stderr, summary)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "summary.json")
        result = CliRunner().invoke(screen_command, [str(manifest), "--as-of", AS_OF, "--summary-json", str(path),
                                                     *options], catch_exceptions=False)
        summary = json.loads(path.read_text(encoding="utf-8")) if result.exit_code == 0 else None
    records = {item["patient_id"]: item for item in map(json.loads, result.stdout.splitlines())}
    return result.exit_code, records, result.stderr, summary


def test_population_screen_agrees_with_the_point_of_care(small_export, evaluator):
    service = SERVICES["rls-iron"]
    compared = 0
    for patient_id, lines in sorted(patients_of(small_export).items()):
        resources = [json.loads(line) for line in lines]
        if not any(resource["resourceType"] == "Patient" for resource in resources):
            continue
        screened = screen_patient(patient_id, lines, {}, evaluator, NOW)
        advice = invoke(service, hook_request(patient_id, resources, service), evaluator, {}, now=NOW)
        if advice.result is None:
            assert screened["status"] == "not_applicable"
            continue
        result = advice.result
        assert screened["status"] == "screened"
        assert (screened["classification"], screened["causes"], screened["recommendations"], screened["missing"]) == (
            result["classification"]["type"], result["classification"]["causes"],
            [item["code"] for item in result["recommendations"]], result["missing"])
        compared += 1
    assert compared > 100  # the export is RLS-enriched: most patients get advice


def test_screen_summary_counts_patients_questions_and_unused_lines(small_export):
    code, records, stderr, summary = run(small_export, "--workers", "2")
    assert code == 0
    assert summary["patients"] == 300
    assert summary["by_status"]["screened"] == len(records) > 100
    assert summary["by_status"]["screened"] + summary["by_status"]["not_applicable"] == 300
    assert summary["by_status"]["unknown_patient"] == 1
    assert summary["lines_not_used"] == {"malformed: not a JSON object": 1, "malformed: not valid JSON": 1,
                                         "unknown_patient: resources": 2}
    needing = summary["needing"]
    assert needing["iron_studies"] == sum("order_iron_studies" in item["recommendations"] for item in records.values())
    assert needing["iron_therapy"] == sum(any(code.startswith(("oral_iron", "iv_iron")) for code in item["recommendations"])
                                          for item in records.values()) > 0
    assert needing["medication_review"] > 0
    assert "Patients needing:" in stderr and "malformed: not valid JSON" in stderr
    item = next(iter(records.values()))
    assert set(item) == {"patient_id", "status", "classification", "causes", "recommendations", "missing",
                         "could_not_check", "error", "resources"}


def test_all_patients_evaluates_everyone(small_export):
    code, records, _, summary = run(small_export, "--workers", "2", "--all-patients")
    assert code == 0
    assert summary["by_status"].get("not_applicable", 0) == 0
    assert len(records) == summary["by_status"]["screened"] + summary["by_status"].get("invalid", 0) == 300


def test_parquet_output(small_export, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    code, ndjson, _, _ = run(small_export, "--workers", "2")
    out = tmp_path / "screen.parquet"
    code, _, _, summary = run(small_export, "--workers", "2", "--output-format", "parquet", "-o", str(out))
    assert code == 0
    rows = {row["patient_id"]: row for row in pq.read_table(out).to_pylist()}
    assert rows == ndjson


def test_cli_refuses_what_it_cannot_do(small_export, tmp_path):
    native = tmp_path / "cohort.ndjson"
    native.write_text('{"patient": {"id": "a"}}\n')
    result = CliRunner().invoke(screen_command, [str(native), "--engine", "spark"])
    assert result.exit_code == 2 and "Bulk Data exports only" in result.output
    result = CliRunner().invoke(screen_command, [str(small_export), "--spark-join", "dataframe"])
    assert result.exit_code == 2 and "--spark-join needs --engine spark" in result.output
    result = CliRunner().invoke(screen_command, [str(small_export), "--output-format", "parquet"])
    assert result.exit_code == 2 and "--output FILE" in result.output
    result = CliRunner().invoke(screen_command, [str(small_export), "--as-of", "yesterday"])
    assert result.exit_code == 2 and "--as-of" in result.output
    remote = tmp_path / "manifest.json"
    remote.write_text(json.dumps({"output": [{"type": "Patient", "url": "https://ehr.example/1.ndjson"}]}))
    result = CliRunner().invoke(screen_command, [str(remote)])
    assert result.exit_code == 1 and "download the export first" in result.output


@pytest.fixture(scope="module")
def odd_export(tmp_path_factory):
    """A 40-patient export with the odd lines of conftest.add_odd_lines."""
    folder = tmp_path_factory.mktemp("bulk-odd")
    generate(folder, 40, seed=5)
    add_odd_lines(folder)
    return folder


def test_odd_lines_are_read_as_ndjson_allows(odd_export):
    code, records, _, summary = run(odd_export, "--workers", "2")
    assert code == 0
    assert summary["lines_not_used"] == {  # the byte order mark opening a file, CRLF, a "\r" inside a line,
        "ignored: Encounter": 1, "malformed: not a JSON object": 1,  # and bytes not UTF-8 cost no line
        "malformed: not valid JSON": 2, "no_patient: Observation": 1, "unknown_patient: resources": 2}
    odd = records[ODD_PATIENT]
    assert odd["resources"] == 6  # Patient, Condition, TSAT, two ferritins, the order (the Medication is shared)
    # the first of two same-instant ferritins in export order (12 ng/mL) is used, and the shared Medication
    assert {"iron_deficiency", "medication"} <= set(odd["causes"])
    assert "review_medication" in odd["recommendations"]


def iv_iron_export(folder):
    """Two men with restless legs syndrome and ferritin 40 ng/mL; one was given IV iron 31 days before the screen
    (recorded by an infusion centre as a MedicationAdministration of a shared Medication), one 150 days before."""
    lines = {"Patient": [], "Condition": [], "Observation": [], "MedicationAdministration": [], "Medication": [
        {"resourceType": "Medication", "id": "venofer", "code": {"coding": [
            {"system": RXNORM, "code": "1741261", "display": "iron sucrose 20 MG/ML Injectable Solution"}]}}]}
    for patient_id, given in (("iv-recent", "2026-10-01T10:00:00+00:00"), ("iv-old", "2026-06-04T10:00:00+00:00")):
        lines["Patient"].append({"resourceType": "Patient", "id": patient_id, "gender": "male", "birthDate": "1970-01-01"})
        lines["Condition"].append({**odd_patient()[1], "id": f"rls-{patient_id}", "subject": {"reference": f"Patient/{patient_id}"}})
        lines["Observation"].append(ferritin(patient_id, 40))
        lines["MedicationAdministration"].append({
            "resourceType": "MedicationAdministration", "id": f"dose-{patient_id}", "status": "completed",
            "medicationReference": {"reference": "Medication/venofer"}, "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": given})
    for kind, resources in lines.items():
        (folder / f"{kind}.ndjson").write_text("\n".join(json.dumps(item) for item in resources) + "\n", encoding="utf-8")
    return folder


def test_iv_iron_administrations_are_joined_and_read_by_the_screen(tmp_path):
    code, records, _, summary = run(iv_iron_export(tmp_path), "--workers", "2")
    assert code == 0 and summary["lines_not_used"] == {}  # MedicationAdministration is read, not "ignored"
    assert records["iv-recent"]["resources"] == 4
    assert "ferritin_after_iv_iron" in records["iv-recent"]["recommendations"]
    assert "ferritin_after_iv_iron" not in records["iv-old"]["recommendations"]
    assert records["iv-old"]["status"] == records["iv-recent"]["status"] == "screened"
    assert classify_line(json.dumps({"resourceType": "MedicationAdministration", "subject": {
        "reference": "Patient/iv-old"}})) == ("patient", "iv-old")
