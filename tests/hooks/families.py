"""Realistic FHIR R4 fixture cases, shaped the way Epic, Oracle Health, US Core 6/7 and Synthea send data.

Each case is one patient: the resources a CDS client would prefetch and what the service must make of
them (`expected`): lab values in canonical units, pregnancy, condition names, medication ingredients,
and `said` (phrases the "could not be checked" card must carry for data it cannot use). The cases are
written to tests/hooks/fixtures/families/ by `python -m tests.hooks.families` (on purpose only), and
validated against the FHIR R4B models in tests/hooks/test_families.py.
"""
import datetime as dt
import inspect
import json
from pathlib import Path

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)  # the cases' "today"
OUT = Path(__file__).resolve().parent / "fixtures" / "families"
LOINC, SCT, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"
ICD, RX = "http://hl7.org/fhir/sid/icd-10-cm", "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
EPIC_LAB = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.6"  # an Epic organisation's local component ids
CERNER_72 = "https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/72"
MULTUM = "https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/synonym"
LAB_CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                             "code": "laboratory", "display": "Laboratory"}]}]
PROBLEM = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item", "display": "Problem List Item"}]}]


def patient(pid, gender, born):
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": born,
            "name": [{"use": "official", "family": "Test", "given": [pid]}]}


def lab(pid, rid, code, display, value=None, unit=None, when="2026-11-02T08:30:00Z", system=LOINC, extra_codings=(),
        **value_x):
    found = {"resourceType": "Observation", "id": rid, "status": "final", "category": LAB_CATEGORY,
             "code": {"coding": [*extra_codings, {"system": system, "code": code, "display": display}], "text": display},
             "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when}
    if "T" in when:
        found["issued"] = when  # an instant: date and time
    if value is not None:
        found["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    found.update(value_x)
    return found


def condition(pid, rid, codings, text, clinical="active", recorded="2025-06-01", **extra):
    return {"resourceType": "Condition", "id": rid, "category": PROBLEM,
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
            "code": {"coding": [{"system": system, "code": code, "display": display}
                                for system, code, display in codings], "text": text},
            "subject": {"reference": f"Patient/{pid}"}, "recordedDate": recorded, **extra}


def order(pid, rid, concept=None, reference=None, contained=None, authored="2026-10-01"):
    found = {"resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
             "subject": {"reference": f"Patient/{pid}"}, "authoredOn": authored}
    if contained:
        found["contained"] = [contained]
    if concept:
        found["medicationCodeableConcept"] = concept
    if reference:
        found["medicationReference"] = reference
    return found


def rxnorm(code, display, *others):
    return {"coding": [{"system": RX, "code": code, "display": display}, *others], "text": display}


def rls(pid, rid="rls", systems=("icd", "sct")):
    codings = {"icd": (ICD, "G25.81", "Restless legs syndrome"), "sct": (SCT, "32914008", "Restless legs")}
    return condition(pid, rid, [codings[system] for system in systems], "Restless legs syndrome")


def pregnancy_status(pid, rid, system, code, display, when="2026-11-01"):
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "social-history"}]}],
            "code": {"coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
            "valueCodeableConcept": {"coding": [{"system": system, "code": code, "display": display}]}}


