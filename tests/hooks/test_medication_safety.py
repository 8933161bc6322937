"""rls-medication-safety on order-select and order-sign: draft orders that worsen RLS."""
from schemas.hooks import HookResponseSchema
from tests.hooks.conftest import fixture, post

EXT = "org.rls-cdss.reasoning"


def test_dopamine_antagonist_draft_order_is_a_warning(hooks):
    status, body = post(hooks, "rls-medication-safety", fixture("anna-order-select-metoclopramide.json"))
    assert status == 200 and HookResponseSchema().validate(body) == {}
    (card,) = body["cards"]
    assert card["indicator"] == "warning"
    assert card["summary"] == "Metoclopramide (dopamine-antagonist antiemetic) can worsen restless legs syndrome."
    assert "domperidone" in card["detail"]  # the safer alternative
    assert "**Evidence:**" in card["detail"]
    trace = card["extension"][EXT]
    assert trace["rules"] == [{"rule": "medications.worsening", "version": "2.0.0"}]
    assert trace["facts"]["medication"] == "metoclopramide"
    assert trace["draft_order"] == "MedicationRequest/draft-metoclopramide"
    (suggestion,) = card["suggestions"]
    assert suggestion["actions"] == [{"type": "delete", "resourceId": "MedicationRequest/draft-metoclopramide",
                                      "description": "Remove the draft order for metoclopramide"}]
    assert card["selectionBehavior"] == "at-most-one"


def test_only_the_selected_orders_are_checked_on_order_select(hooks):
    request = fixture("anna-order-select-metoclopramide.json")
    request["context"]["selections"] = ["MedicationRequest/draft-ondansetron"]
    status, body = post(hooks, "rls-medication-safety", request)
    assert (status, body) == (200, {"cards": []})  # ondansetron does not worsen RLS


def test_order_sign_checks_every_draft(hooks):
    request = fixture("anna-order-sign-ondansetron.json")
    request["context"]["draftOrders"]["entry"].append(
        fixture("anna-order-select-metoclopramide.json")["context"]["draftOrders"]["entry"][0])
    status, body = post(hooks, "rls-medication-safety", request)
    assert status == 200
    assert [card["extension"][EXT]["facts"]["medication"] for card in body["cards"]] == ["metoclopramide"]


def test_active_medications_do_not_raise_cards_on_order_hooks(hooks):
    # Anna takes sertraline; the order hook speaks only of what is being ordered
    _, body = post(hooks, "rls-medication-safety", fixture("anna-order-sign-ondansetron.json"))
    assert body == {"cards": []}


def test_no_restless_legs_no_warning(hooks):
    request = fixture("anna-order-select-metoclopramide.json")
    request["prefetch"]["conditions"]["entry"] = []
    assert post(hooks, "rls-medication-safety", request) == (200, {"cards": []})


def test_low_evidence_drug_is_information(hooks):
    request = fixture("anna-order-select-metoclopramide.json")
    concept = request["context"]["draftOrders"]["entry"][0]["resource"]["medicationCodeableConcept"]
    concept["coding"] = [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "38404"}]
    concept["text"] = "Topamax 25 mg"
    (card,) = post(hooks, "rls-medication-safety", request)[1]["cards"]
    assert card["indicator"] == "info" and "case reports only" in card["detail"]


def test_the_wrong_hook_for_a_service_is_refused(hooks):
    request = fixture("anna-patient-view-full.json")
    status, body = post(hooks, "rls-medication-safety", request)
    assert status == 400 and "hook" in body["error"]["fields"]


def test_order_select_needs_selections_and_draft_orders(hooks):
    request = fixture("anna-order-select-metoclopramide.json")
    del request["context"]["selections"]
    request["context"]["draftOrders"] = {"resourceType": "Patient"}
    status, body = post(hooks, "rls-medication-safety", request)
    assert status == 400
    assert set(body["error"]["fields"]) == {"selections", "draftOrders"}


def test_the_problem_list_is_required(hooks):
    request = fixture("anna-order-select-metoclopramide.json")
    del request["prefetch"]["conditions"]
    assert post(hooks, "rls-medication-safety", request)[0] == 412
