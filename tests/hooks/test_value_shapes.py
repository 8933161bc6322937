"""Value shapes real EHRs send: censored and text results, malformed resources, nothing silent."""
import copy

import pytest
import responses

from cdss.hooks.values import Reading, decided, lab_thresholds, read_value, undecided_threshold
from tests.hooks.conftest import FHIR, codes, fixture, post

EXT = "org.rls-cdss.reasoning"
UCUM = "http://unitsofmeasure.org"


def anna():
    return fixture("anna-patient-view-full.json")


def lab(request, resource_id):
    """The lab Observation of Anna's prefetch with this id (to change in place)."""
    return next(entry["resource"] for entry in request["prefetch"]["labs"]["entry"]
                if entry["resource"]["id"] == resource_id)


def card(body, code):
    return next(item for item in body["cards"] if item["extension"][EXT]["recommendation"] == code)


def not_checked(body):
    return card(body, "data_unavailable")["detail"]


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueQuantity": {"value": 5, "comparator": "<", "unit": "ng/mL"}}, Reading(5.0, "ng/mL", "<")),
    ({"valueString": "<5"}, Reading(5.0, None, "<")),
    ({"valueString": " >= 1000 ng/mL"}, Reading(1000.0, "ng/mL", ">=")),
    ({"valueString": "5.0"}, Reading(5.0, None)),
    ({"valueString": "≤12 %"}, Reading(12.0, "%", "<=")),
    ({"valueString": "5.0", "referenceRange": [{"low": {"value": 30, "unit": "ng/mL"}}]}, Reading(5.0, "ng/mL")),
    ({"valueInteger": 30, "referenceRange": [{"high": {"value": 400, "system": UCUM, "code": "ug/L"}}]},
     Reading(30.0, "ug/L")),
])
def test_value_shapes_are_read(value, expected):
    assert read_value({"resourceType": "Observation", **value}) == expected


@pytest.mark.parametrize("value", [
    {"valueQuantity": {"value": 10 ** 400, "unit": "ng/mL"}}, {"valueQuantity": {"value": True, "unit": "%"}},
    {"valueQuantity": {"value": 5, "comparator": "~", "unit": "%"}}, {"valueString": "positive"},
    {"valueString": "1e999"}, {"valueString": "9" * 401}])
def test_unreadable_values_are_refused_with_a_reason(value):
    with pytest.raises(ValueError, match="number|comparator"):
        read_value({"resourceType": "Observation", **value})


@pytest.mark.parametrize(("operator", "threshold", "low", "high", "same"), [
    ("<=", 75, 0, 5, True), ("<", 5, 0, 5, False), ("<", 5.1, 0, 5, True), (">=", 300, 1000, 100000, True),
    ("<=", 75, 0, 100, False), (">", 1000, 1000, 100000, False), ("==", 3, 5, 10, True), ("==", 7, 5, 10, False)])
def test_a_decision_is_the_same_across_an_interval_only_when_the_threshold_lies_outside(
        operator, threshold, low, high, same):
    assert decided(operator, threshold, low, high) is same


def test_the_thresholds_are_read_from_the_loaded_rules(knowledge):
    thresholds = lab_thresholds(knowledge)
    assert ("<=", 75.0) in thresholds["ferritin"] and ("<", 45.0) in thresholds["tsat"]
    assert undecided_threshold("ferritin", Reading(5, "ng/mL", "<"), thresholds) is None
    assert undecided_threshold("ferritin", Reading(100, "ng/mL", "<"), thresholds) is not None


def test_a_ferritin_below_the_assay_limit_is_used_as_its_bound(hooks):
    request = anna()
    lab(request, "anna-ferritin-2")["valueQuantity"] = {"value": 5, "comparator": "<", "unit": "ng/mL",
                                                       "system": UCUM, "code": "ng/mL"}
    status, body = post(hooks, "rls-iron", request)
    assert status == 200
    oral = card(body, "oral_iron")
    assert oral["extension"][EXT]["facts"]["ferritin_ng_ml"] == 5
    assert "ferritin was reported as &lt;5 ng/mL" in oral["detail"]
    assert "ferritin" not in oral["extension"][EXT]["missing"]


