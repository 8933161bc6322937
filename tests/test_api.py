"""The native API contract: /api/v1/evaluate, /rules, /vocabulary, and every error status."""
import pytest

from schemas.context import PatientContextSchema
from tests.conftest import ALL_CRITERIA, codes, labs, make_patient

ISSUE_EXAMPLE = {
    "patient": {"id": "opaque-42", "age": 34, "sex": "female"},
    "labs": {
        "ferritin": {"value": 32, "unit": "ng/mL"}, "tsat": {"value": 18, "unit": "%"},
        "folate": {"value": 2.1, "unit": "ng/mL"}, "hemoglobin": {"value": 11.0, "unit": "g/dL"},
        "serum_iron": {"value": 40, "unit": "ug/dL"}, "tibc": {"value": 420, "unit": "ug/dL"}},
    "pregnancy": {"status": "pregnant", "trimester": 3},
    "medications": [{"name": "sertraline"}, {"rxnorm": "6915"}],
    "conditions": [{"system": "icd-10-cm", "code": "N18.6"}, {"name": "peripheral_neuropathy"}],
    "rls": {"onset_age": 30, "family_history": True, "criteria": ALL_CRITERIA},
}


def evaluate(client, body):
    response = client.post("/api/v1/evaluate", json=body)
    assert response.status_code == 200, response.json
    return response.json


def test_the_issue_example(client):
    result = evaluate(client, ISSUE_EXAMPLE)
    assert set(result) == {"evaluation_id", "ruleset", "classification", "recommendations", "missing", "missing_labels",
                           "unrecognized", "fired_rules"}
    assert result["ruleset"]["id"] == "rls-iron" and result["ruleset"]["digest"].startswith("sha256:")
    assert result["classification"]["type"] == "secondary"
    assert set(result["classification"]["causes"]) == {
        "iron_deficiency", "pregnancy", "renal_disease", "peripheral_neuropathy", "medication"}
    # N18.6 is end-stage renal disease (not "on dialysis"; issue 11 item 3): pregnant with ESRD, the iron
    # plan is made with nephrology and obstetrics, never oral iron next to an IV plan.
    assert {"nephrology_iron_plan", "review_medication", "folate_supplement"} <= set(codes(result))
    assert not {"oral_iron", "iv_iron", "iv_iron_alternative", "iv_iron_sucrose"} & set(codes(result))
    plan = next(item for item in result["recommendations"] if item["code"] == "nephrology_iron_plan")
    assert plan["references"][0]["url"].startswith("https://")
    why = plan["reasoning"][0]
    assert why["rule"] == "renal.dialysis.nephrology" and why["version"] == "1.1.0"
    assert why["facts"]["pregnant"] is True


def test_pregnancy_oral_iron_with_its_reasoning(client):
    result = evaluate(client, dict(ISSUE_EXAMPLE, conditions=[{"name": "peripheral_neuropathy"}]))
    assert {"oral_iron", "review_medication", "folate_supplement", "recheck_iron"} <= set(codes(result))
    oral = next(item for item in result["recommendations"] if item["code"] == "oral_iron")
    assert oral["indicator"] == "warning" and oral["references"][0]["url"].startswith("https://")
    why = oral["reasoning"][0]
    assert why["rule"] == "pregnancy.oral-iron" and why["version"] == "1.0.0"
    assert "Ferritin 32 ng/mL <= 75 ng/mL" in why["statement"]
    assert why["facts"]["ferritin_ng_ml"] == 32


def test_chained_conclusions_show_the_chain(client):
    result = evaluate(client, make_patient(labs=labs(ferritin=30, tsat=15)))
    recheck = next(item for item in result["recommendations"] if item["code"] == "recheck_iron")
    chain = recheck["reasoning"][0]["chain"]
    assert chain[0]["rule"] == "iron.oral.adult"
    assert "Iron therapy indicated (found by iron.oral.adult)" in recheck["reasoning"][0]["statement"]


@pytest.mark.parametrize(("lab", "value", "unit", "fact", "canonical"), [
    ("ferritin", 67.4, "pmol/L", "ferritin_ng_ml", 30.0),
    ("ferritin", 30, "ug/L", "ferritin_ng_ml", 30.0),
    ("ferritin", 30, "µg/L", "ferritin_ng_ml", 30.0),
    ("ferritin", 30, "ng/ml", "ferritin_ng_ml", 30.0),
    ("folate", 4.5, "nmol/L", "folate_ng_ml", 1.99),
])
def test_units_are_converted_before_rules_see_them(client, lab, value, unit, fact, canonical):
    body = make_patient(labs={**labs(ferritin=150, tsat=15), lab: {"value": value, "unit": unit}})
    result = evaluate(client, body)
    reasons = result["classification"]["reasoning"] + [
        why for item in result["recommendations"] for why in item["reasoning"]]
    values = [why["facts"][fact] for why in reasons if fact in why["facts"]]
    assert values and values[0] == pytest.approx(canonical, abs=0.01)


