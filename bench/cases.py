"""Varied, realistic patient contexts for the benchmark and the soak: deterministic for a seed.

The mix follows the service's use: adults with and without iron studies, pregnancy and postpartum,
children, dialysis, common drugs that worsen RLS, coded conditions, labs in SI and conventional units.
Every case is valid (the benchmark measures evaluation, not rejection).
"""
import random

from cdss.config import ROOT
from cdss.loader import load_rules

CODED = [("icd-10-cm", "N18.6"), ("icd-10-cm", "E11.9"), ("icd-10-cm", "G47.33"), ("snomed", "73211009"),
         ("icd-10-cm", "Z99.2"), ("icd-10-cm", "I10")]  # some known, some not in the vocabulary
MEDICATIONS = [{"name": "sertraline"}, {"name": "metoclopramide"}, {"name": "Zoloft"}, {"name": "mirtazapine"},
               {"name": "diphenhydramine"}, {"name": "pramipexole"}, {"name": "ferrous sulfate"},
               {"name": "gabapentin"}, {"name": "quetiapine"}, {"name": "duloxetine"}, {"name": "lithium"},
               {"name": "lisinopril"}, {"name": "atorvastatin"}, {"name": "levodopa"}, {"name": "trazodone"},
               {"rxnorm": "36437"}, {"rxnorm": "6809"}]
CRITERIA = ("urge_to_move", "worse_at_rest", "relieved_by_movement", "worse_in_evening",
            "not_explained_by_other_condition")


def lab(rng, value, unit, factor=1.0):
    """A lab result, rounded like a laboratory reports it."""
    return {"value": round(value * factor, 1), "unit": unit}


def labs(rng, child):
    """Iron studies (often), folate (sometimes), hemoglobin; ferritin spans deficient to overloaded."""
    found = {}
    if rng.random() < 0.85:
        ferritin = rng.choice([rng.uniform(5, 75), rng.uniform(75, 120), rng.uniform(120, 600), 75, 100])
        found["ferritin"] = rng.choice([lab(rng, ferritin, "ng/mL"), lab(rng, ferritin, "ug/L"),
                                        lab(rng, ferritin, "pmol/L", 2.247)])
    if rng.random() < 0.8:
        found["tsat"] = lab(rng, rng.choice([rng.uniform(5, 20), rng.uniform(20, 45), rng.uniform(45, 70)]), "%")
    if rng.random() < 0.5:
        folate = rng.uniform(1.5, 20)
        found["folate"] = rng.choice([lab(rng, folate, "ng/mL"), lab(rng, folate, "nmol/L", 2.266)])
    if rng.random() < 0.4:
        found["hemoglobin"] = lab(rng, rng.uniform(9, 16), "g/dL")
    return found


def criteria(rng):
    """The five IRLSSG criteria: mostly all met, sometimes one false or unknown."""
    met = {name: True for name in CRITERIA}
    roll = rng.random()
    if roll < 0.1:
        met[rng.choice(CRITERIA)] = False
    elif roll < 0.2:
        met[rng.choice(CRITERIA)] = None
    return met


def make_case(rng, index, conditions):
    """One patient context; condition names are drawn from `conditions` (the loaded value set)."""
    child = rng.random() < 0.1
    age = rng.randint(6, 17) if child else rng.randint(18, 90)
    sex = rng.choice(["female", "female", "male", "unknown"] if not child else ["female", "male"])
    case = {"patient": {"id": f"bench-{index}", "age": age, "sex": sex}, "labs": labs(rng, child),
            "medications": rng.sample(MEDICATIONS, rng.choice([0, 0, 1, 1, 2, 3, 5])),
            "conditions": [{"name": name} for name in rng.sample(conditions, rng.choice([0, 0, 1, 2, 3]))]
            + [{"system": system, "code": code} for system, code in rng.sample(CODED, rng.choice([0, 0, 1, 2]))],
            "rls": {"onset_age": rng.randint(max(1, age - 30), age), "family_history": rng.random() < 0.4,
                    "criteria": criteria(rng)}}
    if sex == "female" and 18 <= age <= 45 and rng.random() < 0.5:
        case["pregnancy"] = rng.choice([{"status": "pregnant", "trimester": rng.randint(1, 3)},
                                        {"status": "pregnant"}, {"status": "postpartum", "weeks_postpartum": 3},
                                        {"status": "postpartum"}, {"status": "not_pregnant"}])
    if sex == "male":
        case["conditions"] = [item for item in case["conditions"] if item.get("name") != "pregnancy"]
    return case


def make_cases(count, seed=20261124, knowledge=None):
    """`count` varied patient contexts, the same for the same seed and condition value set."""
    knowledge = knowledge or load_rules(ROOT / "rules")
    rng, conditions = random.Random(seed), sorted(knowledge.conditions)
    return [make_case(rng, index, conditions) for index in range(count)]
