"""Realistic FHIR data of each EHR family (tests/hooks/families.py): valid R4, recognised, and the expected advice.

The cases are validated against the FHIR R4B models of `fhir.resources` (R4B is R4 plus errata for the
resources read here; the package's default models are R5, never used). The patient-view call gets the
data prefetched, and again from a FHIR server played by `responses` (the fallback path).
"""
import json

import pytest
import responses
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from tests.hooks import families
from tests.hooks.conftest import FHIR, codes, post

CASES = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(families.OUT.glob("*.json"))}
SEARCHES = {"labs": ("Observation",), "conditions": ("Condition",), "medications": ("MedicationRequest", "Medication"),
            "statements": ("MedicationStatement",), "administrations": ("MedicationAdministration",),
            "allergies": ("AllergyIntolerance",)}


def needs_terminology(case, vocabulary):
    """Skip a case whose codes need the terminology module when it is not on this branch."""
    if case.get("needs") == "terminology" and not hasattr(vocabulary, "condition_names"):
        pytest.skip("needs the terminology module (RxNorm product codes, ICD-10-CM and SNOMED CT value sets)")


def patient_of(case):
    return next(item for item in case["resources"] if item["resourceType"] == "Patient")


def searchset(case, kinds):
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": item, "search": {"mode": "include" if item["resourceType"] == "Medication" else "match"}}
                      for item in case["resources"] if item["resourceType"] in kinds]}


def request_for(case, prefetched=True):
    patient = patient_of(case)
    request = {"hook": "patient-view", "hookInstance": f"family-{patient['id']}",
               "context": {"userId": "Practitioner/dr-1", "patientId": patient["id"]}}
    if prefetched:
        request["prefetch"] = {"patient": patient, "pregnancy": searchset(case, ("Observation",)),
                               **{key: searchset(case, kinds) for key, kinds in SEARCHES.items()}}
    else:
        request["fhirServer"] = FHIR
    return request


def test_the_committed_cases_are_the_generated_ones():
    assert {name: {"name": name, **case} for name, case in families.cases().items()} == CASES, \
        "run `python -m tests.hooks.families` to write the cases again"


@pytest.mark.parametrize("name", CASES)
def test_every_resource_is_valid_fhir_r4(name):
    broken = set(CASES[name].get("invalid_r4", []))
    for resource in CASES[name]["resources"]:
        model = get_fhir_model_class(resource["resourceType"])
        if resource["id"] in broken:  # the malformed ones really are malformed
            with pytest.raises(ValidationError):
                model.model_validate(resource)
        else:
            model.model_validate(resource)


@pytest.mark.parametrize("name", CASES)
def test_every_expected_item_is_recognised(evaluator, knowledge, name):
    case = CASES[name]
    needs_terminology(case, evaluator.vocabulary)
    mapped, facts = families.mapped_case(case, knowledge, evaluator.vocabulary)
    got, total, misses = families.score(case, mapped, facts)
    assert misses == [] and got == total


def check_advice(case, body):
    found = codes(body["cards"])
    advice = case.get("advice", {})
    assert set(advice.get("includes", [])) <= set(found), found
    assert not set(advice.get("excludes", [])) & set(found), found
    if advice.get("any_of"):
        assert set(advice["any_of"]) & set(found), found


@pytest.mark.parametrize("name", CASES)
def test_the_expected_advice_prefetched(hooks, evaluator, name):
    case = CASES[name]
    needs_terminology(case, evaluator.vocabulary)
    status, body = post(hooks, "rls-iron", request_for(case))
    assert status == 200, body
    check_advice(case, body)


@pytest.mark.parametrize("name", CASES)
def test_the_same_advice_read_from_the_fhir_server(hooks, fhir_server, evaluator, name):
    case = CASES[name]
    needs_terminology(case, evaluator.vocabulary)
    patient = patient_of(case)
    fhir_server.add(responses.GET, f"{FHIR}/Patient/{patient['id']}", json=patient)
    fhir_server.add(responses.GET, f"{FHIR}/Observation", json=searchset(case, ("Observation",)))
    for kinds in SEARCHES.values():
        fhir_server.add(responses.GET, f"{FHIR}/{kinds[0]}", json=searchset(case, kinds))
    prefetched = post(hooks, "rls-iron", request_for(case))[1]
    status, body = post(hooks, "rls-iron", request_for(case, prefetched=False))
    assert status == 200, body
    check_advice(case, body)
    assert codes(body["cards"]) == codes(prefetched["cards"])
