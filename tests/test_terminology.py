"""Terminology on real code-system data: ICD-10-CM (FY2026), SNOMED CT value sets, RxNorm products and
names, LOINC lab codes; and the same vocabulary end to end through the native API."""
import pytest

from cdss.terminology import icd10cm, loinc, rxnorm, snomed
from cdss.terminology.text import text_key
from tests.conftest import make_patient


@pytest.fixture(scope="module")
def vocabulary(evaluator):
    return evaluator.vocabulary


def icd(code):
    return {"system": "icd-10-cm", "code": code}


def sct(code):
    return {"system": "snomed", "code": code}


# ICD-10-CM -------------------------------------------------------------------------------------------

def test_the_package_carries_fy2026():
    system = icd10cm.load()
    assert system.release.startswith("ICD-10-CM FY2026")
    for code in ("G35.A", "G35.B0", "G35.C2", "G35.D", "G20.A1", "G20.B2", "G20.C", "N18.32", "Z91.151"):
        assert system.valid(code), code
    assert not system.valid("G35.9") and not system.valid("E11.4Z") and not system.valid("hello")


def test_descendants_follow_the_tabular_list():
    system = icd10cm.load()
    assert system.descendants("G35") == ["G35", "G35A", "G35B", "G35B0", "G35B1", "G35B2", "G35C", "G35C0",
                                         "G35C1", "G35C2", "G35D"]
    assert system.expand("G60-G64")[:2] == ["G60", "G600"] and "G64" in system.expand("G60-G64")
    assert "G65" not in system.expand("G60-G64")
    assert "O9A" in system.expand("O00-O9A") and "O9A119" in system.expand("O00-O9A")
    assert system.expand("G35.Z") == [] and system.expand("Q99-Q98") == []


@pytest.mark.parametrize(("code", "names"), [
    ("G35.A", ("multiple_sclerosis",)), ("G35", ("multiple_sclerosis",)), ("G35.C1", ("multiple_sclerosis",)),
    ("G20.A1", ("parkinson_disease",)), ("G20.C", ("parkinson_disease",)),
    ("E10.42", ("peripheral_neuropathy",)), ("E11.40", ("peripheral_neuropathy",)),
    ("E13.49", ("peripheral_neuropathy",)), ("G62.9", ("peripheral_neuropathy",)), ("G61.0", ("peripheral_neuropathy",)),
    ("E11.9", ("diabetes",)), ("E10.65", ("diabetes",)), ("E08.22", ("diabetes",)),
    ("N18.6", ("esrd",)), ("Z99.2", ("dialysis",)), ("Z49.31", ("dialysis",)),
    ("N18.4", ("ckd_advanced",)), ("N18.31", ("ckd_advanced",)), ("N18.2", ("ckd",)), ("N18.9", ("ckd",)),
    ("G25.71", ("akathisia",)), ("G47.61", ("periodic_limb_movement_disorder",)), ("G25.81", ("restless_legs_syndrome",)),
    ("S14.111A", ("spinal_cord_injury",)), ("G82.21", ("spinal_cord_injury",)),
    ("Z3A.24", ("pregnancy",)), ("O99.013", ("pregnancy",)), ("O24.410", ("pregnancy",)), ("Z34.02", ("pregnancy",)),
    ("O90.89", ("postpartum",)), ("Z39.2", ("postpartum",)), ("E83.110", ("hemochromatosis",)),
    ("C7A.010", ("malignancy",)), ("e1042", ("peripheral_neuropathy",)), ("E1042", ("peripheral_neuropathy",)),
])
def test_icd10cm_codes_and_descendants(vocabulary, code, names):
    assert vocabulary.condition_names(icd(code)) == names


@pytest.mark.parametrize("code", ["O03.9", "O00.101", "O80", "K21.9", "G21.11", "E83.10"])
def test_exclusions_and_codes_outside_the_value_sets(vocabulary, code):
    """Abortive outcomes and delivery encounters are excluded from pregnancy; others are simply unknown."""
    assert vocabulary.condition_names(icd(code)) == ()
    assert vocabulary.unrecognized_condition(icd(code)) == f"icd-10-cm|{code}"


@pytest.mark.parametrize("code", ["G35.9", "E11.4Z", "Z3A.99", "O35.0XX0", "X99.999"])
def test_an_invalid_icd10cm_code_is_reported_as_invalid(vocabulary, code):
    assert vocabulary.condition_names(icd(code)) == ()
    assert vocabulary.unrecognized_condition(icd(code)) == \
        f"icd-10-cm|{code} (not a valid ICD-10-CM code (ICD-10-CM FY2026, simple-icd-10-cm 1.5.0))"


