"""One story per patient: one plan per recommendation, code relations, and the cases issue 11 reproduced."""
import copy

import pytest

from cdss.evaluation import Evaluator
from schemas.context import PatientContextSchema
from tests.conftest import ALL_CRITERIA, codes, labs, make_patient

IRON_PLANS = {"oral_iron", "iv_iron", "iv_iron_alternative", "iv_iron_sucrose", "iron_low_tsat"}


def run(evaluator, **overrides):
    overrides.setdefault("rls", {"criteria": dict(ALL_CRITERIA)})
    return evaluator.evaluate(PatientContextSchema().load(make_patient(**overrides)))


def test_every_code_a_rule_emits_is_declared_and_documented(knowledge):
    declared = knowledge.codes["recommendations"]
    for rule in knowledge.rules:
        if "recommendation" in rule.then:
            assert rule.then["recommendation"]["code"] in declared, rule.id
    assert all(spec["label"] and spec["description"] for spec in declared.values())


def test_a_child_on_dialysis_is_referred_to_paediatric_nephrology_only(evaluator):
    result = run(evaluator, patient={"age": 8, "sex": "male"}, labs=labs(ferritin=30, tsat=15),
                 conditions=[{"name": "dialysis"}])
    assert "refer_specialist" in codes(result)
    assert not (IRON_PLANS | {"iron_not_indicated", "pediatric_iv_iron_specialist"}) & set(codes(result))
    referral = next(item for item in result["recommendations"] if item["code"] == "refer_specialist")
    assert "paediatric nephrology" in referral["title"]


def test_high_ferritin_low_tsat_is_not_called_iron_deficiency_next_to_no_iron(evaluator):
    result = run(evaluator, labs=labs(ferritin=500, tsat=15))
    assert "iron_deficiency" not in result["classification"]["causes"]
    assert "iron_not_indicated" in codes(result) and not IRON_PLANS & set(codes(result))


@pytest.mark.parametrize(("ferritin", "tsat", "deficient"), [(35, 52, False), (35, 45, False), (35, 44.9, True)])
def test_children_have_the_tsat_45_guard(evaluator, ferritin, tsat, deficient):
    result = run(evaluator, patient={"age": 10, "sex": "female"}, labs=labs(ferritin=ferritin, tsat=tsat))
    assert ("iron_deficiency" in result["classification"]["causes"]) is deficient
    assert ("oral_iron" in codes(result)) is deficient


def test_ferritin_80_says_systemic_iron_is_replete_and_why_iv_iron_may_still_help(evaluator):
    result = run(evaluator, labs=labs(ferritin=80, tsat=25))
    iv = next(item for item in result["recommendations"] if item["code"] == "iv_iron")
    assert "replete" in iv["detail"] and "brain iron" in iv["detail"]
    assert result["classification"]["type"] == "primary"


def test_an_unmet_criterion_gives_no_rls_iron_and_no_causes_but_keeps_the_rest(evaluator):
    criteria = dict(ALL_CRITERIA, not_explained_by_other_condition=False)
    result = run(evaluator, labs=labs(ferritin=30, tsat=15), rls={"criteria": criteria},
                 medications=[{"name": "mirtazapine"}], conditions=[{"name": "peripheral_neuropathy"}])
    assert codes(result)[0] == "confirm_diagnosis"
    assert result["classification"] == dict(result["classification"], type="undetermined", causes=[])
    assert not IRON_PLANS & set(codes(result))
    assert "review_medication" in codes(result)


def test_one_plan_per_recommendation(evaluator):
    """Pregnant in the third trimester with low ferritin: oral iron and the IV option are two recommendations,
    each with its own title, text and strength; no code appears twice."""
    result = run(evaluator, patient={"age": 30, "sex": "female"}, labs=labs(ferritin=20, tsat=10),
                 pregnancy={"status": "pregnant", "trimester": 3})
    assert len(codes(result)) == len(set(codes(result)))
    oral, iv = (next(item for item in result["recommendations"] if item["code"] == code)
                for code in ("oral_iron", "iv_iron_alternative"))
    assert "sucrose" not in iv["detail"] and oral["strength"] != iv["strength"]
    assert [why["rule"] for why in iv["reasoning"]] == ["pregnancy.iv-iron.second-third-trimester"]


def test_the_safety_net_withdraws_a_conflicting_code_and_says_so(knowledge):
    """The rules never rely on it (rules check proves it); a broken ruleset still shows no contradiction."""
    broken = copy.copy(knowledge)
    broken.manifest = copy.deepcopy(knowledge.manifest)
    broken.manifest["relations"]["conflicting"].append(["avoid_iron", "order_iron_studies"])
    result = Evaluator(broken).evaluate(PatientContextSchema().load(make_patient(labs=labs(tsat=50))))
    assert "avoid_iron" in codes(result) and "order_iron_studies" not in codes(result)
    avoid = next(item for item in result["recommendations"] if item["code"] == "avoid_iron")
    withdrawal = avoid["reasoning"][-1]
    assert withdrawal["rule"] == "ruleset.conflicting"
    assert withdrawal["facts"]["withdrawn_rules"] == ["iron.workup.ferritin-missing"]


def test_superseded_advice_gives_way(knowledge):
    broken = copy.copy(knowledge)
    broken.manifest = copy.deepcopy(knowledge.manifest)
    broken.manifest["relations"]["supersedes"].append(["avoid_iron", "check_folate"])
    context = PatientContextSchema().load(make_patient(labs=labs(tsat=50, hemoglobin=11)))  # anaemic, no folate
    assert "check_folate" in codes(Evaluator(knowledge).evaluate(context))
    result = Evaluator(broken).evaluate(context)
    assert "check_folate" not in codes(result)
    assert next(item for item in result["recommendations"] if item["code"] == "avoid_iron")[
        "reasoning"][-1]["rule"] == "ruleset.supersedes"
