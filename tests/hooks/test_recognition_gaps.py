"""Issue 10 on CDS Hooks: TSAT as a fraction, known drugs outside RLS are silent, and whatever was dropped is
said even when no other card fires (an unreadable Condition may be the RLS diagnosis itself)."""
import pytest

from schemas.hooks import HookResponseSchema
from tests.hooks.conftest import codes, fixture, post

EXT = "org.rls-cdss.reasoning"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


def with_draft(concept, hook="order-select"):
    """Anna's order-select (or order-sign) call with one draft MedicationRequest of this drug."""
    request = fixture("anna-order-select-metoclopramide.json")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = concept
    request["context"]["draftOrders"]["entry"] = [{"resource": draft}]
    if hook == "order-sign":
        request["hook"] = "order-sign"
        del request["context"]["selections"]
    return request


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize("concept", [
    {"coding": [{"system": RX, "code": "314076", "display": "lisinopril 10 MG Oral Tablet"}]},
    {"coding": [{"system": RX, "code": "617310"}], "text": "atorvastatin 20 MG Oral Tablet"},
    {"coding": [{"system": RX, "code": "861007"}]},  # metformin 500 MG: the code alone
    {"text": "Lisinopril 10 mg tablet"},  # the text alone
], ids=["lisinopril-scd", "atorvastatin", "metformin-code-only", "lisinopril-text-only"])
def test_an_ordinary_drug_is_silent(hooks, concept, hook):
    assert post(hooks, "rls-medication-safety", with_draft(concept, hook)) == (200, {"cards": []})


@pytest.mark.parametrize("concept, named", [
    ({"coding": [{"system": RX, "code": "99999999"}]}, "RxNorm 99999999"),
    ({"text": "Zorblax 10 mg tablet"}, "Zorblax 10 mg tablet"),
    ({"text": "tramadol 50 MG Oral Tablet"}, "tramadol"),  # a class that bears on RLS, not in the value sets
], ids=["unknown-code", "unknown-name", "unchecked-class"])
def test_an_unknown_drug_still_gets_the_could_not_be_identified_card(hooks, concept, named):
    status, body = post(hooks, "rls-medication-safety", with_draft(concept))
    assert status == 200
    assert codes(body["cards"])[0] == "medication_not_checked"
    assert named in body["cards"][0]["detail"]


def only_rls_malformed(request, key="conditions"):
    """The call with the RLS Condition in DSTU2 shape (clinicalStatus a string) and the others removed."""
    bundle = request["prefetch"][key]
    rls = next(entry for entry in bundle["entry"] if entry["resource"]["id"] == "anna-rls")
    rls["resource"]["clinicalStatus"] = "active"
    bundle["entry"] = [rls]
    return request


@pytest.mark.parametrize("service, name", [("rls-iron", "anna-patient-view-full.json"),
                                           ("rls-medication-safety", "anna-order-select-metoclopramide.json"),
                                           ("rls-medication-safety", "anna-order-sign-ondansetron.json")])
def test_a_malformed_only_rls_condition_is_said_not_silent(hooks, service, name):
    status, body = post(hooks, service, only_rls_malformed(fixture(name)))
    assert status == 200
    (card,) = body["cards"]
    assert codes(body["cards"]) == ["data_unavailable"] and card["indicator"] == "info"
    assert "Condition/anna-rls could not be read (clinicalStatus is not a CodeableConcept)" in card["detail"]
    assert "No restless legs syndrome was found on the problem list" in card["detail"]
    assert card["extension"][EXT]["unrecognized"]["resources"] == [
        "Condition/anna-rls: clinicalStatus is not a CodeableConcept"]


def test_nothing_dropped_and_no_rls_stays_empty(hooks):
    request = fixture("anna-order-select-metoclopramide.json")
    request["prefetch"]["conditions"]["entry"] = []
    assert post(hooks, "rls-medication-safety", request) == (200, {"cards": []})


def test_a_dropped_resource_is_said_on_order_sign_without_another_card(hooks):
    request = fixture("anna-order-sign-ondansetron.json")
    bundle = request["prefetch"]["conditions"]
    broken = {"resourceType": "Condition", "id": "broken", "code": [{"text": "a list, not a concept"}],
              "subject": {"reference": "Patient/pat-anna"}}
    bundle["entry"].append({"resource": broken})
    status, body = post(hooks, "rls-medication-safety", request)
    assert status == 200
    assert codes(body["cards"]) == ["data_unavailable"]
    assert "Condition/broken could not be read" in body["cards"][0]["detail"]


def tsat_call(value, code):
    """Anna's patient-view with her TSAT results replaced by one, in the given UCUM unit."""
    request = fixture("anna-patient-view-full.json")
    entries = request["prefetch"]["labs"]["entry"]
    tsat = next(entry for entry in entries if entry["resource"]["id"].startswith("anna-tsat"))
    entries[:] = [entry for entry in entries if not entry["resource"]["id"].startswith("anna-tsat")] + [tsat]
    tsat["resource"]["valueQuantity"] = {"value": value, "unit": code, "system": UCUM, "code": code}
    return request


def test_tsat_as_a_fraction_is_read_on_fhir(hooks):
    status, body = post(hooks, "rls-iron", tsat_call(0.12, "1"))
    assert status == 200
    facts = [card["extension"][EXT].get("facts", {}) for card in body["cards"]]
    assert any(fact.get("tsat_percent") == 12.0 for fact in facts), facts


def test_a_percentage_sent_as_a_fraction_is_named_on_fhir_not_reinterpreted(hooks):
    status, body = post(hooks, "rls-iron", tsat_call(12, "1"))
    assert status == 200
    facts = [card["extension"][EXT].get("facts", {}) for card in body["cards"]]
    assert not any("tsat_percent" in fact for fact in facts)
    notice = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "data_unavailable")
    assert "transferrin saturation result could not be used" in notice["detail"]
    assert "not a fraction between 0 and 1" in notice["detail"]
    assert all("tsat" not in card["extension"][EXT]["missing"] for card in body["cards"])  # on record, not missing


def test_without_rls_an_unusable_lab_value_is_not_a_card_but_a_malformed_resource_is(hooks):
    request = fixture("anna-patient-view-full.json")
    request["prefetch"]["conditions"]["entry"] = []  # no RLS; her preliminary ferritin stays
    assert post(hooks, "rls-iron", request) == (200, {"cards": []})
    labs = request["prefetch"]["labs"]["entry"]
    labs.append({"resource": {"resourceType": "Observation", "id": "broken", "status": "final",
                              "code": {"coding": {"system": "http://loinc.org", "code": "2276-4"}}}})
    status, body = post(hooks, "rls-iron", request)
    assert status == 200 and HookResponseSchema().validate(body) == {}
    (card,) = body["cards"]
    assert "Observation/broken could not be read" in card["detail"] and "preliminary" not in card["detail"]
