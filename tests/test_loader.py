"""A broken rule file stops start-up with a message naming the file, the rule and the problem."""
import shutil

import pytest

from cdss import create_app
from cdss.loader import RuleFileError, compile_rules, load_rules
from tests.conftest import RULES

ORAL = "  - id: iron.oral.adult\n"


@pytest.fixture()
def rules_copy(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def edit(directory, name, old, new):
    path = directory / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


def test_the_real_rules_load_and_compile(knowledge):
    definitions = compile_rules(knowledge)
    assert len(definitions) == len(knowledge.rules) > 40
    assert knowledge.digest.startswith("sha256:") and len(knowledge.digest) == 71


BROKEN = [
    ("folate.yaml", "{$lt: {folate: 3}}", "{$lt: {folat: 3}}",
     ["folate.yaml", "folate.deficiency", "unknown fact patient.folat"]),
    ("folate.yaml", "{$lt: {folate: 3}}", "{$ne: {folate: 3}}", ["folate.yaml", "folate.deficiency", "operator '$ne'"]),
    ("iron.yaml", "citations: [aasm-2025, aan-2016, irlssg-2018, mayo-2021]",
     "citations: [aasm-2025, nobody-2030]", ["iron.yaml", "iron.oral.adult", "nobody-2030"]),
    ("iron.yaml", "  - id: iron.oral.adult-low-tsat\n", ORAL, ["iron.yaml", "iron.oral.adult", "duplicate id"]),
    ("iron.yaml", "        - finding: {name: iron_therapy_indicated}",
     "        - finding: {name: iron_therapy_wanted}", ["iron.recheck.after-treatment", "iron_therapy_wanted"]),
    ("iron.yaml", "        indicator: warning\n    strength: Conditional, moderate",
     "        indicator: urgent\n    strength: Conditional, moderate", ["iron.yaml", "iron.oral.adult", "indicator"]),
    ("iron.yaml", "{age_group: adult}", "{age_group: elderly}", ["iron.yaml", "age_group must be one of"]),
    ("iron.yaml", "    version: 1.0.0\n    title: Oral iron", "    version: one\n    title: Oral iron",
     ["iron.yaml", "iron.oral.adult", "semantic version"]),
]


@pytest.mark.parametrize(("name", "old", "new", "expected"), [case for case in BROKEN if case[3]],
                         ids=lambda value: value[-1] if isinstance(value, list) and value else None)
def test_a_broken_rule_names_file_rule_and_problem(rules_copy, name, old, new, expected):
    edit(rules_copy, name, old, new)
    with pytest.raises(RuleFileError) as raised:
        load_rules(rules_copy)
    for part in expected:
        assert part in str(raised.value)


def test_unknown_cause_is_refused(rules_copy):
    edit(rules_copy, "medications.yaml", "cause: medication", "cause: bad_luck")
    with pytest.raises(RuleFileError, match="medications.worsening.*unknown cause 'bad_luck'"):
        load_rules(rules_copy)


def test_invalid_yaml_names_the_file(rules_copy):
    (rules_copy / "renal.yaml").write_text("rules: [\n")
    with pytest.raises(RuleFileError, match="renal.yaml: cannot read"):
        load_rules(rules_copy)


def test_unknown_field_in_a_rule_is_refused(rules_copy):
    edit(rules_copy, "renal.yaml", "    strength: Established association",
         "    strength: Established association\n    severity: high")
    with pytest.raises(RuleFileError, match="renal.yaml: rule renal.cause.*severity"):
        load_rules(rules_copy)


def test_start_up_stops_on_a_broken_rule_file(rules_copy, tmp_path):
    edit(rules_copy, "iron.yaml", "{$lt: {tsat: 45}}", "{$lt: {tsat: high}}")
    with pytest.raises(RuleFileError, match="iron.yaml"):
        create_app({"RULES_DIR": str(rules_copy), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})


def test_the_digest_changes_with_any_rule_file(rules_copy, knowledge):
    edit(rules_copy, "folate.yaml", "title: Folate deficiency", "title: Folate deficiency (edited)")
    assert load_rules(rules_copy).digest != knowledge.digest


def test_a_placeholder_must_name_an_alias_and_a_fact(rules_copy):
    edit(rules_copy, "iron.yaml", "Ferritin {patient.ferritin} ng/mL with TSAT {patient.tsat}%: suggest",
         "Ferritin {patient.feritin} ng/mL with TSAT {patient.tsat}%: suggest")
    with pytest.raises(RuleFileError, match="iron.oral.adult: placeholder: unknown fact patient.feritin"):
        load_rules(rules_copy)
