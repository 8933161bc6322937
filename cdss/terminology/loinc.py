"""LOINC: the laboratory and pregnancy observation codes the service reads, and those it knowingly does not.

Codes, names and sources: shared/reference/terminology/loinc.md (LOINC Top 2000+ US/SI lists, VSAC
expansions, public FHIR examples). Molar and mass codes of one analyte give the same test: units.py
converts the value (ferritin pmol/L, iron and TIBC umol/L, hemoglobin mmol/L, folate nmol/L).
"""
SYSTEMS = ("http://loinc.org", "urn:oid:2.16.840.1.113883.6.1")

# LOINC code -> (service test, LOINC long common name).
LABS = {
    "2276-4": ("ferritin", "Ferritin [Mass/volume] in Serum or Plasma"),
    "20567-4": ("ferritin", "Ferritin [Mass/volume] in Serum or Plasma by Immunoassay"),
    "24373-3": ("ferritin", "Ferritin [Mass/volume] in Blood"),
    "14723-1": ("ferritin", "Ferritin [Moles/volume] in Serum or Plasma"),
    "2502-3": ("tsat", "Iron saturation [Mass Fraction] in Serum or Plasma"),
    "14801-5": ("tsat", "Iron saturation [Molar fraction] in Serum or Plasma"),
    "2498-4": ("serum_iron", "Iron [Mass/volume] in Serum or Plasma"),
    "14798-3": ("serum_iron", "Iron [Moles/volume] in Serum or Plasma"),
    "2500-7": ("tibc", "Iron binding capacity [Mass/volume] in Serum or Plasma"),
    "14800-7": ("tibc", "Iron binding capacity [Moles/volume] in Serum or Plasma"),
    "2284-8": ("folate", "Folate [Mass/volume] in Serum or Plasma"),
    "14732-2": ("folate", "Folate [Moles/volume] in Serum or Plasma"),
    "718-7": ("hemoglobin", "Hemoglobin [Mass/volume] in Blood"),
    "59260-0": ("hemoglobin", "Hemoglobin [Moles/volume] in Blood"),
    "20509-6": ("hemoglobin", "Hemoglobin [Mass/volume] in Blood by calculation"),
    "30313-1": ("hemoglobin", "Hemoglobin [Mass/volume] in Arterial blood"),
    "30350-3": ("hemoglobin", "Hemoglobin [Mass/volume] in Venous blood"),
    "30351-1": ("hemoglobin", "Hemoglobin [Mass/volume] in Mixed venous blood"),
    "30352-9": ("hemoglobin", "Hemoglobin [Mass/volume] in Capillary blood"),
    "97550-8": ("hemoglobin", "Hemoglobin [Mass/volume] in Central venous blood by calculation"),
    "75928-2": ("hemoglobin", "Hemoglobin [Moles/volume] in Arterial blood"),
    "93846-4": ("hemoglobin", "Hemoglobin [Moles/volume] in Venous blood"),
}

# Codes EHRs send next to those above that are *not* the service's tests: named, never read as one.
NOT_READ = {
    "2283-0": "folate in red blood cells (RBC folate is not serum folate)",
    "14731-4": "folate in red blood cells (RBC folate is not serum folate)",
    "2282-2": "folate in whole blood (not serum folate)",
    "25415-1": "folate in whole blood (not serum folate)",
    "35183-3": "hemoglobin in plasma (free hemoglobin, not the blood hemoglobin)",
    "2501-5": "unsaturated iron binding capacity (UIBC, not TIBC)",
    "22753-8": "unsaturated iron binding capacity (UIBC, not TIBC)",
    "3034-6": "transferrin (TSAT and TIBC are read; transferrin is not converted)",
    "22674-6": "transferrin (TSAT and TIBC are read; transferrin is not converted)",
    "2505-6": "iron/TIBC ratio (read TSAT 2502-3 or 14801-5)",
    "39778-6": "iron/TIBC ratio (read TSAT 2502-3 or 14801-5)",
}

PREGNANCY_STATUS = "82810-3"
# Gestational age: in weeks (49051-6), estimated (11884-4), generic (18185-9), from LMP (11885-1), in days.
GESTATIONAL_AGE = ("49051-6", "11884-4", "18185-9", "11885-1", "49052-4")
# US Core pregnancy-status answers: SNOMED CT and the LOINC answer list LL4129-4.
PREGNANCY_ANSWERS = {"77386006": "pregnant", "60001007": "not_pregnant",
                     "LA15173-0": "pregnant", "LA26683-5": "not_pregnant"}


def is_loinc(system):
    """Whether a FHIR Coding.system names LOINC (by URL or OID)."""
    return system in SYSTEMS


def lab_test(code):
    """The service test a LOINC code reports ('ferritin', 'tsat', ...), or None."""
    entry = LABS.get(code)
    return entry[0] if entry else None


def not_read(code):
    """Why a known LOINC code is not one of the service's tests, or None for a code it does not know."""
    return NOT_READ.get(code)


def check_digit_ok(code):
    """Whether a LOINC code's last digit is its mod-10 check digit (LOINC Users' Guide, appendix)."""
    body, _, check = code.partition("-")
    if not body.isdigit() or not check.isdigit() or len(check) != 1:
        return False
    digits = [int(digit) for digit in reversed(body)]
    total = sum(sum(divmod(digit * 2, 10)) if index % 2 == 0 else digit for index, digit in enumerate(digits))
    return (10 - total % 10) % 10 == int(check)


LAB_CODES = {code: test for code, (test, _) in LABS.items()}
