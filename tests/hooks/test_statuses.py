"""What each FHIR status means to the advice: suspected Conditions, held or finished medications, IV iron
administrations. Counted, or named on the cards and not counted; never silently dropped."""
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from cdss.hooks.fhir import load_context, patient_context
from cdss.hooks.services import SERVICES
from tests.hooks.conftest import FHIR, codes, fixture, post

EXT = "org.rls-cdss.reasoning"
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
ICD, RX = "http://hl7.org/fhir/sid/icd-10-cm", "http://www.nlm.nih.gov/research/umls/rxnorm"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
TODAY = dt.date.today()


def bundle(*resources):
    """A searchset Bundle of the resources."""
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": resource, "search": {"mode": "match"}} for resource in resources]}


def condition(code, display, verification=None, ident=None):
    """An active Condition of Anna's coded in ICD-10-CM, with a verificationStatus when given."""
    found = {"resourceType": "Condition", "id": ident or f"c-{code}", "subject": {"reference": "Patient/pat-anna"},
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                            "code": "active"}]},
             "code": {"coding": [{"system": ICD, "code": code, "display": display}], "text": display}}
    if verification:
        found["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return found


def drug(kind, ident, status, code, display, **extra):
    """A MedicationRequest/Statement/Administration of Anna's with an RxNorm code."""
    return {"resourceType": kind, "id": ident, "status": status, "subject": {"reference": "Patient/pat-anna"},
            "medicationCodeableConcept": {"coding": [{"system": RX, "code": code, "display": display}]}, **extra}


def days_ago(days):
    return (TODAY - dt.timedelta(days=days)).isoformat()


def iron_sucrose(kind, ident, status, days, **extra):
    """IV iron sucrose (RxNorm SCD 1741261) given (administration) or ordered `days` ago."""
    when = {"effectiveDateTime": days_ago(days)} if kind != "MedicationRequest" else {"authoredOn": days_ago(days)}
    return drug(kind, ident, status, "1741261", "iron sucrose 20 MG/ML Injectable Solution", **{**when, **extra})


def mapped(evaluator, **resources):
    return patient_context({"patient": resources.pop("patient", None), **resources}, "pat-anna", evaluator.vocabulary,
                           NOW)


def card(body, code):
    return next(item for item in body["cards"] if item["extension"][EXT]["recommendation"] == code)


def anna(**prefetch):
    """Anna's full patient-view request (RLS, ferritin 38, on sertraline) with prefetch keys replaced."""
    request = fixture("anna-patient-view-full.json")
    request["prefetch"].update(prefetch)
    return request


def man_with_low_ferritin(**prefetch):
    """Anna's request as a man (no pregnancy question), for the IV iron reads."""
    request = anna(**prefetch)
    request["prefetch"]["patient"]["gender"] = "male"
    return request


# 1. Condition.verificationStatus --------------------------------------------------------------------------

@pytest.mark.parametrize(("verification", "counted"), [
    (None, True), ("confirmed", True), ("unconfirmed", False), ("provisional", False), ("differential", False)])
def test_only_established_conditions_count(evaluator, verification, counted):
    result = mapped(evaluator, conditions=[condition("N18.6", "End stage renal disease", verification, "ckd")])
    context = load_context(result)
    assert bool(context["conditions"]) is counted
    said = [note for note in result.notes if "(Condition/ckd)" in note]
    if counted:
        assert said == []
    else:
        words = "is a differential diagnosis" if verification == "differential" else f"is {verification}"
        assert said == [f"End stage renal disease (Condition/ckd) {words}: not counted"]
        assert result.unrecognized["suspected"] == [f"Condition/ckd: {verification}"]


def test_a_provisional_ckd_is_not_a_secondary_cause_and_is_named_on_the_card(hooks):
    confirmed = anna(conditions=bundle(condition("G25.81", "Restless legs syndrome", "confirmed", "rls"),
                                       condition("N18.6", "End stage renal disease", "confirmed", "ckd")))
    _, body = post(hooks, "rls-iron", confirmed)
    assert "renal_disease" in body["cards"][0]["extension"][EXT]["classification"]["causes"]

    provisional = anna(conditions=bundle(condition("G25.81", "Restless legs syndrome", "confirmed", "rls"),
                                         condition("N18.6", "End stage renal disease", "provisional", "ckd")))
    status, body = post(hooks, "rls-iron", provisional)
    assert status == 200, body
    assert "renal_disease" not in body["cards"][0]["extension"][EXT]["classification"]["causes"]
    unavailable = card(body, "data_unavailable")
    assert "End stage renal disease (Condition/ckd) is provisional: not counted" in unavailable["detail"]
    assert "Could not be checked:** " in card(body, "oral_iron")["detail"]
    assert "Condition/ckd: provisional" in unavailable["extension"][EXT]["unrecognized"]["suspected"]


def test_a_differential_pregnancy_code_does_not_make_the_patient_pregnant(evaluator):
    patient = {"resourceType": "Patient", "id": "pat-anna", "gender": "female", "birthDate": "1990-01-01"}
    confirmed = mapped(evaluator, patient=patient, conditions=[condition("Z33.1", "Pregnant state", "confirmed")])
    assert confirmed.context["pregnancy"]["status"] == "pregnant"
    differential = mapped(evaluator, patient=patient, conditions=[condition("Z33.1", "Pregnant state", "differential")])
    assert "pregnancy" not in differential.context
    assert "Pregnant state (Condition/c-Z33.1) is a differential diagnosis: not counted" in differential.notes


def test_an_unconfirmed_rls_is_said_even_though_no_advice_follows(hooks):
    status, body = post(hooks, "rls-iron", anna(conditions=bundle(
        condition("G25.81", "Restless legs syndrome", "unconfirmed", "rls"))))
    assert status == 200
    assert codes(body["cards"]) == ["data_unavailable"]
    assert "Restless legs syndrome (Condition/rls) is unconfirmed: not counted" in body["cards"][0]["detail"]


def test_a_suspected_condition_other_than_rls_gives_no_card_to_a_patient_without_rls(hooks):
    status, body = post(hooks, "rls-iron", anna(conditions=bundle(
        condition("N18.6", "End stage renal disease", "provisional", "ckd"))))
    assert status == 200 and body == {"cards": []}


def test_an_unconfirmed_iv_iron_allergy_still_withholds_iv_iron(hooks):
    """Safety: an allergy is counted unless refuted or entered in error, unconfirmed included."""
    allergy = {"resourceType": "AllergyIntolerance", "id": "allergy-1", "patient": {"reference": "Patient/pat-anna"},
               "clinicalStatus": {"coding": [{"code": "active"}]},
               "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                  "allergyintolerance-verification", "code": "unconfirmed"}]},
               "code": {"coding": [{"system": RX, "code": "1741261", "display": "iron sucrose injection"}]},
               "reaction": [{"manifestation": [{"text": "Anaphylaxis"}], "severity": "severe"}]}
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(allergies=bundle(allergy)))
    assert "avoid_iv_iron" in codes(body["cards"]) and "iv_iron_alternative" not in codes(body["cards"])
    refuted = {**allergy, "verificationStatus": {"coding": [{"code": "refuted"}]}}
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(allergies=bundle(refuted)))
    assert "avoid_iv_iron" not in codes(body["cards"])