def test_every_root_expands_like_the_package_says():
    """The code-list reading agrees with simple-icd-10-cm's own API on every root of the value sets."""
    simple = pytest.importorskip("simple_icd_10_cm")  # parses the full XML: a few seconds, once
    from cdss.loader import load_rules
    from tests.conftest import RULES
    system = icd10cm.load()
    for spec in load_rules(RULES).conditions.values():
        for root in [*spec["icd10cm"], *spec["icd10cm_exclude"]]:
            for code in [] if "-" in root else [root]:
                expected = [simple.remove_dot(item) for item in [code, *simple.get_descendants(code)]]
                assert system.descendants(code) == expected, code


# SNOMED CT -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "names"), [
    ("72892002", ("pregnancy",)), ("77386006", ("pregnancy",)), ("24700007", ("multiple_sclerosis",)),
    ("426373005", ("multiple_sclerosis",)), ("49049000", ("parkinson_disease",)),
    ("49455004", ("peripheral_neuropathy",)),  # neuropathy due to diabetes: in both sets, the smaller wins
    ("44054006", ("diabetes",)), ("46177005", ("esrd",)),
    ("236435004", ("esrd", "dialysis")), ("302497006", ("dialysis",)),
    ("433146000", ("ckd_advanced",)), ("431856006", ("ckd",)), ("32914008", ("restless_legs_syndrome",)),
    ("86569001", ("postpartum",)),
])
def test_snomed_value_sets(vocabulary, code, names):
    assert vocabulary.condition_names(sct(code)) == names


def test_snomed_exclusions_and_check_digit(vocabulary):
    assert vocabulary.condition_names(sct("230292008")) == ()  # secondary parkinsonism is not Parkinson disease
    assert vocabulary.unrecognized_condition(sct("230292008")) == "snomed|230292008"
    assert snomed.well_formed("72892002") and not snomed.well_formed("72892003")
    assert vocabulary.unrecognized_condition(sct("72892003")) == \
        "snomed|72892003 (not a valid SNOMED CT concept id: wrong check digit)"


def test_every_shipped_snomed_concept_has_a_valid_id_and_a_source():
    for members in snomed.load_sets().values():
        for code, (display, sources) in members.items():
            assert snomed.well_formed(code) and display and sources, code


# Text ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "names"), [
    ("Hereditary hemochromatosis", ("hemochromatosis",)), ("Restless legs syndrome", ("restless_legs_syndrome",)),
    ("restless-legs syndrome", ("restless_legs_syndrome",)), ("RLS", ("restless_legs_syndrome",)),
    ("Parkinson's disease (disorder)", ("parkinson_disease",)), ("  MULTIPLE SCLEROSIS ", ("multiple_sclerosis",)),
    ("Normal pregnancy", ("pregnancy",)), ("End-stage renal disease", ("esrd",)),
    ("history of multiple sclerosis", ()), ("no restless legs", ()), ("", ()), (None, ()),
])
def test_conditions_given_as_text(vocabulary, text, names):
    assert vocabulary.conditions_in_text(text) == names


def test_text_keys():
    assert text_key("Parkinson\u2019s disease (disorder)") == "parkinsons disease"
    assert text_key(12) == ""


# RxNorm ----------------------------------------------------------------------------------------------

def names_of(ingredients):
    return [ingredient.name for ingredient in ingredients]


@pytest.mark.parametrize(("code", "names"), [
    ("311666", ["metoclopramide"]),  # SCD metoclopramide 10 MG Oral Tablet
    ("207265", ["metoclopramide"]),  # SBD Reglan
    ("208149", ["sertraline"]),  # SBD Zoloft
    ("197444", ["carbidopa", "levodopa"]),  # SCD carbidopa 25 MG / levodopa 100 MG Oral Tablet
    ("859867", ["haloperidol"]),  # SCD haloperidol decanoate 50 MG/ML Injectable Solution
    ("197889", ["lithium"]),  # SCD lithium carbonate 300 MG Oral Capsule
    ("759494", ["brompheniramine", "chlorpheniramine"]),  # GPCK with two combination tablets
    ("6915", ["metoclopramide"]),  # the ingredient code itself
])
def test_rxnorm_product_codes(vocabulary, code, names):
    assert names_of(vocabulary.ingredients({"rxnorm": code})) == names


def test_a_product_whose_ingredient_is_not_in_the_value_sets(vocabulary):
    assert vocabulary.ingredients({"rxnorm": "153776"}) == []  # amisulpride 50 MG Oral Tablet
    assert vocabulary.unrecognized_medication({"rxnorm": "153776"}) == \
        "rxnorm|153776 (amisulpride: not in the service's medication value sets)"
    assert vocabulary.unrecognized_medication({"rxnorm": "99999999"}) == "rxnorm|99999999"


