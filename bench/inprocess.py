"""In-process evaluations/s on the same cases: hand-written predicates (the floor), raw durable_rules
with the service's compiled rules and no adapter (the engine's own cost), and Evaluator.evaluate.

bench/ may import durable for this one measurement; the service itself reaches it only via cdss.engine.
"""
import time
import uuid

from durable import engine as durable

from bench import predicates
from cdss.config import ROOT
# The engine's own shape (cdss/engine.py): every fact handled without an action, one marker action a session.
from cdss.engine import CATCH_ALL_RULE, SESSION, SESSION_RULE
from cdss.evaluation import Evaluator
from cdss.facts import build_facts
from cdss.loader import compile_rules, load_rules
from schemas.context import PatientContextSchema



class BareHost(durable.Host):
    """durable's Host with its background timers off, so every action runs within assert_facts."""

    def __init__(self, actions):
        self._actions = actions
        super().__init__()

    def _run(self):
        pass

    def get_action(self, action_name):
        return self._actions[action_name]


class RawEngine:
    """The compiled rules on a bare Host: actions note (rule, matched facts) and assert findings."""

    def __init__(self, knowledge):
        definitions = compile_rules(knowledge)
        findings = {rule.id: rule.then["finding"] for rule in knowledge.rules if "finding" in rule.then}
        self.noted = []
        actions = {rule_id: self.action(rule_id, findings.get(rule_id)) for rule_id in definitions}
        actions["catch_all"] = actions[SESSION] = lambda c: None
        ruleset = {rule_id: dict(condition, run=rule_id) for rule_id, condition in definitions.items()}
        ruleset["catch_all"] = dict(CATCH_ALL_RULE, run="catch_all")
        ruleset[SESSION] = dict(SESSION_RULE, run=SESSION)
        self.host = BareHost(actions)
        self.name = f"raw-{uuid.uuid4().hex[:8]}"
        self.host.register_rulesets({self.name: ruleset})

    def action(self, rule_id, finding):
        def fire(c):
            self.noted.append((rule_id, c.m))
            if finding:
                try:
                    c.assert_fact({"kind": "finding", "fid": f"finding:{finding}:{rule_id}", "name": finding,
                                   "by": rule_id, "sid": c.s.sid})
                except durable.MessageObservedException:
                    pass
        return fire

    def run(self, facts):
        """Assert one evaluation's facts in a fresh session, then delete the session."""
        sid = uuid.uuid4().hex
        marker = {"kind": SESSION, "fid": SESSION, "sid": sid}
        self.host.assert_facts(self.name, [marker, *(dict(fact, sid=sid) for fact in facts)])
        self.host.delete_state(self.name, sid)
        fired, self.noted = self.noted, []
        return fired


def rate(function, inputs, seconds):
    """Calls per second of function over the inputs, cycling until `seconds` have passed (at least one pass)."""
    calls, started = 0, time.perf_counter()
    while True:
        for item in inputs:
            function(item)
        calls += len(inputs)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls / elapsed


def measure(cases, seconds=3.0):
    """({name: evaluations/s}, cases where the floor disagrees with the service) on the same cases."""
    knowledge = load_rules(ROOT / "rules")
    evaluator = Evaluator(knowledge)
    contexts = [PatientContextSchema().load(case) for case in cases]
    facts = [build_facts(context, evaluator.vocabulary).facts for context in contexts]
    raw = RawEngine(knowledge)
    drift = sum(predicates.fired(fact_list) != {firing["rule"] for firing in evaluator.evaluate(context)["fired_rules"]}
                for fact_list, context in zip(facts, contexts))
    schema = PatientContextSchema()
    return {
        "python predicates (floor)": rate(predicates.fired, facts, seconds),
        "raw durable_rules": rate(raw.run, facts, seconds),
        "Evaluator.evaluate": rate(evaluator.evaluate, contexts, seconds),
        "schema load + evaluate": rate(lambda case: evaluator.evaluate(schema.load(case)), cases, seconds),
    }, drift

