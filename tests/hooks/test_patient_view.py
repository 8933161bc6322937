"""rls-iron on patient-view: full prefetch, partial prefetch read from FHIR (with paging), null prefetch."""
from urllib.parse import parse_qs, urlsplit

import responses

from schemas.hooks import CardSchema, HookResponseSchema
from tests.hooks.conftest import FHIR, FIXTURES, codes, fixture, post

EXT = "org.rls-cdss.reasoning"


def card_for(cards, code):
    return next(card for card in cards if card["extension"][EXT]["recommendation"] == code)


def test_full_prefetch_needs_no_fhir_server(hooks, fhir_server):
    status, body = post(hooks, "rls-iron", fixture("anna-patient-view-full.json"))
    assert status == 200
    assert HookResponseSchema().validate(body) == {}
    assert len(fhir_server.calls) == 0
    trace = body["cards"][0]["extension"][EXT]
    # Anna's sertraline is reviewed but is not a secondary cause: new or worse RLS is uncommon (Kolla 2018)
    assert trace["classification"] == {"type": "secondary", "causes": ["iron_deficiency"]}
    assert {"oral_iron", "review_medication"} <= set(codes(body["cards"]))
    assert "order_iron_studies" not in codes(body["cards"])


def test_most_recent_final_result_per_test_in_canonical_units(hooks):
    _, body = post(hooks, "rls-iron", fixture("anna-patient-view-full.json"))
    oral = card_for(body["cards"], "oral_iron")
    facts = oral["extension"][EXT]["facts"]
    # 32 ug/L of 2026-10-02, not the preliminary 300 of 2026-11-20 nor the older 150 ng/mL
    assert facts["ferritin_ng_ml"] == 32 and facts["tsat_percent"] == 15
    assert "Observation/anna-ferritin-2" in oral["extension"][EXT]["evidence"]
    assert "Observation/anna-ferritin-prelim" not in oral["extension"][EXT]["evidence"]
    assert "Ferritin 32 ng/mL with TSAT 15%" in oral["detail"]


def test_refuted_and_resolved_conditions_are_not_used(hooks):
    _, body = post(hooks, "rls-iron", fixture("anna-patient-view-full.json"))
    # a refuted hemochromatosis would withhold iron; a resolved CKD would be a renal cause
    assert "oral_iron" in codes(body["cards"])
    assert "renal_disease" not in body["cards"][0]["extension"][EXT]["classification"]["causes"]


def test_cards_follow_the_spec(hooks):
    _, body = post(hooks, "rls-iron", fixture("anna-patient-view-full.json"))
    for card in body["cards"]:
        assert CardSchema().validate(card) == {}, card["summary"]
        assert len(card["summary"]) < 140
        assert card["source"]["label"] and card["source"]["topic"]["system"]
        assert card["uuid"] and (card["extension"][EXT].get("rules") or codes([card]) == ["data_unavailable"])
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
        for reason in card.get("overrideReasons", []):
            assert reason["display"]


def test_oral_iron_is_proposed_as_a_draft_medication_request(hooks):
    _, body = post(hooks, "rls-iron", fixture("anna-patient-view-full.json"))
    (suggestion,) = card_for(body["cards"], "oral_iron")["suggestions"]
    (action,) = suggestion["actions"]
    resource = action["resource"]
    assert action["type"] == "create"
    assert (resource["resourceType"], resource["status"], resource["intent"]) == ("MedicationRequest", "draft", "proposal")
    assert resource["subject"] == {"reference": "Patient/pat-anna"}
    assert resource["encounter"] == {"reference": "Encounter/enc-7"}
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "24947"


def test_hook_evaluations_are_audited_and_cards_kept(hooks, hooks_app):
    _, body = post(hooks, "rls-iron", fixture("anna-patient-view-full.json"))
    evaluation_id = body["cards"][0]["extension"][EXT]["evaluation_id"]
    record = hooks.get(f"/api/v1/evaluations/{evaluation_id}").get_json()
    assert record["source"] == "cds-hooks:rls-iron"
    assert record["patient_hash"] and "pat-anna" not in str(record)
    card = hooks_app.extensions["cdss.store"].get_card(body["cards"][0]["uuid"])
    assert card.evaluation_id == evaluation_id and card.service_id == "rls-iron"
    assert card.rule_ids == body["cards"][0]["extension"][EXT]["rules"] or card.rule_ids