def test_a_text_ferritin_above_the_assay_limit_is_used_as_its_bound(hooks):
    request = anna()
    observation = lab(request, "anna-ferritin-2")
    del observation["valueQuantity"]
    observation["valueString"] = ">1000 ng/mL"
    _, body = post(hooks, "rls-iron", request)
    assert "oral_iron" not in codes(body["cards"]) and "order_iron_studies" not in codes(body["cards"])
    trace = body["cards"][0]["extension"][EXT]
    assert "ferritin was reported as >1000 ng/mL" in " ".join(trace["reported_as"])


def test_a_censored_ferritin_across_a_threshold_could_not_be_checked_never_not_recorded(hooks):
    request = anna()
    lab(request, "anna-ferritin-2")["valueQuantity"] = {"value": 100, "comparator": "<", "unit": "ng/mL"}
    _, body = post(hooks, "rls-iron", request)
    words = not_checked(body)
    assert "ferritin result &lt;100 ng/mL (Observation/anna-ferritin-2) could not be checked" in words
    for item in body["cards"]:
        assert "ferritin" not in item["extension"][EXT]["missing"]
        assert "Not recorded:** ferritin" not in item.get("detail", "")
    assert "Observation/anna-ferritin-2: censored <100 ng/mL" in body["cards"][0]["extension"][EXT]["unrecognized"]["labs"]
    assert "oral_iron" not in codes(body["cards"])  # the rules cannot say ferritin <= 75


def test_a_numeric_text_result_is_read(hooks):
    request = anna()
    observation = lab(request, "anna-ferritin-2")
    del observation["valueQuantity"]
    observation["valueString"] = "32.0"
    observation["referenceRange"] = [{"low": {"value": 30, "unit": "ug/L"}, "high": {"value": 400, "unit": "ug/L"}}]
    _, body = post(hooks, "rls-iron", request)
    assert card(body, "oral_iron")["extension"][EXT]["facts"]["ferritin_ng_ml"] == 32


