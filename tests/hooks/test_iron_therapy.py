"""rls-iron reads what iron the patient is on and cannot have: AllergyIntolerance (prefetched or read from
the FHIR server), medication start dates (authoredOn, effectivePeriod.start) and body weight."""
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import responses

from tests.hooks.conftest import FHIR, codes, fixture, post

EXT = "org.rls-cdss.reasoning"


def bundle(*resources):
    """A searchset Bundle of the resources."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": resource, "search": {"mode": "match"}} for resource in resources]}


def iron_sucrose_anaphylaxis(status="active"):
    """An AllergyIntolerance to iron sucrose (RxNorm SCD 1741261) with a severe anaphylaxis."""
    return {"resourceType": "AllergyIntolerance", "id": "allergy-1",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                           "code": status}]},
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1741261",
                                 "display": "iron sucrose injection"}]},
            "patient": {"reference": "Patient/pat-anna"},
            "reaction": [{"manifestation": [{"coding": [{"system": "http://snomed.info/sct", "code": "39579001",
                                                          "display": "Anaphylaxis"}]}], "severity": "severe"}]}


def man_on_oral_iron(days_ago, **resource):
    """Anna's full prefetch, as a man (no pregnancy question), with ferrous sulfate 325 mg started days ago."""
    request = fixture("anna-patient-view-full.json")
    request["prefetch"]["patient"]["gender"] = "male"
    started = (dt.date.today() - dt.timedelta(days=days_ago)).isoformat()
    request["prefetch"]["statements"] = bundle({
        "resourceType": "MedicationStatement", "id": "iron-1", "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "310325", "display": "ferrous sulfate 325 MG Oral Tablet"}]},
        "subject": {"reference": "Patient/pat-anna"}, "effectivePeriod": {"start": started}, **resource})
    return request


def test_prefetched_iv_iron_allergy_withholds_iv_iron_with_the_reason(hooks, fhir_server):
    request = man_on_oral_iron(120)
    request["prefetch"]["allergies"] = bundle(iron_sucrose_anaphylaxis())
    status, body = post(hooks, "rls-iron", request)
    assert status == 200, body
    found = codes(body["cards"])
    assert "avoid_iv_iron" in found
    assert not {"iv_iron", "iv_iron_alternative", "oral_iron"} & set(found)  # oral iron failed; IV iron withheld
    card = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "avoid_iv_iron")
    assert "iron sucrose (Anaphylaxis, severe)" in card["detail"]
    assert "AllergyIntolerance/allergy-1" in card["extension"][EXT]["evidence"]
    assert len(fhir_server.calls) == 0


def test_without_the_allergy_oral_iron_for_four_months_means_iv_iron(hooks):
    _, body = post(hooks, "rls-iron", man_on_oral_iron(120))
    found = codes(body["cards"])
    assert "iv_iron" in found and "oral_iron" not in found
    card = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "iv_iron")
    assert card["extension"][EXT]["facts"]["oral_iron_days"] == 120


def test_oral_iron_for_a_month_is_continued_without_a_new_prescription(hooks):
    _, body = post(hooks, "rls-iron", man_on_oral_iron(30))
    found = codes(body["cards"])
    assert "continue_oral_iron" in found and "oral_iron" not in found
    assert not any(card.get("suggestions") and "oral iron" in str(card["suggestions"]).lower()
                   for card in body["cards"])  # no draft prescription of a second oral iron


def test_a_resolved_allergy_is_not_used(hooks):
    request = man_on_oral_iron(120)
    request["prefetch"]["allergies"] = bundle(iron_sucrose_anaphylaxis("resolved"))
    _, body = post(hooks, "rls-iron", request)
    assert "avoid_iv_iron" not in codes(body["cards"]) and "iv_iron" in codes(body["cards"])


