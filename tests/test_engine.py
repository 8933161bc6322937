"""The engine seam: its sharp edges handled, proven on the real durable_rules."""
import json
import threading

import pytest

from cdss.engine import (SESSION, EngineError, HostRuleEngine, RuleActionError, RuleEngine, fnv1a, read_attributes,
                         short_names)
from schemas.context import PatientContextSchema
from tests.conftest import labs, make_patient

LOW = {"all": [{"p": {"$and": [{"kind": "patient"}, {"$lt": {"ferritin": 50}}]}}]}
FINDING = {"all": [{"f": {"$and": [{"kind": "finding"}, {"name": "low"}]}}]}
CASES = [
    make_patient(),
    make_patient(labs=labs(ferritin=30, tsat=15)),
    make_patient(labs=labs(ferritin=90, tsat=25), medications=[{"name": "sertraline"}]),
    make_patient(patient={"age": 9}, labs=labs(ferritin=40, tsat=18), rls={"onset_age": 7}),
    make_patient(pregnancy={"status": "pregnant", "trimester": 1}, labs=labs(ferritin=20, tsat=10)),
    make_patient(conditions=[{"name": "dialysis"}], labs=labs(ferritin=150, tsat=15)),
    make_patient(labs=labs(tsat=50), conditions=[{"name": "hemochromatosis"}]),
    make_patient(labs=None, rls=None, pregnancy=None),
]


# The service's path (durable's C engine, own action loop) and the stock Host path it replaced.
engines = pytest.mark.parametrize("engine_class", [RuleEngine, HostRuleEngine], ids=["direct", "host"])


def comparable(result):
    """An evaluation without its per-request id."""
    return {key: value for key, value in result.items() if key != "evaluation_id"}


@engines
def test_nothing_applies_leaves_a_working_engine(engine_class):
    engine = engine_class({"low": LOW}, {})
    for _ in range(3):  # a crash on delete_state would end the process here
        assert engine.run([{"kind": "patient", "fid": "patient", "ferritin": 300}]) == []
    assert [firing.rule_id for firing in engine.run([{"kind": "patient", "fid": "patient", "ferritin": 10}])] == ["low"]


@engines
def test_no_facts_at_all_in_a_new_or_a_reused_session(engine_class):
    engine = engine_class({"low": LOW}, {})
    for _ in range(3):  # the direct path's second run has a reused session and nothing to assert
        assert engine.run([]) == []
    assert [firing.rule_id for firing in engine.run([{"kind": "patient", "fid": "p", "ferritin": 10}])] == ["low"]


@engines
def test_facts_no_rule_wants_are_handled_without_firing(engine_class):
    # Without the catch-all, durable raises MessageNotHandledException for these (and a session of only
    # unhandled facts crashes the process on delete); the catch-all itself must never fire.
    engine = engine_class({"low": LOW}, {})
    unwanted = [{"kind": "medication", "fid": "med:1", "code": "lisinopril"},
                {"kind": "finding", "fid": "finding:x", "name": "x", "by": "nobody"}]
    for _ in range(3):
        assert engine.run(unwanted) == []
    fired = engine.run([{"kind": "patient", "fid": "patient", "ferritin": 10}, *unwanted])
    assert [firing.rule_id for firing in fired] == ["low"]
    assert engine.live_sessions() == 0


@engines
def test_a_session_whose_marker_was_not_recorded_is_an_error(engine_class, monkeypatch):
    # The marker action is what makes a session safe to delete (deleting one in which no action ran
    # kills the process); when it is not recorded the engine must say so, never answer as if all
    # were well. Simulated by a marker action that records nothing.
    engine = engine_class({"low": LOW}, {})
    if engine_class is HostRuleEngine:
        marker = engine._host.get_ruleset(engine.name)._actions[SESSION]  # resolved at registration
        monkeypatch.setattr(marker, "_func", lambda c: None)
    else:
        act = engine._act
        monkeypatch.setattr(engine, "_act", lambda rule_id, *rest: None if rule_id == SESSION else act(rule_id, *rest))
    with pytest.raises(EngineError, match="marker"):
        engine.run([{"kind": "patient", "fid": "patient", "ferritin": 300}])
    assert engine.live_sessions() == 0


@engines
def test_the_catch_all_kind_is_reserved(engine_class):
    with pytest.raises(ValueError, match="reserved"):
        engine_class({"low": LOW}, {}).run([{"kind": "__session__", "fid": "x"}])


