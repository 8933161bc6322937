"""Every rule's own examples: a case where it fires, one where it does not, and its boundaries."""
import pytest

from schemas.context import PatientContextSchema
from tests.conftest import RULES
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