def epic():
    """Epic: LOINC next to local component ids, censored values with comparator, external Medications."""
    cases = {}
    p = "eAbc1"
    cases["epic-censored-ferritin-external-medication"] = {
        "resources": [patient(p, "female", "1979-05-02"), rls(p),
                      lab(p, "f1", "2276-4", "Ferritin", extra_codings=[{"system": EPIC_LAB, "code": "1554"}],
                          valueQuantity={"value": 5, "comparator": "<", "unit": "ng/mL", "system": UCUM, "code": "ng/mL"}),
                      lab(p, "t1", "2502-3", "Iron Saturation", 8, "%", extra_codings=[{"system": EPIC_LAB, "code": "1560"}]),
                      lab(p, "h1", "718-7", "Hemoglobin", 10.9, "g/dL"),
                      order(p, "mr1", reference={"reference": "Medication/eMed311666", "display": "METOCLOPRAMIDE 10 MG PO TABS"}),
                      {"resourceType": "Medication", "id": "eMed311666",
                       "code": {"coding": [{"system": RX, "code": "311666"}], "text": "METOCLOPRAMIDE 10 MG PO TABS"}}],
        "expected": {"labs": {"ferritin": 5, "tsat": 8, "hemoglobin": 10.9}, "conditions": ["restless_legs_syndrome"],
                     "medications": ["metoclopramide"]},
        "advice": {"includes": ["review_medication"], "any_of": ["oral_iron", "iv_iron"], "excludes": ["order_iron_studies"]}}
    p = "eAbc2"
    cases["epic-pregnancy-by-diagnosis-codes"] = {
        "resources": [patient(p, "female", "1994-02-11"), rls(p),
                      condition(p, "z34", [(ICD, "Z34.82", "Encounter for supervision of other normal pregnancy, "
                                                           "second trimester")], "Supervision of normal pregnancy",
                                recorded="2026-10-20"),
                      condition(p, "z3a", [(ICD, "Z3A.24", "24 weeks gestation of pregnancy")], "24 weeks gestation",
                                recorded="2026-10-20"),
                      lab(p, "f2", "2276-4", "Ferritin", 25, "ug/L")],
        "expected": {"labs": {"ferritin": 25}, "pregnancy": {"status": "pregnant", "trimester": 3},
                     "conditions": ["restless_legs_syndrome", "pregnancy"]},
        "advice": {"excludes": ["document_pregnancy_status"]}, "needs": "terminology"}
    p = "eAbc3"
    cases["epic-hemochromatosis-as-text"] = {
        "resources": [patient(p, "male", "1961-09-30"), rls(p),
                      {"resourceType": "Condition", "id": "hh", "category": PROBLEM,
                       "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
                       "code": {"text": "Hereditary hemochromatosis"}, "subject": {"reference": f"Patient/{p}"}},
                      lab(p, "f3", "2276-4", "Ferritin", 850, "ng/mL"), lab(p, "t3", "2502-3", "Iron Saturation", 62, "%")],
        "expected": {"labs": {"ferritin": 850, "tsat": 62}, "conditions": ["restless_legs_syndrome", "hemochromatosis"]},
        "advice": {"excludes": ["oral_iron", "iv_iron"]}, "needs": "terminology"}
    p = "eAbc4"
    broken = condition(p, "ckd-dstu2", [(ICD, "N18.6", "End stage renal disease")], "ESRD")
    broken["clinicalStatus"] = "active"  # DSTU2 shape
    huge = lab(p, "f4", "2276-4", "Ferritin", 1, "ng/mL")
    huge["valueQuantity"]["value"] = 10 ** 400
    cases["epic-malformed-resources"] = {
        "resources": [patient(p, "female", "1970-01-01"), rls(p), broken, huge,
                      lab(p, "t4", "2502-3", "Iron Saturation", 18, "%"), lab(p, "h4", "718-7", "Hemoglobin", 12.2, "g/dL")],
        "expected": {"labs": {"tsat": 18, "hemoglobin": 12.2}, "conditions": ["restless_legs_syndrome"],
                     "said": ["Condition/ckd-dstu2 could not be read", "Observation/f4 could not be read"]},
        "advice": {"includes": ["data_unavailable"], "excludes": ["order_iron_studies"]}, "invalid_r4": ["ckd-dstu2"]}  # f4 is valid R4: a decimal has no size limit
    p = "eAbc5"
    cases["epic-iron-on-hold-and-infusion-centre-dose"] = {  # Epic: an order on hold; the dose an infusion centre gave
        "resources": [patient(p, "male", "1966-02-02"), rls(p),
                      {**order(p, "mr-hold", concept=rxnorm("310325", "ferrous sulfate 325 MG Oral Tablet")),
                       "status": "on-hold"},
                      {"resourceType": "MedicationAdministration", "id": "ma-venofer", "status": "completed",
                       "medicationReference": {"reference": "Medication/eMed-venofer", "display": "VENOFER 200 MG/10ML IV SOLN"},
                       "subject": {"reference": f"Patient/{p}"}, "request": {"reference": "MedicationRequest/mr-iv"},
                       "effectivePeriod": {"start": "2026-11-10T14:00:00Z", "end": "2026-11-10T14:30:00Z"},
                       "dosage": {"route": {"text": "Intravenous"}, "dose": {"value": 200, "unit": "mg",
                                                                            "system": UCUM, "code": "mg"}}},
                      {"resourceType": "Medication", "id": "eMed-venofer",
                       "code": {"coding": [{"system": RX, "code": "1741261"}], "text": "VENOFER 200 MG/10ML IV SOLN"}},
                      lab(p, "f5", "2276-4", "Ferritin", 250, "ng/mL", when="2026-11-20T08:00:00Z")],
        "expected": {"labs": {"ferritin": 250}, "conditions": ["restless_legs_syndrome"], "medications": ["iron sucrose"],
                     "said": ["ferrous sulfate 325 MG Oral Tablet (MedicationRequest/mr-hold) is on hold: "
                              "not counted as current"]},
        "advice": {"includes": ["data_unavailable"], "excludes": ["continue_oral_iron"]}, "needs": "terminology"}
    return cases


