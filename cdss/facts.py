"""The canonical patient context becomes the facts the rules test: one patient fact, one per medication."""
from dataclasses import dataclass, field

from cdss.therapy import add_iron_therapy, unchecked_allergies

ADULT_AGE = 18  # AASM 2025 and IRLSSG 2018 give separate pediatric thresholds below 18 years.


class UnknownConditionError(ValueError):
    """A condition `name` that is not in the service's vocabulary."""

    def __init__(self, fields):
        super().__init__("unknown condition name")
        self.fields = fields


@dataclass
class FactSet:
    """The facts of one evaluation and what could not be matched to the vocabulary."""

    facts: list
    unrecognized: dict = field(default_factory=dict)
    associated: list = field(default_factory=list)


def build_facts(context, vocabulary):
    """Build the facts of one evaluation from a validated, canonical patient context."""
    unrecognized = {"medications": [], "conditions": [], "allergies": unchecked_allergies(context, vocabulary)}
    present, errors = set(), {}
    for index, entry in enumerate(context["conditions"]):
        names = vocabulary.condition_names(entry)
        if not names and "name" in entry:
            errors[f"conditions.{index}.name"] = [f"unknown condition {entry['name']!r}; see GET /api/v1/vocabulary"]
        elif not names:
            unrecognized["conditions"].append(vocabulary.unrecognized_condition(entry))
        else:
            present.update(names)
    if errors:
        raise UnknownConditionError(errors)
    patient = patient_fact(context, present, vocabulary)
    resolved = [(entry, vocabulary.ingredients(entry)) for entry in context["medications"]]  # once per entry
    add_iron_therapy(patient, context, resolved, vocabulary)
    medications = {}
    for entry, found in resolved:
        if not found and not vocabulary.recognises_medication(entry):  # a known drug outside RLS: nothing to say
            unrecognized["medications"].append(vocabulary.unrecognized_medication(entry))
        for ingredient in found:
            medications.setdefault(ingredient.name, medication_fact(ingredient))
    associated = sorted(present & vocabulary.associated)
    unrecognized = {key: value for key, value in unrecognized.items() if value}
    return FactSet([patient, *medications.values()], unrecognized, associated)


def patient_fact(context, present, vocabulary):
    """The one patient fact: demographics, canonical lab values, pregnancy, RLS history, condition flags."""
    patient = context["patient"]
    fact = {"kind": "patient", "fid": "patient", "sex": patient.get("sex", "unknown")}
    age = patient.get("age")
    if age is not None:
        fact["age_years"] = age
    fact["age_group"] = "child" if age is not None and age < ADULT_AGE else "adult"
    for test, lab in context["labs"].items():
        fact[test] = lab["value"]
    if "tsat" not in fact and fact.get("serum_iron") is not None and fact.get("tibc"):
        # AASM: TSAT is calculated from serum iron and TIBC (same units).
        fact["tsat"] = round(100 * fact["serum_iron"] / fact["tibc"], 1)
    add_pregnancy(fact, context.get("pregnancy"), "pregnancy" in present)
    rls = context["rls"]
    fact["dx_criteria"] = criteria_status(rls.get("criteria", {}))
    fact["family_history"] = rls.get("family_history") is True
    if rls.get("onset_age") is not None:
        fact["onset_age"] = rls["onset_age"]
    if rls.get("clinically_significant") is not None:  # absent: not known (never taken as false)
        fact["clinically_significant"] = rls["clinically_significant"]
    for name, key in vocabulary.condition_keys:
        fact[key] = name in present
    fact["associated_condition"] = not present.isdisjoint(vocabulary.associated)
    return fact


def add_pregnancy(fact, pregnancy, coded_pregnancy):
    """Pregnancy status from the pregnancy section, or from a coded pregnancy condition."""
    status = (pregnancy or {}).get("status") or ("pregnant" if coded_pregnancy else "unknown")
    fact["pregnancy_status"] = status
    fact["pregnant"] = status == "pregnant"
    fact["postpartum"] = status == "postpartum"
    for key in ("trimester", "weeks_postpartum"):
        if pregnancy and key in pregnancy:
            fact[key] = pregnancy[key]


def criteria_status(criteria):
    """IRLSSG 2014: all five essential criteria must be met; any false one means 'unmet'."""
    values = [criteria.get(name) for name in
              ("urge_to_move", "worse_at_rest", "relieved_by_movement", "worse_in_evening",
               "not_explained_by_other_condition")]
    if any(value is False for value in values):
        return "unmet"
    return "met" if all(value is True for value in values) else "incomplete"


def medication_fact(ingredient):
    """One fact per recognised ingredient."""
    return {"kind": "medication", "fid": f"medication:{ingredient.name}", "ingredient": ingredient.name,
            "drug_class": ingredient.drug_class, "class_label": ingredient.label,
            "worsens_rls": ingredient.worsens_rls, "evidence": ingredient.evidence,
            "alternatives": ingredient.alternatives}
