"""Reading an export: files from a directory or a manifest, and which patient each line belongs to."""
import json

import pytest

from cdss.bulk.export import BulkExportError, classify_line, export_files, is_export
from cdss.bulk.local import bucket_of, byte_ranges, group_bucket, lines_in_range, map_range


@pytest.mark.parametrize(("line", "expected"), [
    ('{"resourceType": "Patient", "id": "p1"}', ("patient", "p1")),
    ('{"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}', ("patient", "p1")),
    ('{"resourceType": "Condition", "subject": {"reference": "https://ehr.example/fhir/Patient/p1"}}', ("patient", "p1")),
    ('{"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p2"}}', ("patient", "p2")),
    ('{"resourceType": "MedicationStatement", "subject": {"reference": "Group/g1"}}', ("no_patient", "MedicationStatement")),
    ('{"resourceType": "MedicationRequest", "subject": {"reference": "XPatient/p1"}}', ("no_patient", "MedicationRequest")),
    ('{"resourceType": "Observation"}', ("no_patient", "Observation")),
    ('{"resourceType": "Patient"}', ("no_patient", "Patient")),
    ('{"resourceType": "Medication", "id": "m1"}', ("medication", "m1")),
    ('{"resourceType": "Medication"}', ("malformed", "a Medication without id")),
    ('{"resourceType": "Encounter", "subject": {"reference": "Patient/p1"}}', ("ignored", "Encounter")),
    ('{"resourceType": 5}', ("malformed", "no resourceType")),
    ("[1, 2]", ("malformed", "not a JSON object")),
    ('{"resourceType": "Obs', ("malformed", "not valid JSON")),
])
def test_classify_line(line, expected):
    assert classify_line(line) == expected


def test_export_from_directory_and_manifest(small_export):
    directory = small_export.parent
    assert is_export(directory) and is_export(small_export)
    from_manifest = export_files(small_export)
    assert from_manifest == export_files(directory)
    assert {file.name.split(".")[0] for file in from_manifest} == {
        "Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement", "AllergyIntolerance"}
    assert len([file for file in from_manifest if file.name.startswith("Observation")]) == 2  # several per type


def test_manifest_with_remote_or_missing_files_is_refused(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"output": [{"type": "Patient", "url": "https://ehr.example/f/1.ndjson"}]}))
    with pytest.raises(BulkExportError, match="remote"):
        export_files(manifest)
    manifest.write_text(json.dumps({"output": [{"type": "Patient", "url": "missing.ndjson"}]}))
    with pytest.raises(BulkExportError, match="not a file"):
        export_files(manifest)
    assert not is_export(tmp_path / "nothing.json")
    (tmp_path / "native.json").write_text('{"patient": {"id": "x"}}')
    assert not is_export(tmp_path / "native.json")


def test_byte_ranges_cover_every_line_once(tmp_path):
    lines = [json.dumps({"n": index, "pad": "x" * (index % 37)}) for index in range(500)]
    file = tmp_path / "Observation.ndjson"
    file.write_text("\n".join(lines) + "\n")
    read = [line for _, start, end in byte_ranges([file], size=997) for line in lines_in_range(file, start, end)]
    assert read == lines


def test_buckets_are_stable():
    assert bucket_of("6513270e-269e-4d37-b2a7-4de452e6b438", 16) == bucket_of("6513270e-269e-4d37-b2a7-4de452e6b438", 16)
    assert len({bucket_of(f"p{index}", 16) for index in range(200)}) == 16


def test_a_patients_lines_are_grouped_in_export_order(tmp_path):
    lines = [json.dumps({"resourceType": "Observation", "id": f"o{index}", "subject": {"reference": "Patient/p"},
                         "pad": "x" * 40}) for index in range(60)]
    file = tmp_path / "Observation.ndjson"
    file.write_text("\n".join(lines) + "\n")
    ranges = list(byte_ranges([file], size=400))
    assert len(ranges) > 10  # map task 10 sorts before 2 as text
    for index, (name, start, end) in enumerate(ranges):
        map_range((name, start, end, str(tmp_path), 1, index))
    assert group_bucket(tmp_path, 0) == {"p": lines}