# 2. Medication statuses -----------------------------------------------------------------------------------

FERROUS_SULFATE = ("310325", "ferrous sulfate 325 MG Oral Tablet")
SERTRALINE = ("312940", "sertraline 50 MG Oral Tablet")
LISINOPRIL = ("314076", "lisinopril 10 MG Oral Tablet")


@pytest.mark.parametrize(("kind", "status", "words"), [
    ("MedicationRequest", "on-hold", "is on hold"),
    ("MedicationRequest", "unknown", "has the status unknown"),
    ("MedicationStatement", "on-hold", "is on hold"),
    ("MedicationStatement", "intended", "is intended, not yet started"),
    ("MedicationStatement", "unknown", "has the status unknown"),
    ("MedicationRequest", "suspended", "has the status 'suspended', which is not a MedicationRequest status"),
])
def test_a_held_medication_is_not_current_and_is_named(evaluator, kind, status, words):
    held = drug(kind, "m1", status, *SERTRALINE)
    result = mapped(evaluator, **{"medications" if kind == "MedicationRequest" else "statements": [held]})
    assert load_context(result)["medications"] == []
    assert result.notes == [f"sertraline 50 MG Oral Tablet ({kind}/m1) {words}: not counted as current"]
    assert result.unrecognized["medications"] == [f"{kind}/m1: {status}"]