def oracle():
    """Oracle Health (Cerner): codeSet 72 next to LOINC, results as text, Multum next to RxNorm."""
    cases = {}
    p = "12724066"
    cases["oracle-text-ferritin-product-code"] = {
        "resources": [patient(p, "female", "1958-07-14"), rls(p, systems=("sct",)),
                      lab(p, "L-1", "2276-4", "Ferritin Lvl", extra_codings=[{"system": CERNER_72, "code": "2700655"}],
                          valueString=">1000", referenceRange=[{"low": {"value": 11, "unit": "ng/mL"},
                                                                "high": {"value": 307, "unit": "ng/mL"}}]),
                      lab(p, "L-2", "2502-3", "Iron Sat", 52, "%"),
                      order(p, "M-1", concept={"coding": [{"system": RX, "code": "312940"},
                                                          {"system": MULTUM, "code": "d04332"}]})],  # codes only
        "expected": {"labs": {"ferritin": 1000, "tsat": 52}, "conditions": ["restless_legs_syndrome"],
                     "medications": ["sertraline"]},
        "advice": {"includes": ["review_medication"], "excludes": ["oral_iron", "iv_iron", "order_iron_studies"]},
        "needs": "terminology"}
    p = "12724067"
    cases["oracle-gestational-age-loinc-answer"] = {
        "resources": [patient(p, "female", "1990-03-03"), rls(p),
                      pregnancy_status(p, "PS-1", LOINC, "LA15173-0", "Pregnant", when="2026-11-10"),
                      {**lab(p, "GA-1", "11884-4", "Gestational age Estimated", 10, "wk", when="2026-11-10"),
                       "valueQuantity": {"value": 10, "unit": "weeks", "system": UCUM, "code": "wk"}},
                      lab(p, "L-3", "2276-4", "Ferritin Lvl", 20, "ng/mL", system=LOINC_OID)],
        "expected": {"labs": {"ferritin": 20}, "pregnancy": {"status": "pregnant", "trimester": 1},
                     "conditions": ["restless_legs_syndrome"]},
        "advice": {"excludes": ["iv_iron", "document_pregnancy_status"]}, "needs": "terminology"}
    p = "12724068"
    cases["oracle-contained-branded-drug-diabetic-neuropathy"] = {
        "resources": [patient(p, "male", "1955-12-01"), rls(p),
                      condition(p, "D-1", [(ICD, "E11.42", "Type 2 diabetes mellitus with diabetic polyneuropathy")],
                                "Diabetic polyneuropathy"),
                      order(p, "M-2", reference={"reference": "#med1"}, contained={
                          "resourceType": "Medication", "id": "med1",
                          "code": rxnorm("153048", "olanzapine 10 MG Oral Tablet [Zyprexa]")}),
                      lab(p, "L-4", "2276-4", "Ferritin Lvl", 120, "ng/mL"), lab(p, "L-5", "2502-3", "Iron Sat", 30, "%")],
        "expected": {"labs": {"ferritin": 120, "tsat": 30}, "medications": ["olanzapine"],
                     "conditions": ["restless_legs_syndrome", "peripheral_neuropathy"]},
        "advice": {"includes": ["review_medication"], "excludes": ["order_iron_studies"]}}
    p = "12724069"
    cases["oracle-molar-units-rbc-folate"] = {
        "resources": [patient(p, "female", "1966-06-06"), rls(p),
                      lab(p, "L-6", "14732-2", "Folate", 20.4, "nmol/L"),
                      lab(p, "L-7", "2283-0", "Folate RBC", 600, "ng/mL"),
                      lab(p, "L-8", "718-7", "Hgb", 7.4472, "mmol/L"),
                      lab(p, "L-9", "14723-1", "Ferritin", 67.41, "pmol/L")],
        "expected": {"labs": {"folate": 9.0, "hemoglobin": 12.0, "ferritin": 30.0}, "conditions": ["restless_legs_syndrome"],
                     "said": ["Observation/L-7"]},
        "advice": {"excludes": ["check_folate"]}, "needs": "terminology"}
    p = "12724070"
    cases["oracle-provisional-and-differential-diagnoses"] = {  # encounter diagnoses, not yet established
        "resources": [patient(p, "female", "1986-09-09"), rls(p),
                      {**condition(p, "D-10", [(ICD, "N18.6", "End stage renal disease")], "ESRD"),
                       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                                 "code": "encounter-diagnosis"}]}],
                       "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "provisional"}]}},
                      {**condition(p, "D-11", [(ICD, "Z33.1", "Pregnant state, incidental")], "Pregnant state"),
                       "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "differential"}]}},
                      lab(p, "L-10", "2276-4", "Ferritin Lvl", 40, "ng/mL"), lab(p, "L-11", "2502-3", "Iron Sat", 15, "%")],
        "expected": {"labs": {"ferritin": 40, "tsat": 15}, "conditions": ["restless_legs_syndrome"],
                     "said": ["ESRD (Condition/D-10) is provisional: not counted",
                              "Pregnant state (Condition/D-11) is a differential diagnosis: not counted"]},
        "advice": {"includes": ["data_unavailable"], "excludes": ["iv_iron_sucrose"]}}
    return cases


