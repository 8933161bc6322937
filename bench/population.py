"""Seeded generated patients as engine facts, derived from the loaded rules (any rule file, no fixed names).

Every attribute of the fact vocabulary (rules/facts.yaml, and a cond_<name> flag per condition of the
value set) is sometimes absent (for $nex), often one of the constants some rule compares it with --
exactly, or just either side -- and otherwise spread over a plausible range; medication facts likewise.
Unrealistic combinations are allowed on purpose: the engine must agree with itself on any input.
"""
import random

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
        facts = [self.fact("patient", "patient")]
        facts.extend(self.fact("medication", f"medication:{index}:{number}")
                     for number in range(self.rng.choice((0, 0, 1, 1, 2, 3))))
        return facts

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