@pytest.mark.parametrize(("kind", "status"), [
    ("MedicationRequest", "draft"), ("MedicationRequest", "cancelled"), ("MedicationRequest", "entered-in-error"),
    ("MedicationStatement", "not-taken"), ("MedicationStatement", "entered-in-error"),
    ("MedicationRequest", "completed"), ("MedicationStatement", "stopped")])
def test_a_void_or_finished_medication_is_not_current_and_not_said(evaluator, kind, status):
    """Withdrawn, never started, not taken: not the patient's medication. Finished: only recent IV iron is read."""
    gone = drug(kind, "m1", status, *SERTRALINE)
    result = mapped(evaluator, **{"medications" if kind == "MedicationRequest" else "statements": [gone]})
    assert load_context(result)["medications"] == [] and result.notes == []


def test_an_active_medication_still_counts(evaluator):
    result = mapped(evaluator, medications=[drug("MedicationRequest", "m1", "active", *SERTRALINE)],
                    statements=[drug("MedicationStatement", "s1", "active", *FERROUS_SULFATE)])
    assert [entry["rxnorm"] for entry in load_context(result)["medications"]] == ["312940", "310325"]
    assert result.notes == []


def test_a_known_drug_outside_rls_on_hold_is_not_named(evaluator):
    result = mapped(evaluator, medications=[drug("MedicationRequest", "m1", "on-hold", *LISINOPRIL)])
    assert result.notes == [] and load_context(result)["medications"] == []


def test_oral_iron_on_hold_is_not_continued_and_is_named_on_the_cards(hooks):
    taking = drug("MedicationStatement", "iron-1", "active", *FERROUS_SULFATE, effectivePeriod={"start": days_ago(30)})
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(statements=bundle(taking)))
    assert "continue_oral_iron" in codes(body["cards"])

    held = {**taking, "status": "on-hold"}
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(statements=bundle(held)))
    assert "continue_oral_iron" not in codes(body["cards"]) and "oral_iron" in codes(body["cards"])
    assert "ferrous sulfate 325 MG Oral Tablet (MedicationStatement/iron-1) is on hold: not counted as current" \
        in card(body, "data_unavailable")["detail"]


def test_a_held_drug_that_worsens_rls_is_named_not_reviewed(hooks):
    held = drug("MedicationRequest", "anna-sertraline", "on-hold", *SERTRALINE)
    _, body = post(hooks, "rls-iron", anna(medications=bundle(held)))
    assert "review_medication" not in codes(body["cards"])
    assert "sertraline 50 MG Oral Tablet (MedicationRequest/anna-sertraline) is on hold: not counted as current" \
        in card(body, "oral_iron")["detail"]


def test_iv_iron_on_hold_says_the_ferritin_may_not_be_usable(evaluator):
    result = mapped(evaluator, medications=[iron_sucrose("MedicationRequest", "iv-1", "on-hold", 10)])
    assert result.notes == ["iron sucrose 20 MG/ML Injectable Solution (MedicationRequest/iv-1) is on hold: not counted "
                            "as current; if IV iron was given in the last 12 weeks, the ferritin is not yet usable"]


# 3. MedicationStatement: the same statuses as MedicationRequest ------------------------------------------------

def test_medication_prefetch_templates_ask_for_the_statuses_that_are_read_or_named():
    prefetch = SERVICES["rls-iron"].templates()
    assert "status=active,on-hold,unknown,completed,stopped&" in prefetch["medications"]
    assert prefetch["statements"].endswith("status=active,intended,on-hold,unknown,completed,stopped")
    assert prefetch["administrations"] == ("MedicationAdministration?patient={{context.patientId}}"
                                           "&status=in-progress,completed,stopped,on-hold,unknown"
                                           "&_include=MedicationAdministration:medication")


