"""Rule conditions as logic: disjunctive normal form over patient facts, and whether a conjunction can hold."""
import itertools

from cdss.loader import finding_names
from cdss.units import TESTS

MAX_TERMS = 512  # a DNF larger than this is cut (the analysis then only under-reports)
COMPARISONS = {"$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte"}
# The values a fact can take at all: lab ranges from cdss/units.py, the others from schemas/context.py.
RANGES = {**{test: (spec.low, spec.high) for test, spec in TESTS.items()},
          "age_years": (0, 130), "onset_age": (0, 130), "trimester": (1, 3), "weeks_postpartum": (0, 520),
          "weight_kg": (0, 400), "oral_iron_days": (0, 3650), "iv_iron_days": (0, 3650)}


def dnf(pattern):
    """A pattern as a list of conjunctions of atoms (fact, op, value); op: eq lt lte gt gte ex nex."""
    (key, value), = pattern.items()
    if key == "$and":
        parts = [dnf(part) for part in value]
        return [sum(combo, []) for combo in itertools.islice(itertools.product(*parts), MAX_TERMS)]
    if key == "$or":
        return [term for part in value for term in dnf(part)][:MAX_TERMS]
    if key in ("$ex", "$nex"):
        return [[(next(iter(value)), key[1:], None)]]
    if key in COMPARISONS:
        (name, operand), = value.items()
        return [[(name, COMPARISONS[key], operand)]]
    return [[(key, "eq", value)]]


def rule_dnf(knowledge, rule, matches_medication, seen=frozenset()):
    """The patient-fact DNF under which a rule can fire; findings are replaced by their asserting rules."""
    terms = [[]]
    for alias, kind, pattern in rule.aliases():
        if kind == "patient":
            options = dnf(pattern)
        elif kind == "medication":
            options = [[]] if matches_medication(pattern) else []
        else:
            options = finding_dnf(knowledge, pattern, matches_medication, seen | {rule.id})
        terms = [left + right for left, right in itertools.product(terms, options)][:MAX_TERMS]
    return terms


def finding_dnf(knowledge, pattern, matches_medication, seen):
    """The DNF under which some rule asserts a finding the pattern names (cycles are cut)."""
    names = set(finding_names(pattern))
    terms = []
    for rule in knowledge.rules:
        if rule.then.get("finding") in names and rule.id not in seen:
            terms += rule_dnf(knowledge, rule, matches_medication, seen)
    return terms[:MAX_TERMS]


def constraints(term):
    """Per fact: {'eq': set, 'ex': bool, 'nex': bool, 'lo': (value, inclusive), 'hi': (value, inclusive)}."""
    facts = {}
    for name, op, value in term:
        fact = facts.setdefault(name, {"eq": set(), "ex": False, "nex": False,
                                       "lo": (RANGES.get(name, (float("-inf"),))[0], True),
                                       "hi": (RANGES.get(name, (None, float("inf")))[1], True)})
        if op == "eq":
            fact["eq"].add(value)
        elif op in ("ex", "nex"):
            fact[op] = True
        else:
            fact["ex"] = True  # a comparison holds only on a fact that is present
            narrow(fact, op, value)
    return facts


def narrow(fact, op, value):
    """Tighten a fact's interval with one comparison."""
    if op in ("gt", "gte"):
        bound = (value, op == "gte")
        if bound[0] > fact["lo"][0] or (bound[0] == fact["lo"][0] and not bound[1]):
            fact["lo"] = bound
    else:
        bound = (value, op == "lte")
        if bound[0] < fact["hi"][0] or (bound[0] == fact["hi"][0] and not bound[1]):
            fact["hi"] = bound


# Boolean facts that one patient never has true together (both come from the one pregnancy status).
EXCLUSIVE = (("pregnant", "postpartum"),)


def satisfiable(term, specs):
    """Whether a conjunction can hold: per fact, equal values agree and lie in range, intervals are not empty;
    across facts, no two exclusive facts are both true."""
    facts = constraints(term)
    if any(all(facts.get(name, {}).get("eq") == {True} for name in group) for group in EXCLUSIVE):
        return False
    status = facts.get("pregnancy_status", {}).get("eq", set())
    for flag, value in (("pregnant", "pregnant"), ("postpartum", "postpartum")):
        if facts.get(flag, {}).get("eq") == {True} and status and status != {value}:
            return False  # pregnant and postpartum are read from the one pregnancy status
    for name, fact in facts.items():
        (lo, lo_in), (hi, hi_in) = fact["lo"], fact["hi"]
        if len(fact["eq"]) > 1 or (fact["nex"] and (fact["ex"] or fact["eq"])):
            return False
        if lo > hi or (lo == hi and not (lo_in and hi_in)):
            return False
        allowed = specs(name).get("values")
        for value in fact["eq"]:
            if allowed and value not in allowed:
                return False
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not inside(value, fact):
                return False
    return True


def inside(value, fact):
    """Whether a number lies in a fact's interval."""
    (lo, lo_in), (hi, hi_in) = fact["lo"], fact["hi"]
    return (value > lo or (lo_in and value == lo)) and (value < hi or (hi_in and value == hi))


def guaranteed(term, name):
    """Whether a conjunction makes a fact present (tested by equality, comparison or $ex)."""
    return any(fact == name and op != "nex" for fact, op, _ in term)


def fact_specs(knowledge):
    """fact name -> vocabulary entry of a patient fact ({} for a name the vocabulary lacks)."""
    def spec(name):
        try:
            return knowledge.fact_spec("patient", name)
        except KeyError:
            return {}
    return spec