def test_hemoglobin_units():
    for value, unit in [(110, "g/L"), (6.83, "mmol/L"), (11, "g/dL")]:
        loaded = PatientContextSchema().load({"labs": {"hemoglobin": {"value": value, "unit": unit}}})
        assert loaded["labs"]["hemoglobin"]["value"] == pytest.approx(11.0, abs=0.01)


def test_tsat_is_calculated_from_iron_and_tibc(client):
    result = evaluate(client, make_patient(labs={"ferritin": {"value": 30, "unit": "ng/mL"},
                                                 "serum_iron": {"value": 10.74, "unit": "umol/L"},
                                                 "tibc": {"value": 400, "unit": "ug/dL"}}))
    assert "tsat" not in result["missing"]
    oral = next(item for item in result["recommendations"] if item["code"] == "oral_iron")
    assert oral["reasoning"][0]["facts"]["tsat_percent"] == 15.0


def test_missing_data_is_a_reason_to_test_not_an_error(client):
    result = evaluate(client, {})
    assert result["classification"]["type"] == "undetermined"
    assert codes(result)[0] == "order_iron_studies"
    assert {"ferritin", "tsat", "rls.criteria"} <= set(result["missing"])
    assert "folate" not in result["missing"]  # optional unless anaemia or neuropathy asks for it (folate.missing)


def test_folate_is_asked_for_with_anaemia_or_neuropathy(client):
    anaemic = evaluate(client, {"patient": {"age": 60, "sex": "male"}, "labs": {"hemoglobin": {"value": 12.1, "unit": "g/dL"}}})
    assert "check_folate" in codes(anaemic) and "folate" in anaemic["missing"]
    neuropathy = evaluate(client, {"conditions": [{"system": "icd-10-cm", "code": "G62.9"}]})
    assert "check_folate" in codes(neuropathy)


def test_an_unmet_criterion_leads_with_confirm_diagnosis(client):
    criteria = dict(ALL_CRITERIA, not_explained_by_other_condition=False)
    result = evaluate(client, make_patient(labs=labs(ferritin=30, tsat=15), rls={"criteria": criteria}))
    assert codes(result)[0] == "confirm_diagnosis"
    assert result["classification"]["type"] == "undetermined"
    assert result["classification"]["causes"] == []  # no RLS causes while the diagnosis is in doubt
    assert not {"oral_iron", "iv_iron", "iv_iron_alternative", "recheck_iron"} & set(codes(result))


def test_birth_date_gives_the_age(client):
    result = evaluate(client, make_patient(patient={"birth_date": "2016-01-01"}, rls=None,
                                           labs=labs(ferritin=45, tsat=20)))
    assert "pediatrics.oral-iron" in [item["rule"] for item in result["fired_rules"]]


def test_brands_codes_and_unknown_entries(client):
    result = evaluate(client, make_patient(
        medications=[{"name": "ZOLOFT"}, {"rxnorm": "6915"}, {"name": "Wellbutrin"}, {"name": "mystery pill"}],
        conditions=[{"system": "icd-10-cm", "code": "g20.a1"}, {"system": "snomed", "code": "1234567"}]))
    review = next(item for item in result["recommendations"] if item["code"] == "review_medication")
    assert "sertraline" in review["detail"] and "metoclopramide" in review["detail"]
    flagged = [why["facts"]["medication"] for why in review["reasoning"]]
    assert sorted(flagged) == ["metoclopramide", "sertraline"] and "Zoloft" not in review["detail"]
    assert "parkinson_disease" in result["classification"]["causes"]
    assert result["unrecognized"] == {"medications": ["mystery pill"], "conditions": [
        "snomed|1234567 (not a valid SNOMED CT concept id: wrong check digit)"]}


def test_age_alone_never_makes_a_case_secondary(client):
    result = evaluate(client, make_patient(patient={"age": 88}, rls={"onset_age": 80, "family_history": False,
                                                                     "criteria": ALL_CRITERIA}))
    assert result["classification"] == {"type": "primary", "causes": [], "associated_conditions": [],
                                        "cause_labels": {}, "associated_condition_labels": {},
                                        "reasoning": result["classification"]["reasoning"]}


def test_the_evaluation_is_stored_without_the_patient_id(client):
    result = evaluate(client, ISSUE_EXAMPLE)
    stored = client.get(f"/api/v1/evaluations/{result['evaluation_id']}").json
    assert stored["classification"] == "secondary" and stored["ruleset_digest"] == result["ruleset"]["digest"]
    assert stored["recommendation_codes"] == codes(result)
    assert "opaque-42" not in str(stored) and len(stored["patient_hash"]) == 64