def test_partial_prefetch_reads_the_rest_from_fhir_following_pages(hooks, fhir_server):
    token_seen = []

    def page(name):
        def answer(request):
            token_seen.append(request.headers.get("Authorization"))
            return 200, {"Content-Type": "application/fhir+json"}, (FIXTURES / name).read_text()
        return answer

    fhir_server.add_callback(responses.GET, f"{FHIR}/Observation?_getpages=ben-labs&_page=2",
                             callback=page("ben-labs-page2.json"),
                             match=[responses.matchers.query_param_matcher({"_getpages": "ben-labs", "_page": "2"})])
    fhir_server.add_callback(responses.GET, f"{FHIR}/Observation", callback=page("ben-labs-page1.json"),
                             match=[responses.matchers.query_param_matcher(
                                 {"patient": "pat-ben", "_sort": "-date", "_count": "100"}, strict_match=False)])
    fhir_server.add_callback(responses.GET, f"{FHIR}/Condition", callback=page("ben-conditions.json"))
    fhir_server.add_callback(responses.GET, f"{FHIR}/MedicationRequest", callback=page("ben-medications.json"))
    fhir_server.add(responses.GET, f"{FHIR}/MedicationStatement", json={"resourceType": "Bundle", "type": "searchset"})
    fhir_server.add(responses.GET, f"{FHIR}/MedicationAdministration", json={"resourceType": "Bundle", "type": "searchset"})
    fhir_server.add(responses.GET, f"{FHIR}/AllergyIntolerance", json={"resourceType": "Bundle", "type": "searchset"})
    fhir_server.add_callback(responses.GET, f"{FHIR}/Observation", callback=page("ben-pregnancy.json"),
                             match=[responses.matchers.query_param_matcher({"patient": "pat-ben", "_sort": "-date",
                                                                            "_count": "20"}, strict_match=False)])
    status, body = post(hooks, "rls-iron", fixture("ben-patient-view-partial.json"))
    assert status == 200, body
    urls = [urlsplit(call.request.url) for call in fhir_server.calls]
    assert {url.path for url in urls} == {"/fhir/Observation", "/fhir/Condition", "/fhir/MedicationRequest",
                                          "/fhir/MedicationStatement", "/fhir/MedicationAdministration",
                                          "/fhir/AllergyIntolerance"}
    assert not any(url.path.endswith("/Patient/pat-ben") for url in urls)  # prefetched: not fetched again
    labs = next(parse_qs(url.query) for url in urls if "2276-4" in url.query)
    assert labs["code"][0].split(",")[:2] == ["2276-4", "20567-4"]
    assert set(token_seen) == {"Bearer ben-fhir-token"}
    trace = body["cards"][0]["extension"][EXT]
    assert trace["classification"]["causes"] == ["iron_deficiency", "renal_disease", "medication"]
    assert "iv_iron_sucrose" in codes(body["cards"])  # dialysis: ferritin 150 ng/mL (337.05 pmol/L), TSAT 15%
    iv = card_for(body["cards"], "iv_iron_sucrose")["extension"][EXT]
    assert iv["facts"]["ferritin_ng_ml"] == 150
    assert "Observation/ben-hb" in iv["evidence"]  # from page 2


def test_null_prefetch_means_no_data_and_is_not_fetched(hooks, fhir_server):
    request = fixture("cara-patient-view-null.json")
    request["fhirServer"] = FHIR  # a server is there, but null means "no such data": nothing is fetched
    status, body = post(hooks, "rls-iron", request)
    assert status == 200
    assert len(fhir_server.calls) == 0
    trace = body["cards"][0]["extension"][EXT]
    assert "pregnancy" not in trace["classification"]["causes"]
    assert "data_unavailable" not in codes(body["cards"])
    assert "pregnancy" in trace["missing"]  # pregnancy status not recorded: asked for, not guessed


def test_pregnancy_and_trimester_from_observations(hooks):
    _, body = post(hooks, "rls-iron", fixture("cara-patient-view-full.json"))
    trace = body["cards"][0]["extension"][EXT]
    assert trace["classification"]["causes"][:2] == ["iron_deficiency", "pregnancy"]
    assert "oral_iron" in codes(body["cards"])
    iv = card_for(body["cards"], "iv_iron_alternative")  # 2nd/3rd trimester, ferritin < 35
    assert iv["extension"][EXT]["facts"]["trimester"] == 3


def test_no_restless_legs_on_the_problem_list_no_cards(hooks):
    status, body = post(hooks, "rls-iron", fixture("dan-patient-view-full.json"))
    assert (status, body) == (200, {"cards": []})


def test_missing_labs_are_ordered_with_service_requests(hooks):
    request = fixture("anna-patient-view-full.json")
    request["prefetch"]["labs"] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    _, body = post(hooks, "rls-iron", request)
    card = card_for(body["cards"], "order_iron_studies")
    (suggestion,) = card["suggestions"]
    ordered = [action["resource"]["code"]["coding"][0]["code"] for action in suggestion["actions"]]
    assert ordered == ["2276-4", "2498-4", "2500-7"]
    assert all(action["resource"]["resourceType"] == "ServiceRequest" and action["resource"]["status"] == "draft"
               for action in suggestion["actions"])


def test_a_realistic_prefetch_larger_than_a_native_context_is_accepted(hooks):
    request = fixture("anna-patient-view-full.json")
    entries = request["prefetch"]["labs"]["entry"]
    for index in range(300):  # three hundred older results, as an EHR sends them
        old = {**entries[-1]["resource"], "id": f"old-{index}", "effectiveDateTime": f"20{10 + index % 10}-01-01"}
        entries.append({"resource": old})
    status, body = post(hooks, "rls-iron", request)
    assert status == 200 and "oral_iron" in codes(body["cards"])


def test_a_hook_call_over_its_own_size_limit_is_413_naming_that_limit(hooks, hooks_app):
    limit = hooks_app.config["HOOKS_MAX_BODY_BYTES"]
    assert limit > hooks_app.config["MAX_CONTENT_LENGTH"]
    body = fixture("anna-patient-view-full.json")
    body["padding"] = "x" * (hooks_app.config["MAX_CONTENT_LENGTH"] + 1)  # over the native limit, under this one
    assert post(hooks, "rls-iron", body)[0] != 413
    body["padding"] = "x" * (limit + 1)
    status, answer = post(hooks, "rls-iron", body)
    assert status == 413
    assert str(limit) in answer["error"]["message"] and str(limit) in answer["error"]["fields"]["_body"][0]
