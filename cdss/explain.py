"""Readable forms of durable_rules conditions: the rule as written, and why it fired for one patient."""

SYMBOLS = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
COMPARE = {"$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
           "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b}


def quantity(knowledge, kind, name, value):
    """A value with its unit, as the reasoning shows it: '32 ng/mL'."""
    return quantifier(knowledge, kind, name)(value)


def quantifier(knowledge, kind, name):
    """quantity() for one fact, its unit looked up once (explainers call it for every firing)."""
    unit = knowledge.fact_spec(kind, name).get("unit", "")

    def show(value):
        shown = f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else value
        return f"{shown} {unit}".strip() if unit and unit != "%" else f"{shown}{unit}"
    return show


def describe(knowledge, kind, pattern):
    """The pattern as readable text, for the knowledge base: 'ferritin <= 75 ng/mL and tsat < 45%'."""
    (key, value), = pattern.items()
    if key in ("$and", "$or"):
        parts = [describe(knowledge, kind, part) for part in value]
        joined = f" {key[1:]} ".join(parts)
        return f"({joined})" if key == "$or" else joined
    if key in ("$ex", "$nex"):
        name = next(iter(value))
        return f"{name} is {'recorded' if key == '$ex' else 'missing'}"
    if key in SYMBOLS:
        (name, operand), = value.items()
        return f"{name} {SYMBOLS[key]} {quantity(knowledge, kind, name, operand)}"
    return equality(knowledge, kind, key, value)


def label(knowledge, kind, name):
    """How a clinician reads a fact's name: 'Ferritin', 'TSAT' (facts.yaml labels)."""
    return knowledge.fact_spec(kind, name)["label"]


def holds(pattern, fact):
    """Whether a pattern holds for a fact (the engine decided already; this picks what to explain)."""
    (key, value), = pattern.items()
    if key == "$and":
        return all(holds(part, fact) for part in value)
    if key == "$or":
        return any(holds(part, fact) for part in value)
    if key in ("$ex", "$nex"):
        return (next(iter(value)) in fact) == (key == "$ex")
    if key in COMPARE:
        (name, operand), = value.items()
        return isinstance(fact.get(name), (int, float)) and COMPARE[key](fact[name], operand)
    return fact.get(key) == value


def explainer(knowledge, kind, pattern):
    """For one pattern, a function of the fact giving the true parts of the pattern with this patient's
    values, each with the fact it names: [('ferritin 32 ng/mL <= 75 ng/mL', 'ferritin')]. Made once per
    rule term at load: the patterns never change, so only the values are filled in per evaluation."""
    (key, value), = pattern.items()
    if key == "$and":
        leaves = [leaf(knowledge, kind, item) for item in value]
        if all(leaves):  # the usual condition: comparisons and equalities, one part each
            return lambda fact: [show(fact) for show in leaves]
        parts = [explainer(knowledge, kind, item) for item in value]
        return lambda fact: [part for explain in parts for part in explain(fact)]
    if key == "$or":
        branches = [(item, explainer(knowledge, kind, item)) for item in value]
        return lambda fact: [part for item, explain in branches if holds(item, fact) for part in explain(fact)]
    show = leaf(knowledge, kind, pattern)
    return lambda fact: [show(fact)]


def leaf(knowledge, kind, pattern):
    """For a pattern that is not $and/$or, a function of the fact giving its one part (text, fact name);
    None for $and and $or."""
    (key, value), = pattern.items()
    if key in ("$and", "$or"):
        return None
    if key == "$nex":
        name = next(iter(value))
        missing = (f"{label(knowledge, kind, name)} not recorded", name)
        return lambda fact: missing
    if key == "$ex":
        name = next(iter(value))
        shown, value_of = label(knowledge, kind, name), quantifier(knowledge, kind, name)
        return lambda fact: (f"{shown} {value_of(fact[name])}", name)
    if key in SYMBOLS:
        (name, operand), = value.items()
        shown, bound = label(knowledge, kind, name), f" {SYMBOLS[key]} {quantity(knowledge, kind, name, operand)}"
        value_of = quantifier(knowledge, kind, name)
        return lambda fact: (f"{shown} {value_of(fact[name])}{bound}", name)
    equal = (stated(knowledge, kind, key, value), key)
    return lambda fact: equal


def stated(knowledge, kind, name, value):
    """An equality as the reasoning states it: 'Hemochromatosis recorded', 'Pregnant: yes',
    'Evidence that it worsens RLS: case reports only' (labels and value labels from facts.yaml)."""
    spec = knowledge.fact_spec(kind, name)
    if kind == "patient" and name.startswith("cond_"):
        return f"{spec['label']} recorded" if value else f"No {spec['description']} recorded"
    if isinstance(value, bool):
        return f"{spec['label']}: {'yes' if value else 'no'}"
    names = spec.get("value_labels") or {}
    if kind == "medication" and name == "drug_class":
        names = {code: entry["label"] for code, entry in knowledge.medications.items()}
    shown = names.get(value, quantity(knowledge, kind, name, value))
    return f"{spec['label']}: {shown}"


def equality(knowledge, kind, name, value):
    """An equality as a clinician reads it: 'hemochromatosis recorded', 'pregnant = true'."""
    if kind == "patient" and name.startswith("cond_"):
        label = knowledge.fact_spec(kind, name)["description"]
        return f"{label} recorded" if value else f"no {label} recorded"
    return f"{name} = {quantity(knowledge, kind, name, value)}"