@pytest.mark.parametrize(("days", "recent"), [(20, True), (83, True), (84, False), (200, False)])
def test_a_finished_iv_iron_statement_in_the_last_12_weeks_makes_the_ferritin_unusable(hooks, days, recent):
    statement = iron_sucrose("MedicationStatement", "ms-iv", "completed", days)
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(statements=bundle(statement)))
    assert ("ferritin_after_iv_iron" in codes(body["cards"])) is recent
    if recent:
        assert "MedicationStatement/ms-iv" in card(body, "ferritin_after_iv_iron")["extension"][EXT]["evidence"]


def test_a_finished_oral_iron_statement_is_not_read(hooks):
    statement = drug("MedicationStatement", "ms-oral", "completed", *FERROUS_SULFATE,
                     effectivePeriod={"start": days_ago(200), "end": days_ago(10)})
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(statements=bundle(statement)))
    assert "continue_oral_iron" not in codes(body["cards"]) and "oral_iron" in codes(body["cards"])


def read_from(fhir_server, **answers):
    """Anna (as a man) with only the Patient prefetched; the FHIR server answers each search with a Bundle."""
    request = man_with_low_ferritin()
    for key in ("statements", "administrations"):
        del request["prefetch"][key]
    request["fhirServer"] = FHIR
    for kind, answer in answers.items():
        fhir_server.add(responses.GET, f"{FHIR}/{kind}", **answer)
    return request


def test_statements_and_administrations_are_read_from_the_fhir_server_with_their_statuses(hooks, fhir_server):
    request = read_from(fhir_server, MedicationStatement={"json": bundle()}, MedicationAdministration={
        "json": bundle(iron_sucrose("MedicationAdministration", "ma-1", "completed", 14))})
    status, body = post(hooks, "rls-iron", request)
    assert status == 200, body
    queries = {urlsplit(call.request.url).path: parse_qs(urlsplit(call.request.url).query) for call in fhir_server.calls}
    assert queries["/fhir/MedicationStatement"] == {
        "patient": ["pat-anna"], "status": ["active,intended,on-hold,unknown,completed,stopped"]}
    assert queries["/fhir/MedicationAdministration"] == {
        "patient": ["pat-anna"], "status": ["in-progress,completed,stopped,on-hold,unknown"],
        "_include": ["MedicationAdministration:medication"]}
    assert "ferritin_after_iv_iron" in codes(body["cards"])


# 4. MedicationAdministration: IV iron doses -------------------------------------------------------------------

@pytest.mark.parametrize(("status", "given"), [
    ("completed", True), ("in-progress", True), ("stopped", True), ("on-hold", True),
    ("not-done", False), ("entered-in-error", False)])
def test_an_iv_iron_administration_in_the_last_12_weeks_makes_the_ferritin_unusable(hooks, status, given):
    dose = iron_sucrose("MedicationAdministration", "ma-1", status, 30)
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(administrations=bundle(dose)))
    assert ("ferritin_after_iv_iron" in codes(body["cards"])) is given
    if given:
        trace = card(body, "ferritin_after_iv_iron")["extension"][EXT]
        assert "MedicationAdministration/ma-1" in trace["evidence"]
        assert trace["facts"]["iv_iron_days"] == 30


def test_administrations_are_dated_by_the_latest_dose_and_the_period_end(hooks):
    doses = [iron_sucrose("MedicationAdministration", f"ma-{days}", "completed", days) for days in (70, 40, 80)]
    doses.append({**iron_sucrose("MedicationAdministration", "ma-period", "completed", 0), "effectiveDateTime": None})
    del doses[-1]["effectiveDateTime"]
    doses[-1]["effectivePeriod"] = {"start": days_ago(26), "end": days_ago(25)}
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(administrations=bundle(*doses)))
    trace = card(body, "ferritin_after_iv_iron")["extension"][EXT]
    assert trace["facts"]["iv_iron_days"] == 25


def test_an_old_iv_iron_administration_or_another_drug_given_is_not_read(hooks):
    old = iron_sucrose("MedicationAdministration", "ma-old", "completed", 100)
    other = drug("MedicationAdministration", "ma-sert", "completed", *SERTRALINE, effectiveDateTime=days_ago(1))
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(administrations=bundle(old, other)))
    found = codes(body["cards"])
    assert "ferritin_after_iv_iron" not in found and "iv_iron_alternative" in found
    assert "MedicationAdministration" not in card(body, "iv_iron_alternative")["detail"]


