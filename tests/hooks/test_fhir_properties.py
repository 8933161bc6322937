"""Property: any syntactically valid resource of the types read, with random codes and values, gives 200 with
cards that follow the spec, and whatever was received but not used is named -- never a 500."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.hooks import CardSchema
from tests.hooks.conftest import post

EXT = "org.rls-cdss.reasoning"
SYSTEMS = ["http://loinc.org", "urn:oid:2.16.840.1.113883.6.1", "http://snomed.info/sct",
           "http://hl7.org/fhir/sid/icd-10-cm", "http://www.nlm.nih.gov/research/umls/rxnorm", "http://example.org/local"]
KNOWN = ["2276-4", "2502-3", "2284-8", "718-7", "2498-4", "2500-7", "82810-3", "11884-4", "49051-6", "G25.81",
         "E83.110", "N18.6", "Z3A.20", "Z33.1", "O99.011", "72892002", "77386006", "6915", "311666", "36437"]
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)
code = st.one_of(st.sampled_from(KNOWN), st.from_regex(r"[A-Za-z0-9.\-]{1,12}", fullmatch=True))
date = st.dates().map(lambda day: day.isoformat())
coding = st.fixed_dictionaries({"system": st.sampled_from(SYSTEMS), "code": code},
                               optional={"display": text})
concept = st.fixed_dictionaries({}, optional={"coding": st.lists(coding, min_size=1, max_size=3), "text": text})
number = st.one_of(st.integers(min_value=-(10 ** 30), max_value=10 ** 30), st.floats(allow_nan=False, allow_infinity=False),
                   st.just(10 ** 400))
quantity = st.fixed_dictionaries({"value": number}, optional={
    "comparator": st.sampled_from(["<", "<=", ">=", ">"]), "unit": st.sampled_from(["ng/mL", "%", "wk", "d", "g/L"]) | text,
    "system": st.just("http://unitsofmeasure.org"), "code": st.sampled_from(["ng/mL", "ug/L", "%", "wk", "{week}"])})
value = st.one_of(st.fixed_dictionaries({"valueQuantity": quantity}), st.fixed_dictionaries({"valueString": text}),
                  st.fixed_dictionaries({"valueCodeableConcept": concept}),
                  st.fixed_dictionaries({"valueInteger": st.integers(-(10 ** 12), 10 ** 12)}), st.just({}))
status = st.sampled_from(["final", "amended", "corrected", "preliminary", "entered-in-error", "unknown"])


def subject(patient_id="pat-p"):
    return {"subject": {"reference": f"Patient/{patient_id}"}}


observation = st.builds(lambda ident, s, c, v, when: {
    "resourceType": "Observation", "id": f"o{ident}", "status": s, "code": c, **subject(), **v,
    "effectiveDateTime": when}, st.integers(0, 10 ** 6), status, concept, value, date)
condition = st.builds(lambda ident, clinical, c, when: {
    "resourceType": "Condition", "id": f"c{ident}", **subject(), "code": c, "recordedDate": when,
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                   "code": clinical}]}},
    st.integers(0, 10 ** 6), st.sampled_from(["active", "recurrence", "inactive", "resolved"]), concept, date)
medication = st.builds(lambda ident, kind, s, c, by_reference: {
    "resourceType": kind, "id": f"m{ident}", "status": s, **subject(),
    **({"contained": [{"resourceType": "Medication", "id": "med", "code": c}], "medicationReference": {"reference": "#med"}}
       if by_reference else {"medicationCodeableConcept": c})},
    st.integers(0, 10 ** 6), st.sampled_from(["MedicationRequest", "MedicationStatement"]),
    st.sampled_from(["active", "completed", "stopped"]), concept, st.booleans())
patient = st.fixed_dictionaries({"resourceType": st.just("Patient"), "id": st.just("pat-p")},
                                optional={"gender": st.sampled_from(["female", "male", "other", "unknown"]),
                                          "birthDate": date})
RLS = {"resourceType": "Condition", "id": "rls", **subject(), "code": {"coding": [
    {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G25.81"}]},
    "clinicalStatus": {"coding": [{"code": "active"}]}}


def bundle(resources):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": item} for item in resources]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(patient, st.lists(observation, max_size=6), st.lists(condition, max_size=4), st.lists(medication, max_size=3))
def test_any_valid_resources_give_cards_or_a_named_note_never_a_500(hooks, patient_resource, observations,
                                                                    conditions, medications):
    request = {"hook": "patient-view", "hookInstance": "prop-1",
               "context": {"userId": "Practitioner/dr-1", "patientId": "pat-p"},
               "prefetch": {"patient": patient_resource, "labs": bundle(observations), "pregnancy": bundle([]),
                            "conditions": bundle([RLS, *conditions]),
                            "medications": bundle([item for item in medications if item["resourceType"] == "MedicationRequest"]),
                            "statements": bundle([item for item in medications if item["resourceType"] == "MedicationStatement"])}}
    status, body = post(hooks, "rls-iron", request)
    assert status == 200, body
    assert body["cards"]  # RLS is on the problem list: there is always advice
    for card in body["cards"]:
        assert CardSchema().validate(card) == {}, card
    trace = body["cards"][-1]["extension"][EXT]
    if trace["recommendation"] == "data_unavailable":
        assert trace["not_checked"] and "did not take the following into account" in body["cards"][-1]["detail"]
