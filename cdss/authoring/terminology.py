"""`rules check`, terminology part: every code of the condition value sets exists in its code system,
every root still reaches its condition, and the names used for text matching are unambiguous."""
from cdss.terminology import ConditionIndex, icd10cm, loinc, snomed
from cdss.terminology.text import text_key


def check_terminology(knowledge, problem):
    """Problems of the condition value sets against the code systems; `problem(level, where, message)`."""
    file = knowledge.manifest["valuesets"]["conditions"]
    conditions = knowledge.conditions
    system, sets = icd10cm.load(), snomed.load_sets()
    index = ConditionIndex(conditions, system, sets)
    problems, texts = [], {}
    for name, spec in conditions.items():
        where = f"{file}: {name}"
        for root in [*spec["icd10cm"], *spec["icd10cm_exclude"]]:
            if not system.exists(root):
                problems.append(problem("error", where, f"ICD-10-CM {root} does not exist in {system.release}"))
        for root in spec["icd10cm"]:
            codes = system.expand(root)
            if codes and not any(index.by_icd10cm.get(code) == name for code in codes):
                problems.append(problem("warning", where, f"ICD-10-CM {root} reaches nothing: narrower roots of "
                                        "other conditions or this condition's exclusions take all its codes"))
        problems += check_snomed(spec, sets, index, name, where, problem)
        for other in spec["implies"]:
            if other not in conditions or other == name:
                problems.append(problem("error", where, f"implies {other!r}, which is not another condition"))
        for text in [name.replace("_", " "), spec["label"], *spec["synonyms"]]:
            owner = texts.setdefault(text_key(text), name)
            if owner != name:
                problems.append(problem("error", where, f"the text {text!r} also names {owner}"))
    problems += [problem("error", "cdss/terminology/loinc.py", f"LOINC {code} fails its check digit")
                 for code in [*loinc.LABS, *loinc.NOT_READ, loinc.PREGNANCY_STATUS, *loinc.GESTATIONAL_AGE]
                 if not loinc.check_digit_ok(code)]
    return problems


def check_snomed(spec, sets, index, name, where, problem):
    """Listed concepts are well-formed ids, named sets exist, and each listed concept reaches its condition."""
    problems = []
    for code in [*spec["snomed"], *spec["snomed_exclude"]]:
        if not snomed.well_formed(code):
            problems.append(problem("error", where, f"SNOMED CT {code} is not a valid concept id (check digit)"))
    for set_name in spec["snomed_sets"]:
        if set_name not in sets:
            problems.append(problem("error", where, f"no harvested SNOMED CT value set {set_name!r} "
                                    f"(cdss/terminology/data/snomed-valuesets.json)"))
    for code in spec["snomed"]:
        if not any(code in members for members in sets.values()):
            problems.append(problem("warning", where, f"SNOMED CT {code} is in no harvested value set: "
                                    "give its source in a comment"))
        elif name not in index.by_snomed.get(code, ()):
            problems.append(problem("warning", where, f"SNOMED CT {code} is taken by another condition"))
    return problems
