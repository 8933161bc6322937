"""Observation values as the rules can use them: quantities, numeric strings and censored results.

Laboratories report results outside an assay's range as censored values: `valueQuantity` with a
`comparator` ("<", "<=", ">=", ">") or a `valueString` such as "<5" or ">1000". A censored value is
an interval, not a number. It is honest to give the rules a number only when every threshold the
rules compare that test against decides the same way for every value of the interval (ferritin "<5"
is below every ferritin threshold); otherwise the result is reported as "could not be checked",
never as "not recorded".
"""
import math
import re
from dataclasses import dataclass

from cdss.units import TESTS, to_canonical

UCUM = "http://unitsofmeasure.org"
COMPARATORS = {"<": "<", "<=": "<=", ">=": ">=", ">": ">", "≤": "<=", "≥": ">="}
MAX_MAGNITUDE = 1e9  # no laboratory value the service reads comes near this; larger is a broken value
NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
STRING_VALUE = re.compile(rf"^\s*(<=|>=|<|>|≤|≥)?\s*({NUMBER})\s*([^\s0-9].{{0,31}})?\s*$")
NUMERIC_OPERATORS = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}


class UnusableValue(ValueError):
    """A value that is present but cannot be read as a number with a unit; the message says why."""


@dataclass(frozen=True)
class Reading:
    """A reported result: the number, its unit, and the comparator of a censored value (or None)."""

    value: float
    unit: str | None
    comparator: str | None = None

    def shown(self):
        """The result as reported, e.g. '<5 ng/mL'."""
        return f"{self.comparator or ''}{self.value:g}{' ' + self.unit if self.unit else ''}"


def plausible(value, where):
    """A JSON number that is finite and of a size a measurement can have, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnusableValue(f"{where} is not a number")
    if isinstance(value, int) and abs(value) >= MAX_MAGNITUDE:
        raise UnusableValue(f"{where} is not a plausible number")
    if not math.isfinite(value) or abs(value) >= MAX_MAGNITUDE:
        raise UnusableValue(f"{where} is not a plausible number")
    return float(value)


def reference_unit(observation):
    """The unit of the first reference range's bounds, for results reported as text."""
    ranges = observation.get("referenceRange")
    first = ranges[0] if isinstance(ranges, list) and ranges and isinstance(ranges[0], dict) else {}
    for bound in (first.get("low"), first.get("high")):
        if isinstance(bound, dict):
            unit = bound.get("code") if bound.get("system") == UCUM and bound.get("code") else bound.get("unit")
            if isinstance(unit, str) and unit.strip():
                return unit.strip()
    return None


def read_value(observation):
    """The Reading of an Observation's value, None when it has no value, or UnusableValue."""
    if "valueQuantity" in observation:
        quantity = observation["valueQuantity"]
        value = plausible(quantity.get("value"), "valueQuantity.value")
        comparator = quantity.get("comparator")
        if comparator is not None and comparator not in COMPARATORS:
            raise UnusableValue(f"comparator {str(comparator)[:8]!r} is not a FHIR comparator")
        unit = quantity.get("code") if quantity.get("system") == UCUM and quantity.get("code") else quantity.get("unit")
        return Reading(value, unit.strip()[:32] if isinstance(unit, str) and unit.strip() else None,
                       COMPARATORS.get(comparator))
    if "valueString" in observation:
        match = STRING_VALUE.match(observation["valueString"])
        if not match:
            raise UnusableValue("the text result is not a number")
        unit = (match.group(3) or "").strip()
        if re.match(r"[eE][+-]?[0-9]", unit):
            raise UnusableValue("the text result is not a plain number")
        value = plausible(float(match.group(2)), "the text result")
        unit = unit or reference_unit(observation)
        return Reading(value, unit[:32] if unit else None, COMPARATORS.get(match.group(1)))
    if "valueInteger" in observation:
        return Reading(plausible(observation["valueInteger"], "valueInteger"), reference_unit(observation))
    return None


def lab_thresholds(knowledge):
    """{fact: [(operator, threshold)]}: every numeric comparison the rules make on a patient fact."""
    found = {}

    def walk(pattern):
        for key, value in pattern.items():
            if key in ("$and", "$or"):
                for part in value:
                    walk(part)
            elif key in NUMERIC_OPERATORS:
                (name, operand), = value.items()
                found.setdefault(name, set()).add((NUMERIC_OPERATORS[key], float(operand)))
            elif not key.startswith("$") and isinstance(value, (int, float)) and not isinstance(value, bool):
                found.setdefault(key, set()).add(("==", float(value)))

    for rule in knowledge.rules:
        for _, kind, pattern in rule.aliases():
            if kind == "patient":
                walk(pattern)
    return {name: sorted(pairs) for name, pairs in found.items()}


def interval(test, reading):
    """The canonical closed interval (low, high) a censored reading stands for; the bound is included.

    Including the bound is what makes the bound itself a safe value to give the rules: when every
    decision is the same on [0, 5], it is the same for 5 and for every value below 5."""
    bound, _ = to_canonical(test, reading.value, reading.unit or "")
    spec = TESTS[test]
    return (spec.low, bound) if reading.comparator in ("<", "<=") else (bound, spec.high)


def decided(operator, threshold, low, high):
    """Whether `value <operator> threshold` is the same for every value in [low, high]."""
    if operator == "<":
        return high < threshold or low >= threshold
    if operator == "<=":
        return high <= threshold or low > threshold
    if operator == ">":
        return low > threshold or high <= threshold
    if operator == ">=":
        return low >= threshold or high < threshold
    return threshold < low or threshold > high  # equality


def undecided_threshold(test, reading, thresholds):
    """The first threshold a censored reading cannot be placed against; None when every decision is the same.

    Raises UnitError for a unit the test does not accept, UnusableValue for a bound outside the possible range."""
    low, high = interval(test, reading)
    if low > high:
        raise UnusableValue(f"{reading.shown()} lies outside the possible range")
    for operator, threshold in thresholds.get(test, ()):
        if not decided(operator, threshold, low, high):
            return threshold
    return None


