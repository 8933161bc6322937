"""The rule author's tools on the real rules and on broken copies: check, test and report."""
import shutil

import pytest
from click.testing import CliRunner

from cdss.authoring.check import check_rules
from cdss.authoring.commands import rules_group
from tests.conftest import RULES

def run(*args):
    """Run `cdss rules ...`; return (exit code, stdout + stderr)."""
    result = CliRunner().invoke(rules_group, list(args))
    return result.exit_code, result.output


@pytest.fixture()
def broken(tmp_path):
    """A copy of rules/ and a function that replaces text in one of its files."""
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)

    def edit(relative, old, new):
        path = copy / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}: update this test with the rule files"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return str(copy)
    return edit


def test_check_on_the_real_rules_finds_no_error():
    errors = [problem for problem in check_rules(RULES) if problem.level == "error"]
    assert errors == []


def test_check_command_reports_and_sets_the_exit_status():
    code, output = run("check", "--rules-dir", str(RULES))
    assert code == 0
    assert "rules check: 0 error(s)" in output


BROKEN = {
    "duplicate id": ("folate.yaml", "id: folate.missing", "id: folate.deficiency",
                     ["folate.yaml: rule folate.deficiency", "duplicate id"]),
    "unknown fact": ("iron.yaml", "{$lt: {tsat: 20}}", "{$lt: {tsat_pct: 20}}",
                     ["iron.yaml: rule iron.", "unknown fact patient.tsat_pct"]),
    "citation without reference": ("folate.yaml", "citations: [nhs-highland]", "citations: [nhs-nowhere]",
                                   ["folate.yaml: rule folate.missing", "'nhs-nowhere' is not in the references"]),
    "contradictory bounds": ("folate.yaml", "{$gte: {folate: 3}}, {$lt: {folate: 4.4}}",
                             "{$gte: {folate: 5}}, {$lt: {folate: 4.4}}",
                             ["folate.yaml: rule folate.possible-deficiency", "can never fire"]),
    "placeholder with no alias": ("folate.yaml", "Serum folate {patient.folate} ng/mL is below",
                                  "Serum folate {lab.folate} ng/mL is below",
                                  ["folate.yaml: rule folate.deficiency", "{lab.folate} names no alias"]),
    "placeholder with unknown fact": ("folate.yaml", "Serum folate {patient.folate} ng/mL is below",
                                      "Serum folate {patient.folat} ng/mL is below",
                                      ["folate.yaml: rule folate.deficiency", "unknown fact patient.folat"]),
    "placeholder of an untested fact": ("folate.yaml", "Serum folate {patient.folate} ng/mL is below",
                                        "Serum folate {patient.ferritin} ng/mL is below",
                                        ["folate.yaml: rule folate.deficiency", "may be missing"]),
    "contradictory advice": ("pediatrics.yaml", "{cond_dialysis: false}, {cond_hemochromatosis: false}, {$or",
                             "{cond_dialysis: false}, {$or",
                             ["pediatrics.yaml: rule pediatrics.oral-iron", "iron.yaml: rule iron.safety.hemochromatosis",
                              "can fire together with conflicting advice (avoid_iron and oral_iron)",
                              "condition hemochromatosis"]),
    "child on dialysis given oral iron": (
        "pediatrics.yaml", "{age_group: child}, {pregnant: false}, {cond_esrd: false}, {cond_dialysis: false}, {cond_hemochromatosis: false}",
        "{age_group: child}, {pregnant: false}, {cond_hemochromatosis: false}",
        ["pediatrics.yaml: rule pediatrics.dialysis and pediatrics.yaml: rule pediatrics.oral-iron",
         "conflicting advice (refer_specialist and oral_iron)", "age 10", "condition esrd"]),
    "two plans under one code": ("pregnancy.yaml", "code: iv_iron_alternative", "code: oral_iron",
                                 ["pregnancy.yaml: rule pregnancy.oral-iron and pregnancy.yaml: rule "
                                  "pregnancy.iv-iron.second-third-trimester",
                                  "give two different plans under one code (oral_iron)"]),
    "cause next to advice against it": (
        "iron.yaml", "{$lt: {tsat: 20}}, {pregnant: false}, {$or: [{$nex: {ferritin: 1}}, {$lt: {ferritin: 300}}]}",
        "{$lt: {tsat: 20}}, {pregnant: false}",
        ["iron.yaml: rule iron.deficiency.adult and iron.yaml: rule iron.not-indicated.ferritin-300",
         "the cause iron_deficiency is reported with advice that contradicts it (iron_not_indicated)", "ferritin 300"]),
    "cause without its advice": (
        "iron.yaml", "{$lt: {tsat: 20}}, {pregnant: false}, {$or",  "{$lt: {tsat: 20}}, {$or",
        ["iron.yaml: rule iron.deficiency.adult: reports the cause iron_deficiency with none of its advice",
         "pregnancy status pregnant"]),
    "population not reviewed": ("renal.yaml", "reviewed_for: [dialysis]\n", "reviewed_for: []\n",
                                ["renal.yaml: rule renal.dialysis.other-measures: can fire in dialysis but is "
                                 "not reviewed for it", "condition dialysis"]),
    "unknown code": ("folate.yaml", "code: folate_supplement", "code: folic_acid",
                     ["folate.yaml: rule folate.deficiency", "'folic_acid' has no label in codes.yaml"]),
    "brand in two classes": ("valuesets/medications.yaml", "brands: [Haldol]", "brands: [Haldol, Reglan]",
                             ["valuesets/medications.yaml", "name 'reglan' is claimed by"]),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_check_fails_on_a_broken_copy_naming_file_and_rule(broken, case):
    relative, old, new, expected = case
    code, output = run("check", "--rules-dir", broken(relative, old, new))
    assert code == 1
    for text in expected:
        assert text in output


def test_rules_test_runs_every_rules_examples():
    code, output = run("test", "--rules-dir", str(RULES), "--verbose")
    assert code == 0, output
    assert "PASS folate.yaml: folate.deficiency (3 examples)" in output
    assert " 0 failed" in output


def test_rules_test_fails_on_a_wrong_example(broken):
    rules_dir = broken("folate.yaml", "{context: {labs: {folate: {value: 2.9, unit: ng/mL}}}, fires: true}",
                       "{context: {labs: {folate: {value: 3.1, unit: ng/mL}}}, fires: true}")
    code, output = run("test", "--rules-dir", rules_dir)
    assert code == 1
    assert "FAIL folate.yaml: folate.deficiency" in output
    assert "example 1: expected the rule to fire" in output
    assert "rules test: " in output and " 1 failed" in output


def test_report_writes_standalone_html_and_markdown(tmp_path, knowledge):
    code, output = run("report", "--rules-dir", str(RULES), "--output", str(tmp_path / "out"))
    assert code == 0, output
    html = (tmp_path / "out" / "knowledge-base.html").read_text(encoding="utf-8")
    text = (tmp_path / "out" / "knowledge-base.md").read_text(encoding="utf-8")
    assert "<style>" in html and "<link" not in html and "<script" not in html  # opens offline, alone
    for rule in knowledge.rules:
        assert f'id="{rule.id}"' in html and f"`{rule.id}` v{rule.version}" in text
    assert f"Last reviewed {knowledge.manifest['last_reviewed']}" in text
    assert "https://doi.org/10.5664/jcsm.11390" in text


def test_report_includes_value_sets_relations_and_reviewed_for(tmp_path, knowledge):
    # issue 11 "Done when": the governance report shows what the rules rest on, not only the rules.
    code, output = run("report", "--rules-dir", str(RULES), "--output", str(tmp_path / "out"))
    assert code == 0, output
    html = (tmp_path / "out" / "knowledge-base.html").read_text(encoding="utf-8")
    text = (tmp_path / "out" / "knowledge-base.md").read_text(encoding="utf-8")
    for document in (html, text):
        assert "Code relations" in document and "Value set: medications" in document
        assert "Value set: conditions" in document and "Populations (reviewed-for flags)" in document
    keep, drop = knowledge.manifest["relations"]["conflicting"][0]
    assert f"- `{keep}` (" in text and f"/ `{drop}` (" in text
    assert "| `mirtazapine_mianserin` |" in text and "high: highest reported risk" in text
    assert "mirtazapine 15996 (Remeron)" in text and 'id="class-low_dose_doxepin"' in html
    assert "| `esrd` | end-stage renal disease | cause | renal_disease | N18.6 |" in text
    assert "- **Reviewed for:** dialysis" in text  # treatment.alpha2delta.kidney-failure
    assert "- **Reviewed for:** not applicable (the rule gives no advice)" in text
    assert 'class="reviewed-for">pregnancy, lactation, child, dialysis' in html