@engines
def test_findings_chain_to_other_rules(engine_class):
    finding = {"kind": "finding", "fid": "finding:low", "name": "low", "by": "low"}
    engine = engine_class({"low": LOW, "uses-low": FINDING}, {"low": [finding]})
    fired = engine.run([{"kind": "patient", "fid": "patient", "ferritin": 10}])
    assert [firing.rule_id for firing in fired] == ["low", "uses-low"]
    assert fired[1].matched["f"]["by"] == "low"


@engines
def test_an_action_that_fails_is_an_error_not_silence(engine_class):
    unserialisable = {"kind": "finding", "fid": "x", "name": object()}  # a tested attribute, so both paths send it
    engine = engine_class({"low": LOW, "uses-low": FINDING}, {"low": [unserialisable]})
    with pytest.raises(RuleActionError) as raised:
        engine.run([{"kind": "patient", "fid": "patient", "ferritin": 10}])
    assert raised.value.rule_id == "low"
    assert engine.live_sessions() == 0


def test_a_session_is_emptied_and_reused_only_after_a_clean_run(monkeypatch):
    # The direct path keeps a session whose facts it all retracted; what a run leaves there would
    # reach the next patient. A failed run's session is deleted instead (an action ran in it: safe).
    finding = {"kind": "finding", "fid": "finding:low", "name": "low", "by": "low"}
    engine = RuleEngine({"low": LOW, "uses-low": FINDING}, {"low": [finding]})
    low = [{"kind": "patient", "fid": "patient", "ferritin": 10},
           {"kind": "medication", "fid": "med:1", "code": "lisinopril"}]
    first = engine.run(low)
    assert engine.idle_sessions() == 1 and engine.held_facts() == []
    assert [firing.rule_id for firing in engine.run(low)] == ["low", "uses-low"] == [f.rule_id for f in first]
    assert engine.run([{"kind": "patient", "fid": "patient", "ferritin": 300}]) == []
    assert engine.idle_sessions() == 1 and engine.held_facts() == []
    monkeypatch.setattr(engine, "finding_texts", lambda rule_id, tail: [(-1, "not JSON")])
    with pytest.raises(RuleActionError):
        engine.run(low)
    assert engine.idle_sessions() == engine.live_sessions() == 0
    with pytest.raises(RuleActionError):  # a fresh session again, its marker fired: deleted too
        engine.run(low)
    assert engine.idle_sessions() == 0


@engines
def test_definitions_are_not_consumed_by_registration(engine_class):
    definitions = {"low": LOW}
    RuleEngine(definitions, {})
    RuleEngine(definitions, {})
    assert definitions == {"low": LOW} and "run" not in LOW


@engines
def test_no_background_dispatch_threads(engine_class):
    before = threading.active_count()
    engine = engine_class({"low": LOW}, {})
    engine.run([{"kind": "patient", "fid": "patient", "ferritin": 10}])
    assert threading.active_count() == before


def test_two_thousand_evaluations_in_a_row_match_and_leave_no_state(evaluator):
    contexts = [PatientContextSchema().load(case) for case in CASES]
    expected = [comparable(evaluator.evaluate(context)) for context in contexts]
    idle = evaluator.engine.idle_sessions()  # the evaluator is shared by the test session
    # The engine's state table holds 1,024 sessions: a leak would raise MemoryError well before 2,000.
    for index in range(2000):
        assert comparable(evaluator.evaluate(contexts[index % len(contexts)])) == expected[index % len(contexts)]
    assert evaluator.engine.live_sessions() == 0
    assert evaluator.engine.idle_sessions() == max(idle, 1)  # one run at a time: one session, reused


def test_eight_threads_at_once_give_the_sequential_results(evaluator):
    contexts = [PatientContextSchema().load(case) for case in CASES]
    expected = [comparable(evaluator.evaluate(context)) for context in contexts]
    idle = evaluator.engine.idle_sessions()
    mismatches, errors = [], []

    def work(offset):
        try:
            for index in range(300):
                case = (index + offset) % len(contexts)
                if comparable(evaluator.evaluate(contexts[case])) != expected[case]:
                    mismatches.append(case)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and mismatches == []
    assert evaluator.engine.live_sessions() == 0
    assert 1 <= evaluator.engine.idle_sessions() <= max(idle, 8)  # at most one per concurrent run