def test_an_unreadable_administration_is_named_and_the_rest_goes_on(hooks):
    broken = {**iron_sucrose("MedicationAdministration", "ma-bad", "completed", 5), "effectivePeriod": "yesterday"}
    unknown = {**iron_sucrose("MedicationAdministration", "ma-unknown", "unknown", 5)}
    unreadable = {"resourceType": "MedicationAdministration", "id": "ma-nodrug", "status": "completed",
                  "subject": {"reference": "Patient/pat-anna"}, "effectiveDateTime": days_ago(3),
                  "medicationReference": {"reference": "Medication/gone"}}
    good = iron_sucrose("MedicationAdministration", "ma-good", "completed", 50)
    _, body = post(hooks, "rls-iron", man_with_low_ferritin(administrations=bundle(broken, unknown, unreadable, good)))
    assert card(body, "ferritin_after_iv_iron")["extension"][EXT]["facts"]["iv_iron_days"] == 50
    detail = card(body, "data_unavailable")["detail"]
    assert "MedicationAdministration/ma-bad could not be read (effectivePeriod is not an object)" in detail
    assert ("iron sucrose 20 MG/ML Injectable Solution (MedicationAdministration/ma-unknown) has the status unknown: "
            "not counted as current; if IV iron was given in the last 12 weeks") in detail
    assert "the medication of MedicationAdministration/ma-nodrug (completed, " in detail


def test_administrations_the_fhir_server_cannot_give_are_said(hooks, fhir_server):
    request = read_from(fhir_server, MedicationStatement={"json": bundle()},
                        MedicationAdministration={"status": 500, "json": {"resourceType": "OperationOutcome"}})
    status, body = post(hooks, "rls-iron", request)
    assert status == 200
    assert "IV iron given in the last 12 weeks (administrations) (the FHIR server answered 500)" \
        in card(body, "data_unavailable")["detail"]


def test_only_the_medications_whose_drug_is_read_are_fetched(hooks, fhir_server):
    """On the fallback path an external Medication is read for a current order or a recent finished one, not for an
    administration of last year, a cancelled order or a malformed one (each would cost a read)."""
    def given(ident, status, days, **extra):
        return {"resourceType": "MedicationAdministration", "id": ident, "status": status,
                "subject": {"reference": "Patient/pat-anna"}, "effectiveDateTime": days_ago(days),
                "medicationReference": {"reference": f"Medication/{ident}"}, **extra}
    doses = [given("recent", "completed", 10), given("old", "completed", 400), given("void", "not-done", 10),
             given("bad", "completed", 10, effectivePeriod=[])]
    request = read_from(fhir_server, MedicationStatement={"json": bundle()},
                        MedicationAdministration={"json": bundle(*doses)})
    fhir_server.add(responses.GET, f"{FHIR}/Medication/recent", json={
        "resourceType": "Medication", "id": "recent",
        "code": {"coding": [{"system": RX, "code": "1741261", "display": "iron sucrose 20 MG/ML Injectable Solution"}]}})
    status, body = post(hooks, "rls-iron", request)
    assert status == 200, body
    read = sorted(urlsplit(call.request.url).path for call in fhir_server.calls)
    assert read == ["/fhir/Medication/recent", "/fhir/MedicationAdministration", "/fhir/MedicationStatement"]
    assert card(body, "ferritin_after_iv_iron")["extension"][EXT]["facts"]["iv_iron_days"] == 10
    assert "MedicationAdministration/bad could not be read" in card(body, "data_unavailable")["detail"]


def test_the_resources_built_here_are_valid_fhir_r4():
    """The shapes these tests send are those a conformant EHR sends (FHIR R4B models, as for the families)."""
    from fhir.resources.R4B import get_fhir_model_class  # noqa: PLC0415 - a test-only dependency
    for resource in (condition("N18.6", "End stage renal disease", "provisional"),
                     drug("MedicationRequest", "m1", "on-hold", *SERTRALINE) | {"intent": "order"},
                     drug("MedicationStatement", "s1", "intended", *FERROUS_SULFATE),
                     iron_sucrose("MedicationAdministration", "ma-1", "completed", 30)):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