def test_allergies_not_prefetched_are_read_from_the_fhir_server(hooks, fhir_server):
    request = man_on_oral_iron(120)
    del request["prefetch"]["allergies"]
    request["fhirServer"] = FHIR
    request["fhirAuthorization"] = {"access_token": "t-1", "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/AllergyIntolerance.read", "subject": "rls-cdss"}
    fhir_server.add(responses.GET, f"{FHIR}/AllergyIntolerance", json=bundle(iron_sucrose_anaphylaxis()))
    status, body = post(hooks, "rls-iron", request)
    assert status == 200, body
    (call,) = fhir_server.calls
    query = parse_qs(urlsplit(call.request.url).query)
    assert query == {"patient": ["pat-anna"], "clinical-status": ["active"]}
    assert "avoid_iv_iron" in codes(body["cards"])


def test_body_weight_under_50_kg_gives_the_weight_based_dose(hooks):
    request = man_on_oral_iron(120)
    request["prefetch"]["labs"]["entry"].append({"resource": {
        "resourceType": "Observation", "id": "weight-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": "Patient/pat-anna"}, "effectiveDateTime": dt.date.today().isoformat(),
        "valueQuantity": {"value": 96.8, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}})
    _, body = post(hooks, "rls-iron", request)
    card = next(card for card in body["cards"]
                if card["extension"][EXT]["recommendation"] == "iv_iron_weight_dose")
    assert "43.9 kg" in card["detail"] and "658 mg" in card["detail"]


def test_an_allergy_that_could_be_to_iv_iron_but_is_not_identified_is_said_on_the_iv_iron_card(hooks):
    request = man_on_oral_iron(120)
    unknown = dict(iron_sucrose_anaphylaxis(), code={"text": "Ferinjekt"})  # a foreign brand spelling, text only
    peanut = dict(iron_sucrose_anaphylaxis(), id="allergy-2", code={"text": "Peanut"})
    request["prefetch"]["allergies"] = bundle(unknown, peanut)
    _, body = post(hooks, "rls-iron", request)
    card = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "iv_iron")
    assert "allergies the service does not recognise (not checked for IV iron): Ferinjekt" in card["detail"]
    assert "Peanut" not in card["detail"]


def iv_iron_given(days_ago, status="completed"):
    """A finished MedicationRequest for iron sucrose (RxNorm SCD 1741261), ordered days ago."""
    return {"resourceType": "MedicationRequest", "id": "iv-1", "status": status, "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "1741261", "display": "iron sucrose injection"}]},
            "subject": {"reference": "Patient/pat-anna"},
            "authoredOn": (dt.date.today() - dt.timedelta(days=days_ago)).isoformat()}


def test_a_completed_iv_iron_order_in_the_last_12_weeks_makes_the_ferritin_unusable(hooks):
    request = man_on_oral_iron(120)
    request["prefetch"]["medications"] = bundle(iv_iron_given(21))
    _, body = post(hooks, "rls-iron", request)
    found = codes(body["cards"])
    assert "ferritin_after_iv_iron" in found and "iv_iron" not in found
    card = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "ferritin_after_iv_iron")
    assert "MedicationRequest/iv-1" in card["extension"][EXT]["evidence"]


def test_iv_iron_finished_more_than_12_weeks_ago_is_not_read(hooks):
    request = man_on_oral_iron(120)
    request["prefetch"]["medications"] = bundle(iv_iron_given(90, status="stopped"))
    _, body = post(hooks, "rls-iron", request)
    assert "ferritin_after_iv_iron" not in codes(body["cards"]) and "iv_iron" in codes(body["cards"])


def test_finished_iv_iron_without_a_date_is_named_not_dropped(hooks):
    request = man_on_oral_iron(120)
    undated = iv_iron_given(0)
    del undated["authoredOn"]
    request["prefetch"]["medications"] = bundle(undated)
    _, body = post(hooks, "rls-iron", request)
    card = next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "iv_iron")
    assert "IV iron (MedicationRequest/iv-1, completed) has no date" in card["detail"]
