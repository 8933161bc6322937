"""Issue 11 items 5-6 end to end: rls.clinically_significant at the boundary, medications by evidence tier,
treatment advice by population, and the kidney conditions told apart."""
import pytest

from tests.conftest import ALL_CRITERIA, labs, make_patient


def significant(value=True, criteria=ALL_CRITERIA):
    """An rls section with the criteria and clinically_significant (None: the key is absent)."""
    rls = {"criteria": dict(criteria)}
    if value is not None:
        rls["clinically_significant"] = value
    return rls


def evaluate(client, **overrides):
    """POST one patient; return (status, body)."""
    response = client.post("/api/v1/evaluate", json=make_patient(**overrides))
    return response.status_code, response.json


def codes(body):
    return [item["code"] for item in body["recommendations"]]


@pytest.mark.parametrize("value", [1, 0, "yes", "true", []])
def test_clinically_significant_takes_booleans_only(client, value):
    status, body = evaluate(client, rls=significant(value))
    assert status == 400 and "rls.clinically_significant" in body["error"]["fields"]


@pytest.mark.parametrize("value", [None, False])
def test_not_known_or_not_significant_gives_no_treatment_advice(client, value):
    rls = significant(value)
    if value is None:
        rls["clinically_significant"] = None  # null is "not known", like the key being absent
    status, body = evaluate(client, rls=rls)
    assert status == 200
    assert not {"rls_treatment_first_steps", "alpha2delta_first_line"} & set(codes(body))


def test_significant_adult_gets_first_steps_and_first_line(client):
    status, body = evaluate(client, rls=significant())
    assert status == 200
    found = codes(body)
    assert {"rls_treatment_first_steps", "alpha2delta_first_line", "rls_treatments_advised_against"} <= set(found)
    first_line = next(item for item in body["recommendations"] if item["code"] == "alpha2delta_first_line")
    assert first_line["reasoning"][0]["facts"]["rls_clinically_significant"] is True
    assert "gabapentin enacarbil, gabapentin or pregabalin" in first_line["detail"]


@pytest.mark.parametrize(("overrides", "expected", "absent"), [
    ({"pregnancy": {"status": "pregnant", "trimester": 2}}, "rls_treatment_pregnancy_lactation",
     {"alpha2delta_first_line", "refractory_rls_options"}),
    ({"pregnancy": {"status": "postpartum", "weeks_postpartum": 6}}, "rls_treatment_pregnancy_lactation",
     {"alpha2delta_first_line"}),
    ({"patient": {"age": 11, "sex": "female"}, "pregnancy": None}, "rls_treatment_child",
     {"alpha2delta_first_line", "rls_treatments_advised_against"}),
    ({"conditions": [{"system": "icd-10-cm", "code": "Z99.2"}]}, "alpha2delta_kidney_failure",
     {"alpha2delta_first_line", "renal_rls_measures"}),
])
def test_each_population_has_its_own_treatment_plan(client, overrides, expected, absent):
    status, body = evaluate(client, rls=significant(), medications=[{"name": "gabapentin"}], **overrides)
    assert status == 200
    assert expected in codes(body) and not absent & set(codes(body))


def test_refractory_options_replace_first_line_on_an_alpha2delta_ligand(client):
    status, body = evaluate(client, rls=significant(), medications=[{"name": "pregabalin 75 MG Oral Capsule"}])
    refractory = next(item for item in body["recommendations"] if item["code"] == "refractory_rls_options")
    assert "alpha2delta_first_line" not in codes(body)
    assert any(entry["rule"] == "ruleset.supersedes" for entry in refractory["reasoning"])


@pytest.mark.parametrize(("medication", "indicator", "cause"), [
    ({"name": "mirtazapine"}, "warning", True), ({"name": "hydroxyzine"}, "warning", True),
    ({"name": "escitalopram"}, "info", False), ({"name": "duloxetine"}, "info", False),
    ({"name": "lithium"}, "info", False), ({"rxnorm": "966795"}, None, False), ({"name": "Silenor"}, None, False),
    ({"name": "doxepin 50 MG Oral Capsule"}, "info", False), ({"name": "bupropion"}, None, False),
])
def test_medications_are_graded_by_the_evidence(client, medication, indicator, cause):
    status, body = evaluate(client, medications=[medication])
    review = [item for item in body["recommendations"] if item["code"] == "review_medication"]
    assert status == 200 and body["unrecognized"] == {}
    assert (review[0]["indicator"] if review else None) == indicator
    assert ("medication" in body["classification"]["causes"]) is cause


def test_bupropion_is_offered_without_overclaiming(client):
    _, body = evaluate(client, medications=[{"name": "sertraline"}])
    (review,) = [item for item in body["recommendations"] if item["code"] == "review_medication"]
    assert "may reduce RLS symptoms at least in the short term" in review["detail"]
    assert "does not worsen" not in review["detail"] and "AASM 2024 suggests against it for RLS" in review["detail"]


def test_domperidone_comes_with_its_qt_caution(client):
    _, body = evaluate(client, medications=[{"name": "metoclopramide"}])
    (review,) = [item for item in body["recommendations"] if item["code"] == "review_medication"]
    assert "domperidone" in review["detail"] and "QT interval" in review["detail"]


@pytest.mark.parametrize("name", ["pramipexole", "ropinirole", "Neupro", "cabergoline", "Sinemet"])
def test_dopaminergic_drugs_raise_augmentation(client, name):
    _, body = evaluate(client, medications=[{"name": name}])
    assert "augmentation_risk" in codes(body)


@pytest.mark.parametrize(("code", "cause", "iv_iron_sucrose"), [
    ("N18.1", False, False), ("N18.2", False, False), ("N18.9", False, False), ("N18.30", True, False),
    ("N18.4", True, False), ("N18.6", True, False), ("Z99.2", True, True),
])
def test_kidney_disease_by_stage_and_dialysis(client, code, cause, iv_iron_sucrose):
    _, body = evaluate(client, conditions=[{"system": "icd-10-cm", "code": code}], labs=labs(ferritin=150, tsat=15))
    assert ("renal_disease" in body["classification"]["causes"]) is cause
    assert ("iv_iron_sucrose" in codes(body)) is iv_iron_sucrose
