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
    "contradictory advice": ("pediatrics.yaml", "{age_group: child}, {cond_hemochromatosis: false}, {$lt: {ferritin: 50}}",
                             "{age_group: child}, {$lt: {ferritin: 50}}",
                             ["pediatrics.yaml: rule pediatrics.oral-iron", "iron.yaml: rule iron.safety.hemochromatosis",
                              "can fire together with contradictory advice (avoid_iron and oral_iron)",
                              "condition hemochromatosis"]),
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
