"""Seeded generated patients as engine facts, derived from the loaded rules (any rule file, no fixed names).

Every attribute of the fact vocabulary (rules/facts.yaml, and a cond_<name> flag per condition of the
value set) is sometimes absent (for $nex), often one of the constants some rule compares it with --
exactly, or just either side -- and otherwise spread over a plausible range; medication facts likewise.
Unrealistic combinations are allowed on purpose: the engine must agree with itself on any input.
"""
import random

NUMBER_STEPS = (0, 0, -1, 1, -0.1, 0.1)  # around each rule constant: on it, and just either side
# issue 11 item 4: iron therapy. Flags the service always sets (cdss/therapy.py), true for few patients:
# generated like the others, they would be absent or true for most patients and hide the rules they gate.
ALWAYS_SET = {"on_oral_iron": 0.5, "on_iv_iron": 0.15, "iv_iron_recent": 0.1, "iv_iron_allergy": 0.1}
# Shares of patients shaped as a woman of 15-49 with no recorded pregnancy status, and as a woman of 50 or
# more: the IV-iron hold and the postmenopausal anaemia rule need that whole conjunction at once.
WOMEN = 0.1


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


class FactGenerator:
    """Patients as the facts the engine receives: one patient fact and zero to four medication facts."""

    def __init__(self, knowledge, seed=13):
        self.rng = random.Random(seed)
        self.constants = rule_constants(knowledge)
        self.vocabulary = {kind: dict(specs) for kind, specs in knowledge.facts.items() if kind != "finding"}
        for name in knowledge.conditions:
            self.vocabulary["patient"][f"cond_{name}"] = {"type": "boolean"}

    def patient(self, index=0):
        """The facts of one generated patient."""
        facts = [self.shaped(self.fact("patient", "patient"))]
        facts.extend(self.fact("medication", f"medication:{index}:{number}")
                     for number in range(self.rng.choice((0, 0, 1, 1, 2, 3))))
        return facts

    def shaped(self, fact):
        """The always-set flags at their rates; now and then a woman of childbearing age or past 50."""
        for name, rate in ALWAYS_SET.items():
            if name in self.vocabulary["patient"]:
                fact[name] = self.rng.random() < rate
        roll = self.rng.random()
        if roll < 2 * WOMEN:
            fact.update(sex="female", age_group="adult", pregnant=False, postpartum=False)
            if roll < WOMEN:
                fact.update(pregnancy_status="unknown", age_years=round(self.rng.uniform(18, 49.9), 1))
            else:
                fact.update(pregnancy_status="not_pregnant", age_years=round(self.rng.uniform(50, 90), 1))
        return fact

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
