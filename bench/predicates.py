"""The floor: the rules of rules/*.yaml written by hand as plain Python predicates over the same facts.

This mirrors every rule's condition (not its explanation) so the benchmark can show what deciding
costs with no engine at all. `fired(facts)` returns the ids of the rules that fire; the benchmark
checks it against the service on every case, so a drift between this file and the rules is reported.
"""


def has(fact, name):
    return name in fact


def eq(fact, name, value):
    return name in fact and fact[name] == value


def lt(fact, name, value):
    return name in fact and fact[name] < value


def le(fact, name, value):
    return name in fact and fact[name] <= value


def gt(fact, name, value):
    return name in fact and fact[name] > value


def ge(fact, name, value):
    return name in fact and fact[name] >= value


def any_true(fact, *names):
    return any(eq(fact, name, True) for name in names)


def adult_iron_candidate(p):
    """The shared part of the adult iron-treatment rules."""
    return (eq(p, "age_group", "adult") and eq(p, "pregnant", False) and eq(p, "cond_esrd_dialysis", False)
            and eq(p, "cond_hemochromatosis", False))


MALABSORPTION = ("cond_celiac_disease", "cond_bariatric_surgery", "cond_inflammatory_bowel_disease")
PATIENT_RULES = {
    "diagnosis.criteria-not-met": lambda p: eq(p, "dx_criteria", "unmet"),
    "diagnosis.criteria-incomplete": lambda p: eq(p, "dx_criteria", "incomplete"),
    "classification.cause.peripheral-neuropathy": lambda p: eq(p, "cond_peripheral_neuropathy", True),
    "classification.cause.parkinson-disease": lambda p: eq(p, "cond_parkinson_disease", True),
    "classification.cause.other-comorbidity": lambda p: any_true(p, "cond_multiple_sclerosis",
                                                                  "cond_spinal_cord_injury"),
    "classification.associated-condition": lambda p: eq(p, "associated_condition", True),
    "classification.primary.iron-replete-adult": lambda p: (eq(p, "age_group", "adult") and gt(p, "ferritin", 75)
                                                            and ge(p, "tsat", 20) and lt(p, "tsat", 45)),
    "classification.primary.iron-replete-child": lambda p: (eq(p, "age_group", "child") and ge(p, "ferritin", 50)
                                                            and has(p, "tsat") and lt(p, "tsat", 45)),
    "classification.undetermined.iron-unknown": lambda p: not has(p, "ferritin") or not has(p, "tsat"),
    "iron.workup.ferritin-missing": lambda p: not has(p, "ferritin"),
    "iron.workup.tsat-missing": lambda p: not has(p, "tsat"),
    "iron.deficiency.adult": lambda p: eq(p, "age_group", "adult") and (
        (le(p, "ferritin", 75) and (not has(p, "tsat") or lt(p, "tsat", 45))) or lt(p, "tsat", 20)),
    "iron.deficiency.child": lambda p: eq(p, "age_group", "child") and lt(p, "ferritin", 50),
    "iron.deficiency.coded": lambda p: any_true(p, "cond_iron_deficiency_anemia", "cond_iron_deficiency"),
    "iron.oral.adult": lambda p: (adult_iron_candidate(p) and le(p, "ferritin", 75) and lt(p, "tsat", 45)
                                  and all(eq(p, name, False) for name in MALABSORPTION)),
    "iron.oral.adult-low-tsat": lambda p: (adult_iron_candidate(p) and gt(p, "ferritin", 100)
                                           and lt(p, "ferritin", 300) and lt(p, "tsat", 20)),
    "iron.iv.adult-ferritin-75-100": lambda p: (adult_iron_candidate(p) and gt(p, "ferritin", 75)
                                                and le(p, "ferritin", 100) and lt(p, "tsat", 45)),
    "iron.iv.adult-malabsorption": lambda p: (adult_iron_candidate(p) and le(p, "ferritin", 75)
                                              and lt(p, "tsat", 45) and any_true(p, *MALABSORPTION)),
    "iron.iv.adult-alternative": lambda p: adult_iron_candidate(p) and le(p, "ferritin", 75) and lt(p, "tsat", 45),
    "iron.boundary.ferritin-100": lambda p: (eq(p, "age_group", "adult") and eq(p, "pregnant", False)
                                             and eq(p, "cond_esrd_dialysis", False) and eq(p, "ferritin", 100)),
    "iron.not-indicated.replete": lambda p: (eq(p, "age_group", "adult") and eq(p, "cond_esrd_dialysis", False)
                                             and gt(p, "ferritin", 100) and ge(p, "tsat", 20) and lt(p, "tsat", 45)),
    "iron.not-indicated.ferritin-300": lambda p: (eq(p, "age_group", "adult") and eq(p, "cond_esrd_dialysis", False)
                                                  and ge(p, "ferritin", 300) and lt(p, "tsat", 20)),
    "iron.safety.tsat-45": lambda p: ge(p, "tsat", 45),
    "iron.safety.hemochromatosis": lambda p: eq(p, "cond_hemochromatosis", True),
    "iron.safety.overload-referral": lambda p: gt(p, "ferritin", 300) and ge(p, "tsat", 45),
    "iron.discordant": lambda p: le(p, "ferritin", 75) and ge(p, "tsat", 45),
    "iron.interpretation.inflammation": lambda p: gt(p, "ferritin", 75) and any_true(
        p, "cond_ckd", "cond_esrd_dialysis", "cond_rheumatoid_arthritis", "cond_inflammatory_bowel_disease",
        "cond_malignancy"),
    "pregnancy.cause.pregnant": lambda p: eq(p, "pregnant", True),
    "pregnancy.cause.postpartum": lambda p: eq(p, "postpartum", True) and le(p, "weeks_postpartum", 4),
    "pregnancy.postpartum-weeks-missing": lambda p: eq(p, "postpartum", True) and not has(p, "weeks_postpartum"),
    "pregnancy.trimester-missing": lambda p: eq(p, "pregnant", True) and not has(p, "trimester"),
    "pregnancy.status-unknown": lambda p: (eq(p, "sex", "female") and eq(p, "pregnancy_status", "unknown")
                                           and ge(p, "age_years", 15) and lt(p, "age_years", 50)),
    "pregnancy.oral-iron": lambda p: (eq(p, "pregnant", True) and eq(p, "cond_hemochromatosis", False)
                                      and le(p, "ferritin", 75) and lt(p, "tsat", 45)),
    "pregnancy.boundary.ferritin-75": lambda p: eq(p, "pregnant", True) and eq(p, "ferritin", 75),
    "pregnancy.iv-iron.second-third-trimester": lambda p: (eq(p, "pregnant", True) and ge(p, "trimester", 2)
                                                           and eq(p, "cond_hemochromatosis", False)
                                                           and lt(p, "ferritin", 35) and lt(p, "tsat", 45)),
    "pregnancy.folate": lambda p: eq(p, "pregnant", True) and not has(p, "folate"),
    "pediatrics.oral-iron": lambda p: (eq(p, "age_group", "child") and eq(p, "cond_hemochromatosis", False)
                                       and lt(p, "ferritin", 50) and lt(p, "tsat", 45)),
    "pediatrics.oral-iron-consider": lambda p: (eq(p, "age_group", "child") and eq(p, "cond_hemochromatosis", False)
                                                and ge(p, "ferritin", 50) and le(p, "ferritin", 75)
                                                and lt(p, "tsat", 45)),
    "pediatrics.not-indicated": lambda p: eq(p, "age_group", "child") and gt(p, "ferritin", 100),
    "renal.cause": lambda p: any_true(p, "cond_esrd_dialysis", "cond_ckd"),
    "renal.dialysis.iv-iron": lambda p: (eq(p, "cond_esrd_dialysis", True) and eq(p, "cond_hemochromatosis", False)
                                         and lt(p, "ferritin", 200) and lt(p, "tsat", 20)),
    "renal.dialysis.nephrology": lambda p: eq(p, "cond_esrd_dialysis", True) and (
        ge(p, "ferritin", 200) or ge(p, "tsat", 20)),
    "renal.dialysis.other-measures": lambda p: eq(p, "cond_esrd_dialysis", True),
    "medications.exacerbating-conditions": lambda p: any_true(p, "cond_sleep_apnea", "cond_alcohol_use_disorder"),
    "folate.deficiency": lambda p: lt(p, "folate", 3),
    "folate.possible-deficiency": lambda p: ge(p, "folate", 3) and lt(p, "folate", 4.4),
    "folate.missing": lambda p: not has(p, "folate"),
}
MEDICATION_RULES = {
    "iron.recheck.on-iron": lambda m: eq(m, "drug_class", "iron_supplement"),
    "medications.worsening": lambda m: eq(m, "worsens_rls", True) and eq(m, "evidence", "standard"),
    "medications.worsening-low-evidence": lambda m: eq(m, "worsens_rls", True) and eq(m, "evidence", "low"),
}
# Rules that assert a finding other rules use, and the rules that use findings.
FINDINGS = {"classification.associated-condition": "possible_contributor", "folate.deficiency": "possible_contributor",
            "iron.deficiency.adult": "iron_deficiency", "iron.deficiency.child": "iron_deficiency",
            "iron.deficiency.coded": "iron_deficiency", "iron.oral.adult": "iron_therapy_indicated",
            "iron.oral.adult-low-tsat": "iron_therapy_indicated", "iron.iv.adult-ferritin-75-100": "iron_therapy_indicated",
            "iron.iv.adult-malabsorption": "iron_therapy_indicated", "pregnancy.oral-iron": "iron_therapy_indicated",
            "pediatrics.oral-iron": "iron_therapy_indicated", "renal.dialysis.iv-iron": "iron_therapy_indicated"}
