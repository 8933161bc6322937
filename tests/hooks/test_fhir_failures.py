"""A FHIR server that fails, and prefetch that is missing: 412 for data the advice needs, a card for the rest."""
import pytest
import requests
import responses

from tests.hooks.conftest import FHIR, codes, fixture, post

EXT = "org.rls-cdss.reasoning"
FAILURES = {
    "401": {"status": 401, "json": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}},
    "500": {"status": 500, "body": "Internal Server Error"},
    "malformed JSON": {"status": 200, "body": '{"resourceType": "Bundle", "entry": [', "content_type": "application/fhir+json"},
    "timeout": {"body": requests.exceptions.ReadTimeout("read timed out")},
    "connection refused": {"body": requests.exceptions.ConnectionError("refused")},
    "not FHIR": {"status": 200, "json": ["a", "list"]},
    "OperationOutcome": {"status": 200, "json": {"resourceType": "OperationOutcome", "issue": []}},
}


def anna_with_fhir(omit):
    """Anna's full prefetch without the given keys, and a FHIR server to read them from."""
    request = fixture("anna-patient-view-full.json")
    for key in omit:
        del request["prefetch"][key]
    request["fhirServer"] = FHIR
    request["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer", "expires_in": 300,
                                    "scope": "user/*.rs", "subject": "rls-cdss"}
    return request


@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
def test_required_data_unobtainable_is_412(hooks, fhir_server, failure, caplog):
    fhir_server.add(responses.GET, f"{FHIR}/Observation", **FAILURES[failure])
    with caplog.at_level("INFO"):
        status, body = post(hooks, "rls-iron", anna_with_fhir(["labs"]))
    assert status == 412
    assert body["error"]["code"] == "precondition_failed"
    assert list(body["error"]["fields"]) == ["prefetch.labs"]
    assert "prefetch key labs unavailable" in caplog.text
    assert "secret-token" not in caplog.text and "pat-anna" not in caplog.text


@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
def test_optional_data_unobtainable_says_what_was_not_checked(hooks, fhir_server, failure):
    fhir_server.add(responses.GET, f"{FHIR}/MedicationRequest", **FAILURES[failure])
    status, body = post(hooks, "rls-iron", anna_with_fhir(["medications"]))
    assert status == 200
    assert "review_medication" not in codes(body["cards"])
    notice = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "data_unavailable")
    assert notice["indicator"] == "info" and "active medications" in notice["detail"]
    oral = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "oral_iron")
    assert "**Could not be checked:** active medications" in oral["detail"]


def test_missing_required_prefetch_without_a_fhir_server_is_412(hooks):
    request = fixture("anna-patient-view-full.json")
    del request["prefetch"]["conditions"]
    status, body = post(hooks, "rls-iron", request)
    assert status == 412 and "prefetch.conditions" in body["error"]["fields"]


def test_operation_outcome_in_place_of_prefetch_is_missing_and_not_refetched(hooks, fhir_server):
    request = anna_with_fhir([])
    request["prefetch"]["medications"] = {"resourceType": "OperationOutcome",
                                          "issue": [{"severity": "error", "code": "timeout"}]}
    status, body = post(hooks, "rls-iron", request)
    assert status == 200 and len(fhir_server.calls) == 0
    assert "data_unavailable" in codes(body["cards"])
    request["prefetch"]["labs"] = request["prefetch"]["medications"]
    status, body = post(hooks, "rls-iron", request)
    assert status == 412


def test_prefetch_of_the_wrong_patient_is_fetched_again(hooks, fhir_server):
    request = anna_with_fhir([])
    request["prefetch"]["patient"]["id"] = "someone-else"
    fhir_server.add(responses.GET, f"{FHIR}/Patient/pat-anna",
                    json={"resourceType": "Patient", "id": "pat-anna", "gender": "female", "birthDate": "1981-03-14"})
    status, _ = post(hooks, "rls-iron", request)
    assert status == 200 and len(fhir_server.calls) == 1


def test_a_patient_that_does_not_exist_is_no_data(hooks, fhir_server):
    request = anna_with_fhir(["patient"])
    fhir_server.add(responses.GET, f"{FHIR}/Patient/pat-anna", status=404)
    status, body = post(hooks, "rls-iron", request)
    assert status == 200 and body["cards"]


def test_resources_of_another_patient_are_ignored(hooks):
    request = fixture("anna-patient-view-full.json")
    for entry in request["prefetch"]["labs"]["entry"]:
        entry["resource"]["subject"]["reference"] = "Patient/someone-else"
    _, body = post(hooks, "rls-iron", request)
    assert "order_iron_studies" in codes(body["cards"])
    assert "labs of another patient" not in str(body)
    assert "Observation/anna-ferritin-2 is about another patient and was ignored" in str(body)


def test_next_page_elsewhere_is_never_followed_with_the_token(hooks, fhir_server):
    request = anna_with_fhir([])
    request["prefetch"]["labs"]["link"] = [{"relation": "next", "url": "https://attacker.example.com/fhir/Observation?page=2"}]
    status, body = post(hooks, "rls-iron", request)
    assert status == 412 and len(fhir_server.calls) == 0


def test_prefetched_bundle_with_more_pages_and_no_server_is_412(hooks):
    request = fixture("anna-patient-view-full.json")
    request["prefetch"]["conditions"]["link"] = [{"relation": "next", "url": f"{FHIR}/Condition?page=2"}]
    status, _ = post(hooks, "rls-iron", request)
    assert status == 412


def test_paging_stops_at_the_configured_number_of_pages(hooks, fhir_server):
    request = anna_with_fhir(["conditions"])
    page = {"resourceType": "Bundle", "type": "searchset",
            "entry": fixture("anna-patient-view-full.json")["prefetch"]["conditions"]["entry"],
            "link": [{"relation": "next", "url": f"{FHIR}/Condition?page=next"}]}
    fhir_server.add(responses.GET, f"{FHIR}/Condition", json=page)
    status, _ = post(hooks, "rls-iron", request)
    assert status == 200 and len(fhir_server.calls) == 5  # FHIR_MAX_PAGES in the test app
