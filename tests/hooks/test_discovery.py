"""Discovery generated from the service definitions; hook requests validated as the spec says."""
import pytest

from cdss.hooks.services import SERVICES, discovery
from tests.hooks.conftest import fixture, post


def test_discovery_lists_every_service_once_with_its_hook(hooks):
    response = hooks.get("/cds-services")
    assert response.status_code == 200
    services = response.get_json()["services"]
    assert services == discovery()["services"]
    assert [(item["id"], item["hook"]) for item in services] == [
        ("rls-iron", "patient-view"), ("rls-medication-safety", "order-select"),
        ("rls-medication-safety-sign", "order-sign")]
    # one URL, one hook: an EHR registers services by id, so no id may be listed twice
    assert len({item["id"] for item in services}) == len(services)
    for item in services:
        assert item["title"] and item["description"] and item["usageRequirements"]
        assert set(item["prefetch"]) == set(SERVICES[item["id"]].prefetch)


def test_prefetch_templates_use_context_tokens_and_r4_search(hooks):
    prefetch = hooks.get("/cds-services").get_json()["services"][0]["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    labs = prefetch["labs"]
    for code in ("2276-4", "2502-3", "2284-8", "14732-2", "718-7"):
        assert code in labs
    assert "_sort=-date" in labs and "sort:desc" not in labs
    assert "82810-3" in prefetch["pregnancy"] and "11884-4" in prefetch["pregnancy"]
    assert "clinical-status=active" in prefetch["conditions"]
    assert "status=active" in prefetch["medications"]
    assert all("{{context.patientId}}" in query for query in prefetch.values())


def test_unknown_service_is_404(hooks):
    assert post(hooks, "nope", fixture("anna-patient-view-full.json"))[0] == 404


@pytest.mark.parametrize(("change", "field"), [
    (lambda body: body.pop("hookInstance"), "hookInstance"),
    (lambda body: body.pop("context"), "context"),
    (lambda body: body.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                                                 "scope": "s", "subject": "c"}), "fhirServer"),
    (lambda body: body.update(fhirServer="ftp://ehr.example.org"), "fhirServer"),
    (lambda body: body["prefetch"].update(labs=["not", "a", "resource"]), "prefetch.labs"),
    (lambda body: body["context"].pop("patientId"), "patientId"),
])
def test_invalid_hook_requests_are_400_naming_the_field(hooks, change, field):
    body = fixture("anna-patient-view-full.json")
    change(body)
    status, answer = post(hooks, "rls-iron", body)
    assert status == 400 and field in answer["error"]["fields"]


def test_a_body_that_is_not_json_is_refused(hooks):
    response = hooks.post("/cds-services/rls-iron", data="{", content_type="application/json")
    assert response.status_code == 400


def test_extensions_and_unknown_members_are_accepted(hooks):
    body = fixture("anna-patient-view-full.json")
    body["extension"] = {"org.example.timestamp": "2026-11-24T10:00:00Z"}
    body["context"]["org.example.extra"] = True
    assert post(hooks, "rls-iron", body)[0] == 200
