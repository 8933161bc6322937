"""Search for a patient with a given property (two rules firing together, a cause without its advice, a rule
firing in a population): candidate contexts built from the boundary values of a condition in logic form,
run through the real schema and the real engine (the engine has the last word)."""
import itertools

from marshmallow import ValidationError

from cdss.authoring.logic import constraints
from cdss.facts import ADULT_AGE, UnknownConditionError
from schemas.context import CRITERIA, PatientContextSchema

LIMIT = 400  # candidate patients per pair of rules
STEP = 0.1  # just inside an open bound: values are compared at the resolution labs are reported
LABS = {"ferritin": "ng/mL", "tsat": "%", "folate": "ng/mL", "hemoglobin": "g/dL", "serum_iron": "ug/dL",
        "tibc": "ug/dL"}


def candidates(fact):
    """Values worth trying for one fact's constraints: the equal value, or the interval's edges and middle."""
    if fact["nex"]:
        return [None]
    if fact["eq"]:
        return list(fact["eq"])
    (lo, lo_in), (hi, hi_in) = fact["lo"], fact["hi"]
    if lo == float("-inf") and hi == float("inf"):
        return ["present"]
    low = lo if lo_in else lo + STEP
    high = hi if hi_in else hi - STEP
    return list(dict.fromkeys(round(value, 4) for value in (low, (low + high) / 2, high) if low <= value <= high))


def assignments(term, limit=LIMIT):
    """Every combination of candidate values of the facts a conjunction constrains (capped)."""
    facts = constraints(term)
    names = sorted(facts)
    for values in itertools.islice(itertools.product(*(candidates(facts[name]) for name in names)), limit):
        yield dict(zip(names, values))


def native_context(values, knowledge, medications):
    """A native patient context in which the patient fact takes `values` (as far as contexts can say)."""
    age = values.get("age_years")
    if not isinstance(age, (int, float)):
        age = ADULT_AGE - 8 if values.get("age_group") == "child" else 40
    patient = {"age": age, "sex": values.get("sex", "female")}
    if "age_years" in values and values["age_years"] is None:
        del patient["age"]  # the condition asks for an unknown age
    context = {"patient": patient, "labs": {},
               "medications": [{"name": name} for name in medications], "conditions": []}
    for test, unit in LABS.items():
        value = values.get(test)
        if value is not None:
            context["labs"][test] = {"value": 30 if value == "present" else value, "unit": unit}
    pregnancy = pregnancy_section(values)
    if pregnancy:
        context["pregnancy"] = pregnancy
    context["conditions"] = condition_entries(values, knowledge)
    context["rls"] = rls_section(values)
    return context


def pregnancy_section(values):
    """The pregnancy section that yields the pregnancy facts asked for."""
    status = values.get("pregnancy_status")
    if status is None:
        status = ("pregnant" if values.get("pregnant") is True or "trimester" in values else
                  "postpartum" if values.get("postpartum") is True or "weeks_postpartum" in values else
                  "not_pregnant" if values.get("pregnant") is False or values.get("postpartum") is False else None)
    if status in (None, "unknown"):
        return None
    section = {"status": status}
    if status == "pregnant" and isinstance(values.get("trimester"), (int, float)):
        section["trimester"] = int(values["trimester"])
    if status == "postpartum" and isinstance(values.get("weeks_postpartum"), (int, float)):
        section["weeks_postpartum"] = values["weeks_postpartum"]
    return section


def condition_entries(values, knowledge):
    """Conditions by name: those whose flag must be true, plus one associated condition when asked."""
    names = [name[5:] for name, value in values.items() if name.startswith("cond_") and value is True]
    if values.get("associated_condition") is True and not any(
            knowledge.conditions[name]["role"] == "associated" for name in names):
        names.append(next(name for name, spec in knowledge.conditions.items() if spec["role"] == "associated"))
    return [{"name": name} for name in names]


def rls_section(values):
    """Criteria met, unmet or incomplete; family history and onset age as asked."""
    status = values.get("dx_criteria", "met")
    rls = {}
    if status != "incomplete":
        rls["criteria"] = {name: True for name in CRITERIA}
        if status == "unmet":
            rls["criteria"]["not_explained_by_other_condition"] = False
    for flag in ("family_history", "clinically_significant"):
        if isinstance(values.get(flag), bool):
            rls[flag] = values[flag]
    if isinstance(values.get("onset_age"), (int, float)):
        rls["onset_age"] = values["onset_age"]
    return rls


def co_firing(evaluator, first, second, terms, medications):
    """A native context on which both rules fire, or None when none of the candidates does."""
    return search(evaluator, terms, medications, lambda result, fired, _: first in fired and second in fired)


def search(evaluator, terms, medications, found, limit=LIMIT):
    """The first candidate context whose evaluation satisfies found(result, fired rule ids, loaded context)."""
    schema = PatientContextSchema()
    for term in terms:
        for values in assignments(term, limit):
            context = native_context(values, evaluator.knowledge, medications)
            try:
                loaded = schema.load(context)
                result = evaluator.evaluate(loaded)
            except (ValidationError, UnknownConditionError):
                continue  # not a possible patient
            if found(result, {item["rule"] for item in result["fired_rules"]}, loaded):
                return context
    return None


def summary(context):
    """A witness patient in one line (the sections that matter)."""
    patient = context["patient"]
    parts = [f"age {patient['age']}" if "age" in patient else "age unknown", f"sex {patient['sex']}"]
    parts += [f"{test} {lab['value']:g} {lab['unit']}" for test, lab in context["labs"].items()]
    if "pregnancy" in context:
        parts.append("pregnancy " + ", ".join(f"{key} {value}" for key, value in context["pregnancy"].items()))
    parts += [f"condition {item['name']}" for item in context["conditions"]]
    parts += [f"medication {item['name']}" for item in context["medications"]]
    criteria = context["rls"].get("criteria")
    if criteria is None:
        parts.append("RLS criteria not documented")
    elif not all(criteria.values()):
        parts.append("RLS criteria: " + ", ".join(f"{name} false" for name, value in criteria.items() if not value))
    return "; ".join(parts)
