"""Seeded generated patients as engine facts, derived from the loaded rules (any rule file, no fixed names).

Every attribute of the fact vocabulary (rules/facts.yaml, and a cond_<name> flag per condition of the
value set) is sometimes absent (for $nex), often one of the constants some rule compares it with --
exactly, or just either side -- and otherwise spread over a plausible range; medication facts likewise.
Unrealistic combinations are allowed on purpose: the engine must agree with itself on any input.

A share of patients is aimed at one rule (issue 11 items 5-6): the patient fact takes values from one
satisfiable conjunction of that rule's condition (cdss.authoring.logic, findings replaced by the rules that
assert them) and a recognised ingredient from the value sets stands for each medication term, so that rules
needing a rare conjunction (a woman of 15-49 of unknown pregnancy status, clinically significant RLS on an
alpha-2-delta ligand in end-stage renal disease) are reached as often as the others.
"""
import random

from cdss.authoring import logic
from cdss.authoring.witness import candidates

NUMBER_STEPS = (0, 0, -1, 1, -0.1, 0.1)  # around each rule constant: on it, and just either side


def rule_constants(knowledge):
    """(kind, attribute) -> the constants rule conditions compare it with (numbers, strings, booleans)."""
    constants = {}

    def walk(kind, pattern):
        for key, value in pattern.items():
            if key in ("$and", "$or"):
                for part in value:
                    walk(kind, part)
            elif key.startswith("$"):
                for name, operand in value.items():
                    if key not in ("$ex", "$nex"):
                        constants.setdefault((kind, name), set()).add(operand)
            else:
                constants.setdefault((kind, key), set()).add(value)

    for rule in knowledge.rules:
        for _, kind, pattern in rule.aliases():
            walk(kind, pattern)
    return {key: sorted(values, key=repr) for key, values in constants.items()}


AIMED = 0.3  # the share of patients aimed at one rule


class FactGenerator:
    """Patients as the facts the engine receives: one patient fact and zero to four medication facts."""

    def __init__(self, knowledge, seed=13):
        from cdss.authoring.check import MedicationMatcher  # noqa: PLC0415 - builds the vocabulary once

        self.rng = random.Random(seed)
        self.constants = rule_constants(knowledge)
        self.vocabulary = {kind: dict(specs) for kind, specs in knowledge.facts.items() if kind != "finding"}
        for name in knowledge.conditions:
            self.vocabulary["patient"][f"cond_{name}"] = {"type": "boolean"}
        matcher = MedicationMatcher(knowledge)
        specs = logic.fact_specs(knowledge)
        self.targets = []  # (satisfiable conjunctions, medication facts) per rule that can fire
        for rule in knowledge.rules:
            terms = [term for term in logic.rule_dnf(knowledge, rule, matcher) if logic.satisfiable(term, specs)]
            names = [matcher.first(pattern) for _, kind, pattern in rule.aliases() if kind == "medication"]
            if terms:
                self.targets.append((terms, [matcher.facts[name] for name in names if name]))

    def patient(self, index=0):
        """The facts of one generated patient (now and then aimed at one rule)."""
        facts = [self.fact("patient", "patient")]
        facts.extend(self.fact("medication", f"medication:{index}:{number}")
                     for number in range(self.rng.choice((0, 0, 1, 1, 2, 3))))
        if self.targets and self.rng.random() < AIMED:
            self.aim(facts, index)
        return facts

    def aim(self, facts, index):
        """Give the patient fact the values of one conjunction of a random rule; add its medications."""
        terms, medications = self.rng.choice(self.targets)
        for name, fact in logic.constraints(self.rng.choice(terms)).items():
            value = self.rng.choice(candidates(fact))
            if value is None:
                facts[0].pop(name, None)
            elif value != "present":
                facts[0][name] = value
            elif not isinstance(facts[0].get(name), (int, float)):
                facts[0][name] = 30
        for number, medication in enumerate(medications):
            facts.append(dict(medication, fid=f"medication:{index}:aimed:{number}"))

    def fact(self, kind, fid):
        """One fact of `kind`: each attribute absent now and then, else a value near what the rules test."""
        fact = {"kind": kind, "fid": fid}
        for name, spec in self.vocabulary[kind].items():
            if self.rng.random() < 0.15:
                continue
            fact[name] = self.value(spec, self.constants.get((kind, name), []), name.startswith("cond_"))
        return fact

    def value(self, spec, constants, flag):
        """A value of the attribute's type."""
        rng = self.rng
        if spec["type"] == "boolean":
            return rng.random() < (0.1 if flag else 0.5)
        if spec["type"] == "number":
            numbers = [value for value in constants if isinstance(value, (int, float))]
            if numbers and rng.random() < 0.6:
                return round(rng.choice(numbers) + rng.choice(NUMBER_STEPS), 1)
            return round(rng.uniform(0, 1.5 * max(numbers, default=100)), 1)
        choices = list(spec.get("values") or []) + [value for value in constants if isinstance(value, str)]
        return rng.choice(choices + ["unlisted"]) if choices else "unlisted"
