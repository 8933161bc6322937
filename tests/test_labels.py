"""People read labels, not codes (issue 11 item 7): every code in a response comes with its label, from
the rule data, and a rule whose output has no label is refused at load."""
import json
import re

import pytest

from cdss.hooks.cards import CardContext, build_cards
from cdss.loader import RuleFileError, load_rules
from schemas.context import CRITERIA
from tests.conftest import ROOT, labs, make_patient
from tests.test_loader import edit, rules_copy  # noqa: F401 - the fixture

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")  # a code (iron_deficiency, cond_x): never what a clinician reads
CASES = sorted((ROOT / "tests" / "golden" / "cases").glob("*.json"))
BUSY = make_patient(patient={"age": 8, "sex": "female"}, labs=labs(ferritin=30, tsat=15, hemoglobin=11),
                    medications=[{"name": "sertraline"}, {"name": "mirtazapine"}],
                    conditions=[{"name": "hemochromatosis"}, {"name": "sleep_apnea"}, {"name": "diabetes"}],
                    rls={"criteria": dict.fromkeys(CRITERIA, True)})  # met: causes shown (not while in doubt)


def contexts():
    """Every golden case's request, and a patient with many codes at once."""
    return [json.loads(path.read_text())["request"] for path in CASES] + [BUSY]


def walk(reasoning):
    """Reasoning entries, chains included."""
    for entry in reasoning:
        yield entry
        yield from walk(entry.get("chain", []))


def readable_texts(result):
    """Everything the page and the cards show as words (not the codes kept for machines)."""
    classification = result["classification"]
    yield from classification["cause_labels"].values()
    yield from classification["associated_condition_labels"].values()
    yield from result["missing_labels"].values()
    entries = list(walk(classification["reasoning"]))
    for item in result["recommendations"]:
        yield item["label"]
        entries += walk(item["reasoning"])
    for entry in entries:
        yield entry["statement"]
        for fact in entry["readable_facts"]:
            yield fact["label"]


@pytest.mark.parametrize("context", contexts(), ids=lambda context: str(len(json.dumps(context))))
def test_every_code_comes_with_a_label(client, context):
    result = client.post("/api/v1/evaluate", json=context).get_json()
    classification = result["classification"]
    assert list(classification["cause_labels"]) == classification["causes"]
    assert list(classification["associated_condition_labels"]) == classification["associated_conditions"]
    assert list(result["missing_labels"]) == result["missing"]
    for entry in walk(classification["reasoning"]):
        assert [fact["fact"] for fact in entry["readable_facts"]] == list(entry["facts"])
    for text in readable_texts(result):
        assert not SNAKE.search(text), text
        assert text[:1] == text[:1].upper(), f"{text!r} does not start with a capital"
    values = [fact["value"] for item in result["recommendations"] for entry in walk(item["reasoning"])
              for fact in entry["readable_facts"]]
    assert not any(SNAKE.search(value) for value in values), values


def test_labels_say_what_the_codes_mean(client):
    result = client.post("/api/v1/evaluate", json=BUSY).get_json()
    assert result["classification"]["cause_labels"]["iron_deficiency"] == "Iron deficiency"
    assert result["classification"]["associated_condition_labels"]["sleep_apnea"] == "Obstructive sleep apnea"
    assert result["missing_labels"]["folate"] == "Serum folate"
    avoid = next(item for item in result["recommendations"] if item["code"] == "avoid_iron")
    assert avoid["reasoning"][0]["statement"] == "Hemochromatosis recorded"
    assert avoid["reasoning"][0]["readable_facts"] == [
        {"fact": "cond_hemochromatosis", "label": "Hemochromatosis", "value": "yes"}]
    review = next(item for item in result["recommendations"] if item["code"] == "review_medication")
    statements = " ".join(entry["statement"] for entry in review["reasoning"])
    assert "evidence = " not in statements and "Evidence that it worsens RLS: " in statements


def test_missing_items_are_labelled(client):
    result = client.post("/api/v1/evaluate", json={}).get_json()
    assert result["missing_labels"]["rls.criteria"] == "RLS diagnostic criteria (IRLSSG 2014)"
    assert result["missing_labels"]["ferritin"] == "Serum ferritin"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("  oral_iron:\n", "  oral_iron_renamed:\n", "'oral_iron' has no label in codes.yaml (recommendations)"),
    ("  medication: {label: A medication that can worsen RLS}\n", "", "'medication' has no label"),
    ("  pregnancy.trimester: {label: Trimester of pregnancy}\n", "", "'pregnancy.trimester' has no label"),
    ("  iron_contraindicated: {label: Iron contraindicated}\n", "", "'iron_contraindicated' has no label"),
    ('label: "Oral iron"', 'label: "oral iron"', "capital letter"),
])
def test_an_output_without_a_label_is_refused_at_load(rules_copy, old, new, message):  # noqa: F811
    edit(rules_copy, "codes.yaml", old, new)
    with pytest.raises(RuleFileError, match=re.escape(message)):
        load_rules(rules_copy)


def test_a_fact_without_a_label_is_refused_at_load(rules_copy):  # noqa: F811
    edit(rules_copy, "facts.yaml", "{label: Ferritin, ", "{")
    with pytest.raises(RuleFileError, match="facts.yaml.*ferritin.*label"):
        load_rules(rules_copy)


def test_cards_show_labels_not_codes(evaluator):
    from schemas.context import PatientContextSchema  # noqa: PLC0415

    result = evaluator.evaluate(PatientContextSchema().load(BUSY))
    now = __import__("datetime").datetime(2026, 12, 2, tzinfo=__import__("datetime").timezone.utc)
    cards = build_cards(result, CardContext(service_id="rls-cdss"), new_id=lambda: "id", now=now)
    details = {code: card["detail"] for card, code, _ in cards}
    assert "RLS (Iron deficiency, A medication that can worsen RLS)" in details["avoid_iron"]
    assert "- Hemochromatosis: yes" in details["avoid_iron"]
    assert "**Not recorded:** Serum folate" in details["avoid_iron"]
    for detail in details.values():
        shown = detail.replace("\\_", "_")
        assert "cond\\_" not in detail and "evidence = " not in shown
        assert not SNAKE.search(re.sub(r"`[^`]*`", "", shown)), shown


EDITORIAL = re.compile(r"not verified|verified in text|design choice|strongest|differs? (by|in)|resolves|prevalence",
                       re.IGNORECASE)


def test_strengths_are_grade_and_source_only(knowledge):
    for rule in knowledge.rules:
        assert rule.strength[:1].isupper(), f"{rule.id}: {rule.strength}"
        assert not EDITORIAL.search(rule.strength), f"{rule.id}: {rule.strength} (move the remark to `note`)"
    notes = {rule.id: rule.note for rule in knowledge.rules if rule.note}
    # the editorial remarks live in `note`, shown apart from the strength
    assert notes["classification.undetermined.possible-contributor"] == "A design choice of this service."
    assert "Mirtazapine carries the strongest signal among antidepressants (Kolla 2018)." in notes.values()


def test_a_lowercase_strength_is_refused_at_load(rules_copy):  # noqa: F811
    edit(rules_copy, "renal.yaml", "    strength: Established association", "    strength: established association")
    with pytest.raises(RuleFileError, match="renal.yaml.*strength.*capital letter"):
        load_rules(rules_copy)


SEARCH_PAGE = re.compile(r"[?&](term|query|q)=|/search\b")


def test_citations_link_to_the_article_not_a_search_page(knowledge):
    for key, reference in knowledge.references.items():
        assert not SEARCH_PAGE.search(reference["url"]), f"{key}: {reference['url']}"
