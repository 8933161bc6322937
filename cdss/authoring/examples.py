"""`rules test`: run the example cases each rule carries (a native context in, whether the rule fires out)."""
from dataclasses import dataclass, field

from marshmallow import ValidationError

from cdss.errors import flatten
from cdss.evaluation import Evaluator
from cdss.facts import UnknownConditionError
from schemas.context import PatientContextSchema


@dataclass
class RuleOutcome:
    """The examples of one rule: how many ran, and a message per failure."""

    rule: str
    topic: str
    ran: int = 0
    failures: list = field(default_factory=list)

    @property
    def passed(self):
        """Whether every example behaved as written."""
        return not self.failures


def run_examples(knowledge, prefix=""):
    """Run the examples of every rule whose id starts with `prefix`; one outcome per rule, in rule order."""
    evaluator = Evaluator(knowledge, new_id=lambda: "example")
    schema = PatientContextSchema()
    outcomes = []
    for rule in knowledge.rules:
        if rule.id.startswith(prefix):
            outcomes.append(rule_outcome(evaluator, schema, rule))
    return outcomes


def rule_outcome(evaluator, schema, rule):
    """Run one rule's examples; a rule needs one example where it fires and one where it does not."""
    outcome = RuleOutcome(rule.id, rule.topic)
    for index, example in enumerate(rule.examples, 1):
        outcome.ran += 1
        label = f"example {index}" + (f" ({example['note']})" if example.get("note") else "")
        try:
            fired = {item["rule"] for item in evaluator.evaluate(schema.load(example["context"]))["fired_rules"]}
        except ValidationError as error:
            outcome.failures.append(f"{label}: invalid context: {flatten(error.messages)}")
            continue
        except UnknownConditionError as error:
            outcome.failures.append(f"{label}: invalid context: {error.fields}")
            continue
        if (rule.id in fired) != example["fires"]:
            expected = "fire" if example["fires"] else "not fire"
            outcome.failures.append(f"{label}: expected the rule to {expected}; context {example['context']}")
    for fires, word in ((True, "fires"), (False, "does not fire")):
        if not any(example["fires"] is fires for example in rule.examples):
            outcome.failures.append(f"no example where it {word}")
    return outcome
