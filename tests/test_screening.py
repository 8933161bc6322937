"""Cohort screening: NDJSON and CSV in, one result per patient (in order), errors per line, a summary."""
import csv
import io
import json

import pytest
from click.testing import CliRunner

from cdss.screening import Progress, csv_context, screen_command
from schemas.context import PatientContextSchema
from tests.conftest import labs, make_patient

FERRITINS = [12, 30, 75, 75.1, 100, 150, 320, 45, 60, 200]
TSATS = [10, 15, 19.9, 20, 30, 44.9, 45, 50, 25, 12]


def cohort():
    """Generated patients across the iron thresholds; some pregnant, some children, some on dialysis."""
    patients = []
    for index in range(24):
        patient = make_patient(patient={"id": f"p-{index}", "age": 9 + 3 * index, "sex": "female"},
                               labs=labs(ferritin=FERRITINS[index % 10], tsat=TSATS[index % 10]),
                               rls={"family_history": index % 2 == 0})
        if index % 5 == 0:
            patient["pregnancy"] = {"status": "pregnant", "trimester": 1 + index % 3}
        if index % 7 == 0:
            patient["conditions"] = [{"name": "dialysis"}]
            patient["medications"] = [{"name": "sertraline"}]
        patients.append(patient)
    return patients


def expected(evaluator, patient):
    """What the in-process evaluator says about one patient (the screen must agree)."""
    result = evaluator.evaluate(PatientContextSchema().load(patient))
    return {"classification": result["classification"]["type"], "causes": result["classification"]["causes"],
            "recommendations": [item["code"] for item in result["recommendations"]]}


def run_screen(path, *options):
    """Run `cdss screen`; return (exit code, result records, stderr)."""
    result = CliRunner().invoke(screen_command, [str(path), "--workers", "2", *options])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, records, result.stderr


def test_ndjson_cohort_with_invalid_lines(tmp_path, evaluator):
    patients = cohort()
    lines = [json.dumps(patient) for patient in patients]
    lines.insert(2, "{not json")  # line 3
    lines.insert(6, json.dumps(make_patient(labs=labs(ferritin=-4))))  # line 7
    lines.insert(9, "[1, 2]")  # line 10
    lines.insert(12, json.dumps(make_patient(conditions=[{"name": "gout"}])))  # line 13
    path = tmp_path / "cohort.ndjson"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    code, records, stderr = run_screen(path)
    assert code == 0
    assert [record["line"] for record in records] == list(range(1, len(lines) + 1))
    errors = {record["line"]: record["error"] for record in records if "error" in record}
    assert set(errors) == {3, 7, 10, 13}
    assert errors[3]["code"] == "malformed_json"
    assert "labs.ferritin.value" in errors[7]["fields"]
    assert "conditions.0.name" in errors[13]["fields"]
    valid = [record for record in records if "error" not in record]
    assert [record["patient_id"] for record in valid] == [patient["patient"]["id"] for patient in patients]
    for record, patient in zip(valid, patients):
        assert {key: record[key] for key in ("classification", "causes", "recommendations")} == \
            expected(evaluator, patient)
    assert "Screened 28 patients: 24 evaluated, 4 invalid" in stderr
    assert "Invalid rows at lines: 3, 7, 10, 13" in stderr


def csv_rows(patients):
    """The cohort as CSV rows with the documented columns."""
    rows = []
    for patient in patients:
        pregnancy = patient.get("pregnancy", {})
        rows.append({"patient_id": patient["patient"]["id"], "age": patient["patient"]["age"],
                     "sex": patient["patient"]["sex"],
                     "ferritin": patient["labs"]["ferritin"]["value"], "ferritin_unit": "ng/mL",
                     "tsat": patient["labs"]["tsat"]["value"],
                     "folate": patient["labs"].get("folate", {}).get("value", ""), "folate_unit": "ng/mL",
                     "pregnancy_status": pregnancy.get("status", ""), "trimester": pregnancy.get("trimester", ""),
                     "medications": ";".join(item["name"] for item in patient["medications"]),
                     "conditions": ";".join(item["name"] for item in patient["conditions"]),
                     "rls_onset_age": patient["rls"].get("onset_age", ""),
                     "rls_family_history": str(patient["rls"].get("family_history", "")).lower()})
    return rows


def test_csv_cohort_agrees_with_the_evaluator_and_reports_bad_rows(tmp_path, evaluator):
    patients = [make_patient(patient=p["patient"], labs=p["labs"], conditions=p["conditions"],
                             medications=p["medications"], rls={"family_history": p["rls"]["family_history"]},
                             pregnancy=p.get("pregnancy", {"status": "not_pregnant"})) for p in cohort()]
    rows = csv_rows(patients)
    rows[4]["ferritin"] = "high"  # line 6 (the header is line 1)
    rows[8]["ferritin_unit"] = "mg/dL"  # line 10
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "cohort.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    summary = tmp_path / "summary.json"
    code, records, stderr = run_screen(path, "--summary-json", str(summary), "--fail-on-invalid")
    assert code == 1  # asked to fail when a row is invalid
    errors = {record["line"]: record["error"]["fields"] for record in records if "error" in record}
    assert set(errors) == {6, 10}
    assert errors[6] == {"labs.ferritin.value": ["must be a number"]}
    assert "labs.ferritin.unit" in errors[10]
    for record, patient in zip((r for r in records if "error" not in r), patients[:4] + patients[5:8] + patients[9:]):
        assert record["recommendations"] == expected(evaluator, patient)["recommendations"]
    counts = json.loads(summary.read_text(encoding="utf-8"))
    assert counts["invalid_lines"] == [6, 10] and counts["evaluated"] == len(patients) - 2
    assert sum(counts["by_classification"].values()) == len(patients) - 2


def test_csv_row_becomes_a_native_context():
    row = {"patient_id": "a1", "age": "34", "sex": "female", "ferritin": "30.5", "ferritin_unit": "ug/L",
           "tsat": "15", "hemoglobin": "", "pregnancy_status": "pregnant", "trimester": "2",
           "medications": "Zoloft; 6915", "conditions": "sleep_apnea;icd-10-cm|N18.6"}
    assert csv_context(row) == {
        "patient": {"id": "a1", "age": 34, "sex": "female"},
        "labs": {"ferritin": {"value": 30.5, "unit": "ug/L"}, "tsat": {"value": 15, "unit": "%"}},
        "pregnancy": {"status": "pregnant", "trimester": 2},
        "medications": [{"name": "Zoloft"}, {"rxnorm": "6915"}],
        "conditions": [{"name": "sleep_apnea"}, {"system": "icd-10-cm", "code": "N18.6"}]}


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(("stream", "shown"), [(FakeTerminal(), True), (io.StringIO(), False)])
def test_progress_bar_only_on_a_terminal(stream, shown):
    progress = Progress(stream, total=4)
    for _ in range(4):
        progress.update()
    progress.close()
    assert ("[" + "#" * 30 + "] 4/4" in stream.getvalue()) is shown
    assert (stream.getvalue() == "") is not shown