def us_core():
    """US Core 6/7: pregnancy status profile, gestational age, MedicationStatement-like reports, ESRD."""
    cases = {}
    p = "uc-1"
    cases["uscore-pregnancy-status-third-trimester"] = {
        "resources": [patient(p, "female", "1992-08-08"), rls(p),
                      pregnancy_status(p, "ps", SCT, "77386006", "Pregnant"),
                      lab(p, "ga", "49051-6", "Gestational age in weeks", 30, "wk", when="2026-11-01"),
                      lab(p, "f", "2276-4", "Ferritin [Mass/volume] in Serum or Plasma", 28, "ng/mL"),
                      lab(p, "t", "2502-3", "Iron saturation [Mass Fraction] in Serum or Plasma", 12, "%")],
        "expected": {"labs": {"ferritin": 28, "tsat": 12}, "pregnancy": {"status": "pregnant", "trimester": 3},
                     "conditions": ["restless_legs_syndrome"]},
        "advice": {"any_of": ["oral_iron", "iv_iron"], "excludes": ["document_pregnancy_status", "order_iron_studies"]}}
    p = "uc-2"
    cases["uscore-esrd-dialysis-not-pregnant"] = {
        "resources": [patient(p, "female", "1971-04-04"), rls(p),
                      pregnancy_status(p, "ps2", SCT, "60001007", "Not pregnant"),
                      condition(p, "esrd", [(ICD, "N18.6", "End stage renal disease"),
                                            (SCT, "46177005", "End-stage renal disease")], "ESRD"),
                      condition(p, "dial", [(ICD, "Z99.2", "Dependence on renal dialysis")], "Dependence on dialysis"),
                      lab(p, "f2", "2276-4", "Ferritin", 150, "ng/mL"), lab(p, "t2", "2502-3", "Iron saturation", 15, "%")],
        "expected": {"labs": {"ferritin": 150, "tsat": 15}, "pregnancy": {"status": "not_pregnant"},
                     "conditions": ["restless_legs_syndrome", "esrd", "dialysis"]},
        "advice": {"excludes": ["oral_iron", "document_pregnancy_status"]}}
    p = "uc-3"
    cases["uscore-medication-statement-sedating-antihistamine"] = {
        "resources": [patient(p, "male", "1980-10-10"), rls(p),
                      {"resourceType": "MedicationStatement", "id": "ms", "status": "active",
                       "medicationCodeableConcept": rxnorm("1049630", "diphenhydramine hydrochloride 25 MG Oral Tablet"),
                       "subject": {"reference": f"Patient/{p}"}, "effectivePeriod": {"start": "2026-09-01"}},
                      lab(p, "f3", "2276-4", "Ferritin", 60, "ug/L"), lab(p, "t3", "2502-3", "Iron saturation", 22, "%")],
        "expected": {"labs": {"ferritin": 60, "tsat": 22}, "conditions": ["restless_legs_syndrome"],
                     "medications": ["diphenhydramine"]},
        "advice": {"includes": ["review_medication"]}}
    p = "uc-4"
    cases["uscore-postpartum"] = {
        "resources": [patient(p, "female", "1995-01-20"), rls(p),
                      condition(p, "pp", [(ICD, "Z39.2", "Encounter for routine postpartum follow-up")],
                                "Postpartum follow-up", recorded="2026-11-01", onsetDateTime="2026-10-15"),
                      lab(p, "f4", "2276-4", "Ferritin", 40, "ng/mL")],
        "expected": {"labs": {"ferritin": 40}, "pregnancy": {"status": "postpartum"},
                     "conditions": ["restless_legs_syndrome", "postpartum"]},
        "advice": {"excludes": ["document_pregnancy_status"]}, "needs": "terminology"}
    return cases