FINDING_RULES = {
    "classification.undetermined.possible-contributor": lambda p, found: "possible_contributor" in found and (
        eq(p, "family_history", False) and (not has(p, "onset_age") or ge(p, "onset_age", 45))),
    "iron.recheck.after-treatment": lambda p, found: "iron_therapy_indicated" in found,
    "pregnancy.no-iv-iron.first-trimester": lambda p, found: (
        "iron_deficiency" in found and eq(p, "pregnant", True) and eq(p, "trimester", 1)),
    "pediatrics.iv-iron-specialist": lambda p, found: "iron_deficiency" in found and eq(p, "age_group", "child"),
}
DOPAMINERGIC = "medications.dopaminergic-augmentation"


def fired(facts):
    """The ids of the rules that fire for one evaluation's facts (patient fact first, then medications)."""
    patient, medications = facts[0], facts[1:]
    ids = {rule_id for rule_id, holds in PATIENT_RULES.items() if holds(patient)}
    ids.update(rule_id for medication in medications for rule_id, holds in MEDICATION_RULES.items()
               if holds(medication))
    if eq(patient, "cond_parkinson_disease", False) and any(
            eq(medication, "drug_class", "dopaminergic_rls_treatment") for medication in medications):
        ids.add(DOPAMINERGIC)
    found = {FINDINGS[rule_id] for rule_id in ids if rule_id in FINDINGS}
    ids.update(rule_id for rule_id, holds in FINDING_RULES.items() if holds(patient, found))
    return ids
