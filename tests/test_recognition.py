"""Issue 10 on the native API: TSAT as a fraction, the unit spellings EHRs send, known drugs outside RLS,
conditions as text, and the vocabulary that lists what text is matched against."""
import pytest

from cdss.units import to_canonical
from tests.conftest import codes, make_patient


def evaluate(client, body):
    response = client.post("/api/v1/evaluate", json=body)
    return response.status_code, response.json


@pytest.mark.parametrize("value, unit", [(0.15, "1"), (0.15, "{ratio}"), (15, "%{saturation}"), (15, "%")])
def test_tsat_as_a_fraction_or_an_annotated_percentage(client, value, unit):
    status, result = evaluate(client, make_patient(labs={"ferritin": {"value": 30, "unit": "ng/mL"},
                                                         "tsat": {"value": value, "unit": unit}}))
    assert status == 200, result
    assert "tsat" not in result["missing"]
    facts = [entry["facts"] for item in result["recommendations"] for entry in item["reasoning"]]
    assert any(fact.get("tsat_percent") == 15.0 for fact in facts), facts


@pytest.mark.parametrize("value", [15, 1.5, -0.1])
def test_a_percentage_sent_as_a_fraction_is_refused_not_reinterpreted(client, value):
    status, body = evaluate(client, make_patient(labs={"tsat": {"value": value, "unit": "1"}}))
    assert status == 400
    (message,) = body["error"]["fields"]["labs.tsat.unit"]
    assert "not a fraction between 0 and 1" in message and "'%'" in message


@pytest.mark.parametrize("value", [0.45, 0.15, 0])
def test_a_fraction_sent_as_a_percentage_is_refused_not_reinterpreted(client, value):
    status, body = evaluate(client, make_patient(labs={"tsat": {"value": value, "unit": "%"}}))
    assert status == 400
    (message,) = body["error"]["fields"]["labs.tsat.unit"]
    assert "below any transferrin saturation a laboratory reports" in message and "unit '1'" in message


@pytest.mark.parametrize("test, value, unit, canonical", [
    ("hemoglobin", 11.2, "gm/dL", 11.2), ("hemoglobin", 11.2, "g/100 mL", 11.2), ("hemoglobin", 112, "g/L", 11.2),
    ("ferritin", 30, "mcg/L", 30), ("ferritin", 30, "ng/ml", 30), ("folate", 9, "µg/L", 9),
    ("serum_iron", 50, "mcg/dL", 50), ("tibc", 350, "ug/dl", 350)])
def test_unit_spellings_real_laboratories_send(test, value, unit, canonical):
    converted, _ = to_canonical(test, value, unit)
    assert converted == pytest.approx(canonical)


def test_an_unknown_unit_still_names_the_field(client):
    status, body = evaluate(client, make_patient(labs={"hemoglobin": {"value": 11, "unit": "mg/dL"}}))
    assert status == 400 and "labs.hemoglobin.unit" in body["error"]["fields"]


@pytest.mark.parametrize("medication", [{"rxnorm": "314076"}, {"rxnorm": "29046"}, {"name": "lisinopril"},
                                        {"name": "Atorvastatin 20 MG Oral Tablet"}, {"name": "metformin ER 500 mg"}])
def test_a_known_drug_outside_rls_is_not_unrecognised(client, medication):
    status, result = evaluate(client, make_patient(medications=[medication]))
    assert status == 200
    assert "medications" not in result["unrecognized"]


@pytest.mark.parametrize("medication, shown", [
    ({"name": "Zorblax 10 mg"}, "Zorblax 10 mg"), ({"rxnorm": "99999999"}, "rxnorm|99999999"),
    ({"name": "tramadol 50 mg"}, "tramadol 50 mg")])  # tramadol: an RLS-relevant class the value sets lack
def test_an_unknown_or_unchecked_drug_is_still_listed(client, medication, shown):
    status, result = evaluate(client, make_patient(medications=[medication]))
    assert status == 200
    assert result["unrecognized"]["medications"] == [shown]