@pytest.mark.parametrize(("name", "names"), [
    ("metoclopramide 10 MG Oral Tablet", ["metoclopramide"]),
    ("sertraline 50 MG Oral Tablet [Zoloft]", ["sertraline"]),
    ("Zoloft", ["sertraline"]), ("REGLAN Oral Pill", ["metoclopramide"]),
    ("carbidopa 25 MG / levodopa 100 MG Oral Tablet", ["carbidopa", "levodopa"]),
    ("traZODone 50 MG Oral Tablet", ["trazodone"]), ("busPIRone 10 MG / sertraline 50 MG", ["sertraline"]),
    ("sertraline hydrochloride 50 mg tab", ["sertraline"]), ("lithium carbonate 300 MG Oral Capsule", ["lithium"]),
    ("haloperidol decanoate 100 MG/ML Injectable Solution", ["haloperidol"]),
    ("24 HR venlafaxine 75 MG Extended Release Oral Capsule", ["venlafaxine"]),
    ("1 ML haloperidol decanoate 50 MG/ML Injection", ["haloperidol"]),
    ("ferrous sulfate 325 MG Oral Tablet", ["ferrous sulfate"]), ("Chlor-Trimeton 4 mg", ["chlorpheniramine"]),
    ("aspirin 81 MG Oral Tablet", []), ("", []),
])
def test_drug_names(vocabulary, name, names):
    assert names_of(vocabulary.ingredients({"name": name})) == names


def test_the_products_table_has_provenance():
    products = rxnorm.load_products()
    assert len(products) > 2500
    assert {product.tty for product in products.values()} >= {"SCD", "SBD", "GPCK", "BPCK", "IN"}
    assert products["311666"].ingredients == ("metoclopramide",) and products["311666"].confidence


def test_name_reading_is_a_lookup_per_word():
    reader = rxnorm.NameReader({"iron": 1, "iron sucrose": 2, "ferrous sulfate": 3})
    assert reader.read("Iron Sucrose 20 MG/ML Injectable Solution") == [2]
    assert reader.read("iron 65 MG / ferrous sulfate") == [1, 3]


# LOINC -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "test"), [
    ("2276-4", "ferritin"), ("24373-3", "ferritin"), ("14723-1", "ferritin"), ("20567-4", "ferritin"),
    ("2502-3", "tsat"), ("14801-5", "tsat"), ("2498-4", "serum_iron"), ("14798-3", "serum_iron"),
    ("2500-7", "tibc"), ("14800-7", "tibc"), ("2284-8", "folate"), ("14732-2", "folate"),
    ("718-7", "hemoglobin"), ("59260-0", "hemoglobin"), ("30313-1", "hemoglobin"),
    ("2283-0", None), ("14731-4", None), ("35183-3", None), ("1234-5", None),
])
def test_loinc_lab_codes(code, test):
    assert loinc.lab_test(code) == test


def test_loinc_systems_codes_not_read_and_check_digits():
    assert loinc.is_loinc("http://loinc.org") and loinc.is_loinc("urn:oid:2.16.840.1.113883.6.1")
    assert not loinc.is_loinc("http://snomed.info/sct")
    assert "not serum folate" in loinc.not_read("2283-0")
    for code in [*loinc.LABS, *loinc.NOT_READ, loinc.PREGNANCY_STATUS, *loinc.GESTATIONAL_AGE]:
        assert loinc.check_digit_ok(code), code
    assert not loinc.check_digit_ok("14685-4")  # a wrong code from memory (B12 molar is 14685-2)


# End to end through the native API -------------------------------------------------------------------

def evaluate(client, **sections):
    response = client.post("/api/v1/evaluate", json=make_patient(**sections))
    assert response.status_code == 200, response.json
    return response.json


def flagged(result):
    return sorted(why["facts"]["medication"] for item in result["recommendations"]
                  if item["code"] == "review_medication" for why in item["reasoning"])


def test_an_scd_code_flags_its_ingredient(client):
    assert flagged(evaluate(client, medications=[{"rxnorm": "311666"}])) == ["metoclopramide"]


def test_an_rxnorm_name_flags_its_ingredient(client):
    result = evaluate(client, medications=[{"name": "sertraline 50 MG Oral Tablet [Zoloft]"}])
    assert flagged(result) == ["sertraline"] and "unrecognized" not in result or not result["unrecognized"]


@pytest.mark.parametrize(("code", "cause"), [("E10.42", "peripheral_neuropathy"), ("G35.A", "other_comorbidity"),
                                             ("G20.A1", "parkinson_disease"), ("N18.6", "renal_disease")])
def test_specific_icd10cm_codes_give_their_cause(client, code, cause):
    result = evaluate(client, conditions=[icd(code)])
    assert cause in result["classification"]["causes"]
    assert not result["unrecognized"]