def synthea():
    """Synthea: SNOMED conditions (Normal pregnancy 72892002), RxNorm clinical drugs, LOINC in ug/L."""
    cases = {}
    p = "a1b2c3d4-0001"
    cases["synthea-normal-pregnancy"] = {
        "resources": [patient(p, "female", "1996-05-05"), rls(p, systems=("sct",)),
                      condition(p, "preg", [(SCT, "72892002", "Normal pregnancy")], "Normal pregnancy",
                                onsetDateTime="2026-08-01T10:00:00-04:00"),
                      lab(p, "hb", "718-7", "Hemoglobin [Mass/volume] in Blood", 11.1, "g/dL"),
                      lab(p, "fe", "2276-4", "Ferritin [Mass/volume] in Serum or Plasma", 31, "ug/L")],
        "expected": {"labs": {"ferritin": 31, "hemoglobin": 11.1}, "conditions": ["restless_legs_syndrome", "pregnancy"]},
        "advice": {"excludes": ["document_pregnancy_status"]}, "needs": "terminology"}
    p = "a1b2c3d4-0002"
    cases["synthea-esrd-diabetes-metoclopramide"] = {
        "resources": [patient(p, "male", "1950-02-02"), rls(p, systems=("sct",)),
                      condition(p, "esrd", [(SCT, "46177005", "End-stage renal disease (disorder)")], "ESRD"),
                      condition(p, "dm", [(SCT, "44054006", "Diabetes mellitus type 2 (disorder)")], "Diabetes"),
                      order(p, "mr", concept={"coding": [{"system": RX, "code": "311666"}]}),  # product code only
                      lab(p, "fe2", "2276-4", "Ferritin", 220, "ug/L"), lab(p, "ts", "2502-3", "Iron saturation", 18, "%")],
        "expected": {"labs": {"ferritin": 220, "tsat": 18}, "medications": ["metoclopramide"],
                     "conditions": ["restless_legs_syndrome", "esrd", "diabetes"]},
        "advice": {"includes": ["review_medication"], "excludes": ["oral_iron"]}, "needs": "terminology"}
    p = "a1b2c3d4-0003"
    cases["synthea-iron-deficiency-anemia-oral-iron"] = {
        "resources": [patient(p, "female", "1985-03-03"), rls(p, systems=("sct",)),
                      condition(p, "ida", [(SCT, "87522002", "Iron deficiency anemia (disorder)")], "IDA"),
                      order(p, "fe", concept=rxnorm("310325", "ferrous sulfate 325 MG Oral Tablet")),
                      lab(p, "fer", "2276-4", "Ferritin", 12, "ug/L"), lab(p, "sat", "2502-3", "Iron saturation", 9, "%")],
        "expected": {"labs": {"ferritin": 12, "tsat": 9}, "medications": ["ferrous sulfate"],
                     "conditions": ["restless_legs_syndrome", "iron_deficiency_anemia"]},
        "advice": {"any_of": ["oral_iron", "iv_iron", "continue_oral_iron"], "excludes": ["order_iron_studies"]}}
    p = "a1b2c3d4-0004"
    cases["synthea-parkinson-ssri-escitalopram"] = {
        "resources": [patient(p, "male", "1948-11-11"), rls(p, systems=("sct",)),
                      condition(p, "pd", [(SCT, "49049000", "Parkinson's disease (disorder)")], "Parkinson's disease"),
                      order(p, "es", concept=rxnorm("349332", "escitalopram 10 MG Oral Tablet")),
                      lab(p, "fer4", "2276-4", "Ferritin", 95, "ug/L"), lab(p, "sat4", "2502-3", "Iron saturation", 25, "%")],
        "expected": {"labs": {"ferritin": 95, "tsat": 25}, "medications": ["escitalopram"],
                     "conditions": ["restless_legs_syndrome", "parkinson_disease"]},
        "advice": {"includes": ["review_medication"], "excludes": ["order_iron_studies"]}}
    return cases


