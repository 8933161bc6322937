"""Every rule's own examples: a case where it fires, one where it does not, and its boundaries."""
import pytest

from schemas.context import PatientContextSchema
from tests.conftest import RULES
from cdss.facts import build_facts
from cdss.loader import load_rules

RULESET = load_rules(RULES)
CASES = [(rule.id, index, example) for rule in RULESET.rules for index, example in enumerate(rule.examples)]


@pytest.mark.parametrize(("rule_id", "index", "example"), CASES,
                         ids=[f"{rule_id}#{index}" for rule_id, index, _ in CASES])
def test_rule_example(evaluator, rule_id, index, example):
    context = PatientContextSchema().load(example["context"])
    fired = {item["rule"] for item in evaluator.evaluate(context)["fired_rules"]}
    assert (rule_id in fired) == example["fires"], example.get("note", example["context"])


@pytest.mark.parametrize("rule", RULESET.rules, ids=lambda rule: rule.id)
def test_every_rule_has_a_firing_and_a_non_firing_example(rule):
    outcomes = {example["fires"] for example in rule.examples}
    assert outcomes == {True, False}


def thresholds(pattern):
    """(fact, threshold) of every numeric comparison in a pattern."""
    (key, value), = pattern.items()
    if key in ("$and", "$or"):
        return [pair for part in value for pair in thresholds(part)]
    if key in ("$lt", "$lte", "$gt", "$gte"):
        return list(value.items())
    return []


@pytest.mark.parametrize("rule", RULESET.rules, ids=lambda rule: rule.id)
def test_every_threshold_has_an_example_exactly_at_the_boundary(evaluator, rule):
    values = set()
    for example in rule.examples:
        facts = build_facts(PatientContextSchema().load(example["context"]), evaluator.vocabulary).facts
        values |= {(name, round(value, 3)) for name, value in facts[0].items() if isinstance(value, float | int)}
    for alias, kind, pattern in rule.aliases():
        for name, threshold in thresholds(pattern):
            assert (name, round(float(threshold), 3)) in values, f"no example with {name} = {threshold}"