def test_e10_42_is_neuropathy_not_diabetes(client):
    result = evaluate(client, conditions=[icd("E10.42")])
    assert "peripheral_neuropathy" in result["classification"]["causes"]
    assert all("diabetes" not in str(item) for item in result["classification"].get("associated", []))


def test_an_invalid_code_is_reported_not_refused(client):
    result = evaluate(client, conditions=[icd("G35.9")])
    assert result["unrecognized"]["conditions"][0].startswith("icd-10-cm|G35.9 (not a valid ICD-10-CM code")


# `cdss rules check` against the code systems ---------------------------------------------------------

BROKEN_CODES = {
    "ICD-10-CM code that does not exist": ("icd10cm: [G35]", "icd10cm: [G35.9]",
                                           "multiple_sclerosis: ICD-10-CM G35.9 does not exist in ICD-10-CM FY2026"),
    "ICD-10-CM span that does not exist": ("icd10cm_exclude: [O00-O08, O80-O82]", "icd10cm_exclude: [O00-O08, O80-O8Z]",
                                           "pregnancy: ICD-10-CM O80-O8Z does not exist"),
    "SNOMED CT id with a wrong check digit": ('snomed: ["77386006", "72892002"]', 'snomed: ["77386006", "72892003"]',
                                              "pregnancy: SNOMED CT 72892003 is not a valid concept id"),
    "unknown harvested set": ("snomed_sets: [multiple_sclerosis]", "snomed_sets: [multiple_sclerosis_set]",
                              "no harvested SNOMED CT value set 'multiple_sclerosis_set'"),
    "implies an unknown condition": ("label: chronic kidney disease, stage 3 to 5\n",
                                     "label: chronic kidney disease, stage 3 to 5\n    implies: [ckd_early]\n",
                                     "ckd_advanced: implies 'ckd_early', which is not another condition"),
    "one text for two conditions": ("synonyms: [SCI,", "synonyms: [MS, SCI,",
                                    "spinal_cord_injury: the text 'MS' also names multiple_sclerosis"),
}


def check_copy(tmp_path, old, new):
    """`cdss rules check` on a copy of rules/ with one edit of conditions.yaml: (exit code, output)."""
    import shutil

    from click.testing import CliRunner

    from cdss.authoring.commands import rules_group
    from tests.conftest import RULES
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    path = copy / "valuesets" / "conditions.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in conditions.yaml: update this test with the value sets"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["check", "--rules-dir", str(copy)])
    return result.exit_code, result.output


@pytest.mark.parametrize("case", BROKEN_CODES.values(), ids=BROKEN_CODES.keys())
def test_rules_check_fails_on_a_code_not_in_its_code_system(tmp_path, case):
    old, new, expected = case
    code, output = check_copy(tmp_path, old, new)
    assert code == 1 and expected in output


def test_rules_check_warns_on_a_root_that_reaches_nothing(tmp_path):
    code, output = check_copy(tmp_path, "icd10cm_exclude: [O00-O08, O80-O82]", "icd10cm_exclude: [O00-O9A]")
    assert code == 0 and "pregnancy: ICD-10-CM O00-O9A reaches nothing" in output


# Known drugs outside RLS (issue 10) ---------------------------------------------------------------------

@pytest.mark.parametrize("display, names", [
    ("Hydrochlorothiazide 12.5 MG / Lisinopril 10 MG Oral Tablet [Zestoretic]",
     ["zestoretic", "hydrochlorothiazide", "lisinopril"]),
    ("24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", ["metformin hydrochloride", "metformin"]),
    ("{28 (norethindrone 0.35 MG Oral Tablet) } Pack", ["norethindrone"]),
])
def test_drug_names_are_read_from_rxnorm_normalized_names(display, names):
    from scripts.build_terminology import display_names
    assert display_names(display) == names


def test_the_known_drugs_table_holds_ordinary_drugs_and_no_nameless_codes():
    known = rxnorm.load_known()
    assert len(known.codes) > 20000
    assert "lisinopril" in known.codes["314076"] and "metformin" in known.codes["861007"]
    assert all(names for names in known.codes.values())


@pytest.mark.parametrize("entry, recognised", [
    ({"rxnorm": "314076"}, True), ({"name": "LISINOPRIL 10MG TAB"}, True), ({"rxnorm": "311666"}, True),
    ({"rxnorm": "836397"}, False),  # Ultracet: tramadol, a products-table ingredient the value sets lack
    ({"rxnorm": "836395"}, False),  # RxTerms writes the combination run together: acetaminophentramadol
    ({"name": "clemastine 1 mg"}, False), ({"name": "Zorblax"}, False), ({"rxnorm": "99999999"}, False),
    ({"name": "tab"}, False),  # shorter than any drug name the reader accepts
])
def test_which_medications_are_recognised(vocabulary, entry, recognised):
    assert vocabulary.recognises_medication(entry) is recognised
