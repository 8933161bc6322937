"""The same patient through the native API and through CDS Hooks: the same classification and advice."""
import pytest
import responses

from cdss.hooks.cards import prune
from tests.hooks.conftest import FHIR, FIXTURES, codes, fixture, post

EXT = "org.rls-cdss.reasoning"


def ben_fhir_server(mock):
    """Ben's data on the FHIR server (his request prefetches only the Patient)."""
    def serve(name):
        return lambda request: (200, {"Content-Type": "application/fhir+json"}, (FIXTURES / name).read_text())
    match = responses.matchers.query_param_matcher
    mock.add_callback(responses.GET, f"{FHIR}/Observation", callback=serve("ben-labs-page2.json"),
                      match=[match({"_getpages": "ben-labs", "_page": "2"})])
    mock.add_callback(responses.GET, f"{FHIR}/Observation", callback=serve("ben-labs-page1.json"),
                      match=[match({"_count": "100"}, strict_match=False)])
    mock.add_callback(responses.GET, f"{FHIR}/Observation", callback=serve("ben-pregnancy.json"),
                      match=[match({"_count": "20"}, strict_match=False)])
    mock.add_callback(responses.GET, f"{FHIR}/Condition", callback=serve("ben-conditions.json"))
    mock.add_callback(responses.GET, f"{FHIR}/MedicationRequest", callback=serve("ben-medications.json"))
    mock.add(responses.GET, f"{FHIR}/MedicationStatement", json={"resourceType": "Bundle", "type": "searchset"})
    mock.add(responses.GET, f"{FHIR}/MedicationAdministration", json={"resourceType": "Bundle", "type": "searchset"})
    mock.add(responses.GET, f"{FHIR}/AllergyIntolerance", json={"resourceType": "Bundle", "type": "searchset"})


@pytest.mark.parametrize(("native", "request_"), [("anna-native.json", "anna-patient-view-full.json"),
                                                  ("ben-native.json", "ben-patient-view-partial.json")])
def test_native_and_cds_hooks_agree(hooks, fhir_server, native, request_):
    ben_fhir_server(fhir_server)
    direct = hooks.post("/api/v1/evaluate", json=fixture(native)).get_json()
    status, body = post(hooks, "rls-iron", fixture(request_))
    assert status == 200
    trace = body["cards"][0]["extension"][EXT]
    assert trace["classification"]["type"] == direct["classification"]["type"]
    assert trace["classification"]["causes"] == direct["classification"]["causes"]
    assert [code for code in codes(body["cards"]) if code != "data_unavailable"] == \
        [item["code"] for item in direct["recommendations"]]
    assert trace["missing"] == direct["missing"]
    for card in (card for card in body["cards"] if codes([card]) != ["data_unavailable"]):
        recommendation = next(item for item in direct["recommendations"]
                              if item["code"] == card["extension"][EXT]["recommendation"])
        assert card["indicator"] == recommendation["indicator"]
        assert card["extension"][EXT]["reasoning"] == prune(recommendation["reasoning"])  # no empty members
    stored = [hooks.get(f"/api/v1/evaluations/{evaluation}").get_json()
              for evaluation in (direct["evaluation_id"], trace["evaluation_id"])]
    assert stored[0]["fired_rules"] == stored[1]["fired_rules"]
    assert (stored[0]["source"], stored[1]["source"]) == ("native", "cds-hooks:rls-iron")
    assert stored[0]["patient_hash"] == stored[1]["patient_hash"]  # the same patient, linked by the salted hash
