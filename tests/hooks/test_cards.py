"""Card building is a pure function of the evaluation: ids and clock injected, output checked against the spec."""
import datetime as dt
import itertools
import json

import pytest

from cdss.hooks.cards import CardContext, build_cards, escape, shorten
from schemas.context import PatientContextSchema
from schemas.hooks import CardSchema
from tests.conftest import ROOT, labs, make_patient

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone.utc)
CTX = CardContext(service_id="rls-iron", patient_id="p1", encounter_id="e1",
                  evidence={"labs.ferritin": "Observation/f1"})


def ids():
    counter = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"


def evaluate(evaluator, **overrides):
    return evaluator.evaluate(PatientContextSchema().load(make_patient(**overrides)))


def test_the_same_evaluation_gives_the_same_cards(evaluator):
    result = evaluate(evaluator, labs=labs(ferritin=30, tsat=15))
    first = build_cards(result, CTX, ids(), NOW)
    assert first == build_cards(result, CTX, ids(), NOW)
    assert first[0][0]["uuid"] == "00000000-0000-4000-8000-000000000001"


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.json")), ids=lambda path: path.stem)
def test_cards_of_every_example_follow_the_spec(evaluator, path):
    result = evaluator.evaluate(PatientContextSchema().load(json.loads(path.read_text())))
    cards = build_cards(result, CTX, ids(), NOW)
    assert [code for _, code, _ in cards] == [item["code"] for item in result["recommendations"]]
    for card, _, rules in cards:
        assert CardSchema().validate(card) == {}
        assert rules and card["extension"]["org.rls-cdss.reasoning"]["ruleset"] == result["ruleset"]
        assert "null" not in json.dumps(card) and "[]" not in json.dumps(card) and "{}" not in json.dumps(card)


def test_children_get_no_adult_iron_prescription(evaluator):
    result = evaluate(evaluator, patient={"id": "p1", "age": 9, "sex": "male"}, labs=labs(ferritin=30, tsat=15),
                      pregnancy=None, rls={"onset_age": 7})
    card = next(card for card, code, _ in build_cards(result, CTX, ids(), NOW) if code == "oral_iron")
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_nothing_to_say_means_no_cards(evaluator):
    result = evaluate(evaluator)
    result["recommendations"] = []
    assert build_cards(result, CTX, ids(), NOW) == []


def test_data_not_checked_is_its_own_card(evaluator):
    result = evaluate(evaluator)
    ctx = CardContext(service_id="rls-iron", unavailable=("active medications (the FHIR server answered 500)",))
    card, code, rules = build_cards(result, ctx, ids(), NOW)[-1]
    assert (code, rules, card["indicator"]) == ("data_unavailable", [], "info")
    assert "active medications" in card["detail"] and CardSchema().validate(card) == {}


def test_text_from_the_ehr_cannot_inject_markup():
    assert escape("<img src=x onerror=alert(1)> [click](http://evil)") == \
        "&lt;img src=x onerror=alert(1)&gt; \\[click\\](http://evil)"


def test_long_summaries_are_cut_under_140_characters():
    text = "word " * 60
    assert len(shorten(text, 139)) <= 139 and shorten(text, 139).endswith("…")
    assert shorten("short.", 139) == "short."


def test_proposed_orders_carry_the_injected_clock(evaluator):
    result = evaluate(evaluator, labs={})
    card = next(card for card, code, _ in build_cards(result, CTX, ids(), NOW) if code == "order_iron_studies")
    for action in card["suggestions"][0]["actions"]:
        assert action["resource"]["authoredOn"] == "2026-11-24T10:00:00+00:00"
        assert action["resource"]["subject"] == {"reference": "Patient/p1"}