def issue10():
    """Shapes found after the first round (issue 10): TSAT as a fraction, unit spellings, ordinary drugs,
    and a malformed RLS Condition that is the only one."""
    cases = {}
    p = "eAbc5"
    cases["epic-tsat-fraction-gm-dl"] = {
        "resources": [patient(p, "female", "1975-07-07"), rls(p),
                      {**lab(p, "t5", "2502-3", "Iron Saturation"),
                       "valueQuantity": {"value": 0.14, "unit": "fraction", "system": UCUM, "code": "1"}},
                      {**lab(p, "h5", "718-7", "Hemoglobin"), "valueQuantity": {"value": 11.4, "unit": "gm/dL"}},
                      {**lab(p, "f5", "2276-4", "Ferritin"), "valueQuantity": {"value": 41, "unit": "ng/ml"}}],
        "expected": {"labs": {"tsat": 14, "hemoglobin": 11.4, "ferritin": 41}, "conditions": ["restless_legs_syndrome"]},
        "advice": {"any_of": ["oral_iron", "iv_iron"], "excludes": ["order_iron_studies"]}}
    p = "eAbc6"
    cases["epic-tsat-fraction-sent-as-percent"] = {
        "resources": [patient(p, "male", "1959-04-04"), rls(p),
                      lab(p, "t6", "2502-3", "Iron Saturation", 0.62, "%"),  # 62 %: a fraction under unit %
                      lab(p, "f7", "2276-4", "Ferritin", 35, "ng/mL")],
        "expected": {"labs": {"ferritin": 35}, "conditions": ["restless_legs_syndrome"],
                     "said": ["below any transferrin saturation a laboratory reports"]},
        "advice": {"includes": ["data_unavailable"]}}
    p = "12724070"
    cases["oracle-tsat-percent-sent-as-fraction"] = {
        "resources": [patient(p, "male", "1962-02-02"), rls(p),
                      {**lab(p, "L-10", "2502-3", "Iron Sat"),
                       "valueQuantity": {"value": 17, "unit": "1", "system": UCUM, "code": "1"}},  # 17 %: wrong unit
                      lab(p, "L-11", "2276-4", "Ferritin Lvl", 58, "ng/mL"),
                      {**lab(p, "L-12", "2500-7", "TIBC"), "valueQuantity": {"value": 64.4, "unit": "umol/L",
                                                                               "system": UCUM, "code": "umol/L"}}],
        "expected": {"labs": {"ferritin": 58, "tibc": 359.8}, "conditions": ["restless_legs_syndrome"],
                     "said": ["the transferrin saturation result could not be used", "not a fraction between 0 and 1"]},
        "advice": {"includes": ["data_unavailable"]}, "needs": "terminology"}
    p = "uc-5"
    broken = rls(p)
    broken["clinicalStatus"] = "active"  # DSTU2 shape, on the only RLS Condition
    cases["uscore-dstu2-only-rls-condition"] = {
        "resources": [patient(p, "female", "1968-03-03"), broken, lab(p, "f6", "2276-4", "Ferritin", 20, "ng/mL")],
        "expected": {"labs": {"ferritin": 20}, "said": ["Condition/rls could not be read"]},
        "advice": {"includes": ["data_unavailable"]}, "invalid_r4": ["rls"]}
    p = "a1b2c3d4-0005"
    cases["synthea-ordinary-drugs-with-sertraline"] = {
        "resources": [patient(p, "male", "1957-09-09"), rls(p, systems=("sct",)),
                      order(p, "ace", concept=rxnorm("314076", "lisinopril 10 MG Oral Tablet")),
                      order(p, "statin", concept=rxnorm("617310", "atorvastatin 20 MG Oral Tablet")),
                      order(p, "met", concept={"coding": [{"system": RX, "code": "861007"}]}),  # the code alone
                      order(p, "ssri", concept=rxnorm("312940", "sertraline 50 MG Oral Tablet")),
                      lab(p, "fer5", "2276-4", "Ferritin", 110, "ug/L"), lab(p, "sat5", "2502-3", "Iron saturation", 28, "%")],
        "expected": {"labs": {"ferritin": 110, "tsat": 28}, "medications": ["sertraline"],
                     "conditions": ["restless_legs_syndrome"], "known": [["314076", "lisinopril"], ["617310", "atorvastatin"], ["861007"]]},
        "advice": {"includes": ["review_medication"], "excludes": ["order_iron_studies"]}, "needs": "terminology"}
    return cases