def test_a_condition_as_text_is_matched_by_name_and_synonym(client):
    low_iron = {"ferritin": {"value": 30, "unit": "ng/mL"}, "tsat": {"value": 15, "unit": "%"}}
    _, plain = evaluate(client, make_patient(labs=low_iron))
    status, result = evaluate(client, make_patient(labs=low_iron, conditions=[
        {"text": "Hereditary haemochromatosis"}, {"text": "End stage kidney disease"}]))
    assert status == 200, result
    assert "conditions" not in result["unrecognized"]
    assert "oral_iron" in codes(plain) and "oral_iron" not in codes(result)  # iron is not given on hemochromatosis
    assert "renal_disease" in result["classification"]["causes"]


def test_text_that_matches_nothing_is_listed_never_dropped(client):
    status, result = evaluate(client, make_patient(conditions=[{"text": "Gout"},
                                                               {"system": "icd-10-cm", "code": "M10.9", "text": "Gout"}]))
    assert status == 200
    assert result["unrecognized"]["conditions"] == ["Gout", "icd-10-cm|M10.9 (Gout)"]


def test_a_code_that_is_not_recognised_falls_back_to_its_text(client):
    status, result = evaluate(client, make_patient(conditions=[
        {"system": "icd-10-cm", "code": "E83.119", "text": "Hereditary hemochromatosis"}]))
    assert status == 200
    assert "conditions" not in result["unrecognized"]


@pytest.mark.parametrize("condition, field", [
    ({"text": "  "}, "conditions.0.text"), ({"text": ""}, "conditions.0.text"),
    ({"name": "hemochromatosis", "text": "Hemochromatosis"}, "conditions.0.text"), ({"text": 5}, "conditions.0.text"),
    ({}, "conditions.0")])
def test_malformed_text_conditions_are_refused(client, condition, field):
    status, body = evaluate(client, make_patient(conditions=[condition]))
    assert status == 400 and field in body["error"]["fields"], body


def test_a_plain_string_is_not_guessed_at(client):
    status, body = evaluate(client, make_patient(conditions=["Hereditary hemochromatosis"]))
    assert status == 400
    assert body["error"]["fields"]["conditions.0"] == ['must be an object: {"system", "code"}, {"name"} or {"text": "..."}']


def test_old_condition_shapes_stay_valid(client):
    status, _ = evaluate(client, make_patient(conditions=[{"name": "peripheral_neuropathy"},
                                                          {"system": "icd-10-cm", "code": "N18.6"}]))
    assert status == 200


def test_the_vocabulary_lists_synonyms_exclusions_and_snomed_sets(client, knowledge):
    body = client.get("/api/v1/vocabulary").json
    conditions = body["conditions"]
    with_synonyms = [name for name, spec in knowledge.conditions.items() if spec.get("synonyms")]
    assert with_synonyms and all(conditions[name]["synonyms"] == knowledge.conditions[name]["synonyms"]
                                 for name in with_synonyms)
    with_sets = [name for name, spec in knowledge.conditions.items() if spec.get("snomed_sets")]
    assert with_sets
    for name in with_sets:
        assert set(conditions[name]["snomed_sets"]) == set(knowledge.conditions[name]["snomed_sets"])
        assert all(count > 0 for count in conditions[name]["snomed_sets"].values()), conditions[name]
    for name, spec in knowledge.conditions.items():
        assert conditions[name]["icd10cm_exclude"] == spec.get("icd10cm_exclude", [])
        assert conditions[name]["snomed_exclude"] == spec.get("snomed_exclude", [])
        assert conditions[name]["implies"] == spec.get("implies", [])
    assert "1" in body["labs"]["tsat"]["accepted_units"]


def test_the_openapi_document_describes_them(client):
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    term = next(schema for name, schema in schemas.items() if name.startswith("ConditionTerm"))
    assert {"synonyms", "snomed_sets", "icd10cm_exclude", "snomed_exclude", "implies"} <= set(term["properties"])
    condition = next(schema for name, schema in schemas.items()
                     if "text" in schema.get("properties", {}) and "system" in schema.get("properties", {}))
    assert "synonyms" in condition["properties"]["text"]["description"]