MALFORMED = {
    "DSTU2 clinicalStatus": ("conditions", 2, {"clinicalStatus": "active"}, "clinicalStatus is not a CodeableConcept"),
    "code as a string": ("conditions", 1, {"code": "E83.110"}, "code is not a CodeableConcept"),
    "coding not a list": ("conditions", 1, {"code": {"coding": {"code": "E83.110"}}}, "code.coding is not a list"),
    "subject a string": ("labs", 0, {"subject": "Patient/pat-anna"}, "subject is not an object"),
    "valueQuantity a number": ("labs", 2, {"valueQuantity": 15}, "valueQuantity is not an object"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_resource_is_dropped_and_named_the_rest_goes_on(hooks, case):
    key, index, change, reason = MALFORMED[case]
    request = anna()
    resource = request["prefetch"][key]["entry"][index]["resource"]
    resource.update(copy.deepcopy(change))
    status, body = post(hooks, "rls-iron", request)
    assert status == 200, body
    assert f"{resource['resourceType']}/{resource['id']} could not be read ({reason}" in not_checked(body)
    unrecognized = body["cards"][-1]["extension"][EXT]["unrecognized"]["resources"]
    assert any(item.startswith(f"{resource['resourceType']}/{resource['id']}") for item in unrecognized)


def test_a_401_digit_ferritin_is_named_and_the_rest_of_the_call_goes_on(hooks):
    request = anna()
    lab(request, "anna-ferritin-2")["valueQuantity"]["value"] = 10 ** 400
    status, body = post(hooks, "rls-iron", request)
    assert status == 200
    assert "the ferritin result Observation/anna-ferritin-2 could not be read: valueQuantity.value is not a " \
           "plausible number" in not_checked(body)
    trace = body["cards"][0]["extension"][EXT]
    assert "ferritin" not in trace["missing"] and "ferritin_ng_ml" not in str(trace["facts"])  # not the older 150
    assert "oral_iron" not in codes(body["cards"]) and "order_iron_studies" not in codes(body["cards"])
    assert trace["evidence"]  # TSAT, hemoglobin, folate and the problem list were still used


def test_a_gestational_age_in_weeks_spelled_as_ehrs_do(hooks):
    request = fixture("cara-patient-view-full.json")
    for entry in request["prefetch"]["pregnancy"]["entry"]:
        quantity = entry["resource"].get("valueQuantity")
        if quantity:
            quantity.update({"unit": "weeks", "code": "{week}"})
    _, body = post(hooks, "rls-iron", request)
    assert card(body, "iv_iron_alternative")["extension"][EXT]["facts"]["trimester"] == 3
    assert "gestational age" not in str(body["cards"])


def test_unknown_condition_codes_and_medications_are_said_in_words(hooks):
    request = anna()
    request["prefetch"]["conditions"]["entry"].append({"resource": {
        "resourceType": "Condition", "id": "anna-local", "subject": {"reference": "Patient/pat-anna"},
        "clinicalStatus": {"coding": [{"code": "active"}]}, "code": {"text": "Tired all the time"}}})
    request["prefetch"]["conditions"]["entry"].append({"resource": {
        "resourceType": "Condition", "id": "anna-q99", "subject": {"reference": "Patient/pat-anna"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Q99.9"}]}}})
    _, body = post(hooks, "rls-iron", request)
    words = not_checked(body)
    assert "the condition 'Tired all the time' (Condition/anna-local) is not coded in ICD-10-CM or SNOMED CT" in words
    assert "ICD-10-CM Q99.9" in words


def test_a_patient_the_fhir_server_does_not_have_is_said(hooks, fhir_server):
    request = anna()
    del request["prefetch"]["patient"]
    request["fhirServer"] = FHIR
    fhir_server.add(responses.GET, f"{FHIR}/Patient/pat-anna", status=404)
    status, body = post(hooks, "rls-iron", request)
    assert status == 200
    assert "the patient's record (Patient) could not be read" in not_checked(body)


def test_a_prefetched_patient_of_another_id_is_412_saying_so(hooks):
    request = anna()
    request["prefetch"]["patient"]["id"] = "someone-else"
    status, body = post(hooks, "rls-iron", request)
    assert status == 412
    assert body["error"]["fields"]["prefetch.patient"] == [
        "the prefetched Patient's id (someone-else) is not context.patientId (pat-anna), and no fhirServer to fetch "
        "it from"]


def test_medication_statements_and_external_medications_are_read(hooks, fhir_server):
    request = anna()
    request["fhirServer"] = FHIR
    request["prefetch"]["medications"]["entry"][0]["resource"].pop("medicationCodeableConcept")
    request["prefetch"]["medications"]["entry"][0]["resource"]["medicationReference"] = {"reference": "Medication/m1"}
    request["prefetch"]["statements"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "MedicationStatement", "id": "st1", "status": "active", "subject": {"reference": "Patient/pat-anna"},
        "medicationCodeableConcept": {"text": "Benadryl 25 mg at night"}}}]}
    fhir_server.add(responses.GET, f"{FHIR}/Medication/m1", json={
        "resourceType": "Medication", "id": "m1", "code": {"coding": [{
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "312940",
            "display": "sertraline 50 MG Oral Tablet"}]}})
    _, body = post(hooks, "rls-iron", request)
    review = card(body, "review_medication")["extension"][EXT]
    assert {"sertraline", "diphenhydramine"} <= {entry["facts"].get("medication") for entry in review["reasoning"]}
    assert {"MedicationRequest/anna-sertraline", "MedicationStatement/st1"} <= set(review["evidence"])


def test_an_external_medication_that_cannot_be_read_is_said(hooks, fhir_server):
    request = anna()
    request["fhirServer"] = FHIR
    request["prefetch"]["medications"]["entry"][0]["resource"].pop("medicationCodeableConcept")
    request["prefetch"]["medications"]["entry"][0]["resource"]["medicationReference"] = {"reference": "Medication/m1"}
    fhir_server.add(responses.GET, f"{FHIR}/Medication/m1", status=500)
    _, body = post(hooks, "rls-iron", request)
    assert "the medication of MedicationRequest/anna-sertraline could not be read (Medication/m1 was not available)" \
        in not_checked(body)


def test_a_draft_order_the_service_cannot_identify_gets_a_card(hooks):
    request = fixture("anna-order-select-metoclopramide.json")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "99999991"}]}
    status, body = post(hooks, "rls-medication-safety", request)
    assert status == 200
    (only,) = [item for item in body["cards"] if item["extension"][EXT]["recommendation"] == "medication_not_checked"]
    assert f"RxNorm 99999991 (MedicationRequest/{draft['id']})" in only["detail"]
    assert only["indicator"] == "info" and len(only["summary"]) < 140
