"""Iron therapy facts: the iron the patient is on (and since when), the IV iron they cannot have, their weight.

Durations count days from a medication's `start_date` to the context's `as_of`, so one stored context always
gives the same facts. The rules read the thresholds (oral iron for 3 months, IV iron in the last 12 weeks).
"""
import datetime as dt
import re

ORAL_IRON, IV_IRON = "iron_supplement", "iv_iron"  # drug classes of rules/valuesets/medications.yaml
# Ferritin rises for weeks after an IV iron dose (recheck 8-12 weeks after it; Mayo 2021 [S]): a dose in the
# last 12 weeks, or one whose date is not recorded, makes the ferritin unusable for iron decisions.
IV_IRON_WASHOUT_DAYS = 84
# Ferric carboxymaltose under 50 kg: 15 mg/kg per dose (US prescribing information).
LOW_WEIGHT_KG, FCM_MG_PER_KG = 50, 15
# Word roots of every IV iron ingredient and brand the value sets know (iron sucrose, Venofer, ferumoxytol,
# Injectafer, Monoferric, INFeD, iron dextran, ...): an allergy whose name the service cannot identify but which
# has one of them may be to IV iron, so it is listed as not checked. A name without any (penicillin, peanut,
# latex) cannot be an IV iron product the service knows, and is not listed.
MAYBE_IRON = re.compile(r"iron|fer|infed|dextran", re.IGNORECASE)


def add_iron_therapy(fact, context, resolved, vocabulary):
    """Add the iron-therapy facts of one context to the patient fact; `resolved` pairs each medication entry
    with its ingredients (vocabulary.ingredients, worked out once by build_facts)."""
    today = dt.date.fromisoformat(context.get("as_of") or dt.date.today().isoformat())
    oral, iv = listed(resolved, today)
    fact["on_oral_iron"] = bool(oral)
    if any(days is not None for days in oral):
        fact["oral_iron_days"] = max(days for days in oral if days is not None)
    fact["on_iv_iron"] = bool(iv)
    dated = [days for days in iv if days is not None]
    if dated:
        fact["iv_iron_days"] = min(dated)
    fact["iv_iron_recent"] = bool(iv) and (len(dated) < len(iv) or min(dated) < IV_IRON_WASHOUT_DAYS)
    allergies = [entry for entry in context.get("allergies", []) if is_iv_iron(entry, vocabulary)]
    fact["iv_iron_allergy"] = bool(allergies)
    if allergies:
        fact["iv_iron_allergy_detail"] = "; ".join(describe(entry, vocabulary) for entry in allergies)
    weight = context.get("patient", {}).get("weight_kg")
    if weight is not None:
        fact["weight_kg"] = weight
        if weight < LOW_WEIGHT_KG:
            fact["fcm_dose_mg"] = round(FCM_MG_PER_KG * weight)


def listed(resolved, today):
    """Days on each oral iron entry and since each IV iron entry (None: no start date)."""
    oral, iv = [], []
    for entry, ingredients in resolved:
        classes = {ingredient.drug_class for ingredient in ingredients}
        days = (today - dt.date.fromisoformat(entry["start_date"])).days if entry.get("start_date") else None
        if IV_IRON in classes:
            iv.append(days)
        elif ORAL_IRON in classes:
            oral.append(days)
    return oral, iv


def unchecked_allergies(context, vocabulary):
    """The allergies that could be to IV iron but that the service cannot identify, as listed in `unrecognized`:
    an RxNorm code it does not know (without a name), or a name with an iron word root that names no known drug."""
    unchecked = []
    for entry in context.get("allergies", []):
        name = entry.get("name")
        if vocabulary.names_known_drug(entry) or (name is not None and not MAYBE_IRON.search(name)):
            continue
        unchecked.append(vocabulary.unrecognized_medication(entry))
    return unchecked


def is_iv_iron(entry, vocabulary):
    """Whether an allergy's substance is an IV iron product."""
    return any(ingredient.drug_class == IV_IRON for ingredient in vocabulary.ingredients(entry))


def describe(entry, vocabulary):
    """'iron sucrose (anaphylaxis, severe)': the substance, and the reaction and severity when recorded."""
    names = [ingredient.name for ingredient in vocabulary.ingredients(entry) if ingredient.drug_class == IV_IRON]
    said = ", ".join(item for item in (entry.get("reaction"), entry.get("severity")) if item)
    return f"{' and '.join(names)} ({said})" if said else " and ".join(names)
