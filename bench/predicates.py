"""The floor: the rules of rules/*.yaml as plain Python predicates over the same facts, no engine.

Each rule's condition is compiled once into nested Python closures (comparisons, and/or), so deciding
costs what hand-written predicates cost, and the floor cannot drift from the rule files: it is made
from them. `fired(facts)` returns the ids of the rules that fire; the benchmark checks it against the
service on every case.
"""
import operator
from pathlib import Path

from cdss.loader import load_rules

COMPARE = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}
RULES = Path(__file__).resolve().parents[1] / "rules"


def compile_pattern(pattern):
    """A durable_rules pattern as a predicate over one fact (a missing attribute never matches a test)."""
    (key, value), = pattern.items()
    if key in ("$and", "$or"):
        parts = [compile_pattern(part) for part in value]
        return (lambda fact: all(part(fact) for part in parts)) if key == "$and" else (
            lambda fact: any(part(fact) for part in parts))
    if key in ("$ex", "$nex"):
        (name, _), = value.items()
        return (lambda fact: name in fact) if key == "$ex" else (lambda fact: name not in fact)
    if key in COMPARE:
        (name, operand), = value.items()
        compare = COMPARE[key]
        return lambda fact: name in fact and compare(fact[name], operand)
    return lambda fact: key in fact and fact[key] == value


class Floor:
    """Every rule of a ruleset as (rule id, [(kind, predicate)], finding it asserts or None)."""

    def __init__(self, knowledge):
        self.rules = [(rule.id, [(kind, compile_pattern(pattern)) for _, kind, pattern in rule.aliases()],
                       rule.then.get("finding")) for rule in knowledge.rules]

    def fired(self, facts):
        """The ids of the rules that fire; findings are asserted until nothing new fires."""
        patient, medications = facts[0], facts[1:]
        ids, findings = set(), []
        while True:
            new = [(rule_id, finding) for rule_id, terms, finding in self.rules if rule_id not in ids
                   and all(self.matches(kind, test, patient, medications, findings) for kind, test in terms)]
            if not new:
                return ids
            for rule_id, finding in new:
                ids.add(rule_id)
                if finding:
                    findings.append({"name": finding, "by": rule_id})

    @staticmethod
    def matches(kind, test, patient, medications, findings):
        """Whether some fact of the alias' kind satisfies the predicate."""
        if kind == "patient":
            return test(patient)
        return any(test(fact) for fact in (medications if kind == "medication" else findings))


_floor = None


def fired(facts):
    """The ids of the rules that fire for one evaluation's facts (patient fact first, then medications)."""
    global _floor  # noqa: PLW0603 - compiled once per process, on first use
    if _floor is None:
        _floor = Floor(load_rules(RULES))
    return _floor.fired(facts)