def cases():
    """All cases by name."""
    return {**epic(), **oracle(), **us_core(), **synthea(), **issue10()}


def mapped_case(case, knowledge, vocabulary):
    """The mapped context and the facts the rules would see for one case."""
    from cdss.facts import build_facts  # noqa: PLC0415 - imported late: the code measured may be another checkout's
    from cdss.hooks import fhir  # noqa: PLC0415
    from cdss.hooks.invocation import gather  # noqa: PLC0415
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": item} for item in case["resources"]]}
    patient = next(item for item in case["resources"] if item["resourceType"] == "Patient")
    resources = gather({"patient": patient, "all": [entry["resource"] for entry in bundle["entry"]
                                                      if entry["resource"]["resourceType"] != "Patient"]})
    extra = {}
    if "thresholds" in inspect.signature(fhir.patient_context).parameters:
        from cdss.hooks.values import lab_thresholds  # noqa: PLC0415 - absent before the change measured
        extra["thresholds"] = lab_thresholds(knowledge)
    mapped = fhir.patient_context(resources, patient["id"], vocabulary, NOW, **extra)
    context = fhir.load_context(mapped)
    fact_set = build_facts(context, vocabulary)
    mapped.rules_unrecognized = fact_set.unrecognized  # for the `known` items: never listed as unrecognised
    return mapped, fact_set.facts


def score(case, mapped, facts):
    """(recognised, total, misses) for one case."""
    patient = next(fact for fact in facts if fact["kind"] == "patient")
    ingredients = {fact["ingredient"] for fact in facts if fact["kind"] == "medication"}
    checks = []
    expected = case["expected"]
    for test, value in expected.get("labs", {}).items():
        checks.append((f"lab {test}={value}", abs(patient.get(test, -1e9) - value) < 0.05))
    pregnancy = expected.get("pregnancy", {})
    if pregnancy:
        checks.append((f"pregnancy {pregnancy['status']}", patient.get("pregnancy_status") == pregnancy["status"]))
    if "trimester" in pregnancy:
        checks.append((f"trimester {pregnancy['trimester']}", patient.get("trimester") == pregnancy["trimester"]))
    for name in expected.get("conditions", []):
        checks.append((f"condition {name}", patient.get(f"cond_{name}") is True))
    for name in expected.get("medications", []):
        checks.append((f"medication {name}", name in ingredients))
    notes = " ".join(getattr(mapped, "notes", []))
    for phrase in expected.get("said", []):
        checks.append((f"said {phrase!r}", phrase in notes))
    unrecognized = " ".join(getattr(mapped, "rules_unrecognized", {}).get("medications", [])).lower()
    for words in expected.get("known", []):  # a drug the service knows, outside RLS: not "could not be identified"
        checks.append((f"known {' '.join(words)}", hasattr(mapped, "rules_unrecognized")
                       and not any(word in unrecognized for word in words)))
    return sum(ok for _, ok in checks), len(checks), [name for name, ok in checks if not ok]


def write():
    """Write every case to fixtures/families/<name>.json."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, case in cases().items():
        (OUT / f"{name}.json").write_text(json.dumps({"name": name, **case}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
