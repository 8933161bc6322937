"""The benchmark's in-process parts run and measure what they say (make bench itself is not a test)."""
from bench import inprocess, ladder
from bench.cases import make_cases
from cdss.facts import build_facts
from schemas.context import PatientContextSchema


def test_the_ladder_measures_each_layer_on_answered_requests():
    steps = ladder.measure(make_cases(20), repeats=1)
    assert [layer for layer, _ in steps] == ["bare Flask POST /echo", "service framework GET /healthz",
                                             "evaluate, audit write skipped", "evaluate (everything)",
                                             "schema + raw durable POST /evaluate"]
    assert all(cost > 0 for _, cost in steps)


def test_the_floor_and_raw_durable_agree_with_the_service():
    rates, drift = inprocess.measure(make_cases(60), seconds=0.01)
    assert drift == 0
    assert set(rates) == {"python predicates (floor)", "raw durable_rules", "Evaluator.evaluate",
                          "schema load + evaluate"}
    assert all(rate > 0 for rate in rates.values())


def test_raw_durable_fires_what_the_service_fires(evaluator):
    raw = inprocess.RawEngine(evaluator.knowledge)
    for case in make_cases(40):
        context = PatientContextSchema().load(case)
        facts = build_facts(context, evaluator.vocabulary).facts
        fired = {rule_id for rule_id, _ in raw.run(facts)}
        assert fired == {item["rule"] for item in evaluator.evaluate(context)["fired_rules"]}


def test_the_minimal_endpoint_fires_what_the_service_fires(evaluator):
    from bench.minimal_app import app  # noqa: PLC0415 - compiles the rules on import

    client = app.test_client()
    for case in make_cases(20):
        fired = client.post("/evaluate", json=case).get_json()["fired"]
        expected = evaluator.evaluate(PatientContextSchema().load(case))["fired_rules"]
        assert fired == sorted({item["rule"] for item in expected})


def test_the_engine_cost_compares_both_paths_on_the_same_firings():
    from bench import engine_cost  # noqa: PLC0415

    costs = engine_cost.measure(count=30, repeats=1)  # raises if the paths disagree on any case
    assert {"engine run, stock Host path", "engine run, direct path", "evaluate, stock Host path",
            "evaluate, direct path", "schema load", "build_facts"} == set(costs)
    assert all(cost > 0 for cost in costs.values())
    assert len(engine_cost.report(costs)) == len(costs) + 2