# Facts with quotes, backslashes and non-ASCII in their fids, or whose JSON does not open with kind and
# fid (the service's own facts do; a caller's may not): the direct path reads the fids from the action
# message without parsing it, and falls back to parsing it whenever that reading is not certain.
AWKWARD = [
    [{"kind": "patient", "fid": 'pa"ti\\ent', "ferritin": 10}],
    [{"fid": "pätient/ü", "kind": "patient", "ferritin": 10}],
    [{"ferritin": 10, "kind": "patient", "fid": "p:{\"kind\": \"x\", \"fid\": \"y\"}"}],
]
PAIR = {"all": [{"p": {"$and": [{"kind": "patient"}, {"$lt": {"ferritin": 50}}]}},
                {"m": {"$and": [{"kind": "medication"}, {"code": "x"}]}}]}


@pytest.mark.parametrize("facts", AWKWARD)
def test_the_matched_facts_are_found_by_fid_whatever_their_text(facts):
    direct, host = RuleEngine({"low": LOW}, {}), HostRuleEngine({"low": LOW}, {})
    fired = direct.run(facts)
    assert [(firing.rule_id, firing.matched["p"]["fid"]) for firing in fired] == [("low", facts[0]["fid"])]
    assert fired[0].matched["p"] is facts[0]
    assert [(firing.rule_id, firing.matched["p"]["fid"]) for firing in host.run(facts)] == \
        [(firing.rule_id, firing.matched["p"]["fid"]) for firing in fired]


def test_a_message_is_read_at_the_fact_numbers_and_parsed_when_that_is_not_certain():
    engine = RuleEngine({"pair": PAIR}, {})
    fast = ('{"pair":{"p":{"fid":0,"kind":"patient","ferritin":1,"sid":"s"},'
            '"m":{"fid":-2,"kind":"medication","code":"x","sid":"s"}}}')
    assert engine.matched_fids(fast) == ("pair", {"p": 0, "m": -2})
    assert engine.matched_fids(fast[:-5]) == ("pair", {"p": 0, "m": -2})  # read, not parsed: no JSON needed
    reordered = '{"pair":{"m":{"fid":1,"kind":"medication","sid":"s"},"p":{"fid":0,"kind":"patient","sid":"s"}}}'
    assert engine.matched_fids(reordered) == ("pair", {"p": 0, "m": 1})
    nested = ('{"pair":{"p":{"fid":0,"kind":"patient","ferritin":{"q":{"fid":7,"x":1}},"sid":"s"},'
              '"m":{"fid":1,"kind":"medication","sid":"s"}}}')  # one opening too many: parsed
    assert engine.matched_fids(nested) == ("pair", {"p": 0, "m": 1})
    single = RuleEngine({"low": LOW}, {})
    assert single.matched_fids('{"low":{"p":{"fid":3,"kind":"patient","sid":"s"}}}') == ("low", {"p": 3})
    assert single.matched_fids('{"low":{"p":{"fid":3,"kind":"pat') == ("low", {"p": 3})  # read, not parsed
    assert single.matched_fids('{"low":{"p":{"kind":"patient","fid":3}}}') == ("low", {"p": 3})  # parsed
    unknown = '{"other":{"q":{"fid":3,"kind":"patient"}}}'
    assert engine.matched_fids(unknown) == ("other", {"q": 3})
    with pytest.raises(EngineError):
        engine.matched_fids("{}")


VALUES = [True, False, 0, -3, 2**70, 1.5, -0.0, 1e16, 75.0, "", "met", 'a"b\\c', "pätient\n\u2028", None, [1, "x"],
          {"a": [True]}, float("nan")]


def test_short_names_never_share_durables_hash():
    # durable tells attributes apart by a 32-bit FNV-1a hash of the name alone (rules.h: HASH_ID, HASH_SID)
    assert (fnv1a("id"), fnv1a("sid")) == (926444256, 3593476751)
    names = short_names({f"attribute_{index}" for index in range(2000)})
    hashes = {fnv1a(name) for name in [*names.values(), "fid", "sid", "id", "$s"]}
    assert len(hashes) == len(names) + 4 and not {"fid", "sid", "id", "$s"} & set(names.values())
    assert max(len(name) for name in names.values()) == 2


def test_a_fact_is_written_as_json_dumps_writes_it_compactly_with_its_number_first():
    engine = RuleEngine({"low": LOW}, {})
    for value in VALUES:
        fact = {"kind": "patient", "ferritin": value, "fid": "p", "untested": value, "sid": "theirs"}
        expected = json.dumps({"fid": 4, engine.names["kind"]: "patient", engine.names["ferritin"]: value,
                               "sid": "s:1"}, ensure_ascii=False, separators=(",", ":"))
        assert engine.text(fact, 4, '"sid":"s:1"}') == expected


