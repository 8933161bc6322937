"""Result reuse: an identical canonical context under the same ruleset gets the recent result, under a
new evaluation id, and is still audited; anything different is evaluated afresh."""
import pytest

from cdss import create_app
from cdss.config import ConfigError, load_config
from cdss.evaluation import Evaluator, RecentResults
from schemas.context import PatientContextSchema
from tests.conftest import labs, make_patient

IRON_DEFICIENT = make_patient(labs=labs(ferritin=30, tsat=15))


@pytest.fixture()
def reusing_app(tmp_path):
    def make(reuse):
        return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / f'r{reuse}.sqlite3'}",
                           "PATIENT_HASH_SALT": "reuse-salt", "REUSE_RESULTS": reuse})
    return make


def without_id(answer):
    return {key: value for key, value in answer.items() if key != "evaluation_id"}


def reused(app):
    return app.test_client().get("/readyz").get_json()["reused_results"]


def test_a_repeated_context_reuses_the_advice_under_a_new_id_and_both_are_audited(reusing_app, knowledge):
    app = reusing_app(8)
    client = app.test_client()
    first = client.post("/api/v1/evaluate", json=IRON_DEFICIENT).get_json()
    second = client.post("/api/v1/evaluate", json=IRON_DEFICIENT).get_json()
    assert reused(app) == 1
    assert second["evaluation_id"] != first["evaluation_id"]
    assert without_id(second) == without_id(first)
    fresh = Evaluator(knowledge).evaluate(PatientContextSchema().load(IRON_DEFICIENT))
    assert without_id(second) == without_id(fresh)  # serving the first answer did not alter the kept one
    store = app.extensions["cdss.store"]
    assert store.get_evaluation(first["evaluation_id"]) is not None
    assert store.get_evaluation(second["evaluation_id"]) is not None


def test_a_different_context_is_evaluated_afresh(reusing_app):
    app = reusing_app(8)
    client = app.test_client()
    deficient = client.post("/api/v1/evaluate", json=IRON_DEFICIENT).get_json()
    replete = client.post("/api/v1/evaluate", json=make_patient(labs=labs(ferritin=300, tsat=30))).get_json()
    assert reused(app) == 0
    assert deficient["classification"]["causes"] != replete["classification"]["causes"]


def test_the_same_values_in_other_units_are_the_same_canonical_context(reusing_app):
    app = reusing_app(8)
    client = app.test_client()
    in_ng = make_patient(labs={"ferritin": {"value": 30, "unit": "ng/mL"}, "tsat": {"value": 15, "unit": "%"}})
    in_ug = make_patient(labs={"ferritin": {"value": 30, "unit": "ug/L"}, "tsat": {"value": 15, "unit": "%"}})
    client.post("/api/v1/evaluate", json=in_ng)
    answer = client.post("/api/v1/evaluate", json=in_ug).get_json()
    # The reported unit is part of the canonical context (the reasoning shows what was sent): no reuse.
    assert reused(app) == 0
    assert answer["classification"]["causes"] == ["iron_deficiency"]


def test_only_the_most_recent_results_are_kept(reusing_app):
    app = reusing_app(2)
    client = app.test_client()
    contexts = [make_patient(labs=labs(ferritin=value, tsat=30)) for value in (20, 40, 60)]
    for context in contexts:
        client.post("/api/v1/evaluate", json=context)
    client.post("/api/v1/evaluate", json=contexts[0])  # evicted by the third
    assert reused(app) == 0
    client.post("/api/v1/evaluate", json=contexts[2])
    assert reused(app) == 1


def test_reuse_can_be_switched_off(reusing_app):
    app = reusing_app(0)
    client = app.test_client()
    for _ in range(3):
        client.post("/api/v1/evaluate", json=IRON_DEFICIENT)
    assert reused(app) == 0 and app.extensions["cdss"].recent is None


def test_a_negative_reuse_setting_stops_start_up_naming_it():
    with pytest.raises(ConfigError, match="CDSS_REUSE_RESULTS"):
        load_config(environ={"CDSS_REUSE_RESULTS": "-1"})


def test_the_reuse_key_is_canonical_and_tells_every_value_apart():
    """Key order does not matter; a value's type or digit does; and a context orjson refuses still has a key."""
    key = RecentResults.key
    assert key("d1", {"a": 1, "b": [1.5, True]}) == key("d1", {"b": [1.5, True], "a": 1})
    different = [key("d1", {"a": value}) for value in (1, 1.0, True, "1", None, [1], 2)]
    assert len(set(different)) == len(different)
    assert key("d1", {"a": 1}) != key("d2", {"a": 1})
    assert key("d1", {1: "a key that is not a string"}) == key("d1", {1: "a key that is not a string"})