@pytest.mark.parametrize(("body", "field", "text"), [
    ({"labs": {"ferritin": {"value": -3, "unit": "ng/mL"}}}, "labs.ferritin.value", "outside the possible range"),
    ({"labs": {"ferritin": {"value": 30, "unit": "mg/dL"}}}, "labs.ferritin.unit", "unknown unit"),
    ({"labs": {"ferritin": {"value": "30", "unit": "ng/mL"}}}, "labs.ferritin.value", "must be a number"),
    ({"labs": {"ferritin": {"value": True, "unit": "ng/mL"}}}, "labs.ferritin.value", "must be a number"),
    ({"labs": {"tsat": {"value": 130, "unit": "%"}}}, "labs.tsat.value", "outside the possible range"),
    ({"labs": {"ldl": {"value": 3, "unit": "mmol/L"}}}, "labs.ldl", "Unknown field"),
    ({"labs": {"serum_iron": {"value": 500, "unit": "ug/dL"}, "tibc": {"value": 300, "unit": "ug/dL"}}},
     "labs.serum_iron.value", "cannot exceed TIBC"),
    ({"pregnancy": {"status": "pregnant", "trimester": 7}}, "pregnancy.trimester", "must be 1, 2 or 3"),
    ({"pregnancy": {"status": "not_pregnant", "trimester": 2}}, "pregnancy.trimester", "only allowed"),
    ({"pregnancy": {"status": "expecting"}}, "pregnancy.status", "Must be one of"),
    ({"patient": {"sex": "male"}, "pregnancy": {"status": "pregnant"}}, "pregnancy.status", "impossible"),
    ({"patient": {"age": 300}}, "patient.age", "between 0 and 130"),
    ({"patient": {"birth_date": "2999-01-01"}}, "patient.birth_date", "future"),
    ({"patient": {"age": 30}, "rls": {"onset_age": 50}}, "rls.onset_age", "later than"),
    ({"medications": [{}]}, "medications.0", "name or an rxnorm"),
    ({"medications": [{"rxnorm": "abc"}]}, "medications.0.rxnorm", "RxNorm"),
    ({"medications": [{"name": "x"}] * 101}, "medications", "Longer than maximum"),
    ({"conditions": [{"name": "gout"}]}, "conditions.0.name", "unknown condition"),
    ({"conditions": [{"system": "loinc", "code": "2276-4"}]}, "conditions.0.system", "Must be one of"),
    ({"rls": {"criteria": {"urge_to_move": "yes"}}}, "rls.criteria.urge_to_move", "boolean"),
    ({"surprise": 1}, "surprise", "Unknown field"),
])
def test_invalid_input_is_a_400_naming_the_field(client, body, field, text):
    response = client.post("/api/v1/evaluate", json=body)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_input"
    assert field in error["fields"], error
    assert text in " ".join(error["fields"][field])


@pytest.mark.parametrize(("data", "content_type", "status", "code"), [
    ("{", "application/json", 400, "malformed_json"),
    ("[1, 2]", "application/json", 400, "invalid_input"),
    ('{"patient": {"age": NaN}}', "application/json", 400, "malformed_json"),  # NaN is not JSON (RFC 8259)
    ("ferritin=30", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ('{"a": "' + "x" * 70000 + '"}', "application/json", 413, "request_entity_too_large"),
])
def test_bad_bodies(client, data, content_type, status, code):
    response = client.post("/api/v1/evaluate", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.json["error"]["code"] == code


def test_unknown_routes_and_methods(client):
    assert client.get("/api/v1/nothing").json["error"]["code"] == "not_found"
    response = client.get("/api/v1/evaluate")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert client.get("/api/v1/evaluations/none").status_code == 404


def test_the_knowledge_base_lists_every_rule(client, knowledge):
    listed = client.get("/api/v1/rules").json
    assert listed["ruleset"]["version"] == knowledge.manifest["version"]
    assert [rule["id"] for rule in listed["rules"]] == [rule.id for rule in knowledge.rules]
    oral = next(rule for rule in listed["rules"] if rule["id"] == "iron.oral.adult")
    assert "ferritin <= 75 ng/mL" in oral["condition_text"]
    assert oral["outputs"]["recommendation"]["code"] == "oral_iron"
    assert oral["citations"][0]["citation"].startswith("Winkelman")
    assert {"strength", "version", "condition", "title"} <= set(oral)


def test_the_vocabulary(client):
    vocabulary = client.get("/api/v1/vocabulary").json
    assert vocabulary["conditions"]["esrd"]["icd10cm"] == ["N18.6"]
    assert vocabulary["medications"]["ssri"]["ingredients"]["sertraline"] == "36437"
    assert vocabulary["medications"]["not_worsening"]["worsens_rls"] is False
    assert "pmol/L" in vocabulary["labs"]["ferritin"]["accepted_units"]
