"""The seam around durable_rules: the only module that imports it, and the owner of its sharp edges.

- Patient data is asserted as facts (not posted as events), so every matching rule fires.
- One request is one fresh session id; its state is deleted in `finally`.
- Every fact is handled: a catch-all rule's first term matches every fact, so durable never raises
  MessageNotHandledException. The catch-all is a join that never completes (its second term waits for
  a kind nothing asserts), so it costs no action: one that fired for every fact cost ~30 us a fact,
  about a third of the engine's time (bench/).
- Every session runs at least one action: deleting a session in which no action ran crashes the
  process (segmentation fault). A session marker fact, asserted first, fires one no-op rule; a
  session whose marker did not fire is left undeleted (a leak the state table bounds) and is an error.
- The stock Host's background dispatch threads are disabled: every action runs synchronously on the
  calling thread, so results are complete when `run` returns and never land in another session.
- An exception inside an action is recorded and raised as RuleActionError, never parked silently.
- The engine's messages carry the whole payload; they are never logged or passed on.
"""
import copy
import threading
import uuid
from dataclasses import dataclass

from durable import engine as durable

CATCH_ALL = "__every_fact__"
NEVER = "__never_asserted__"  # a fact kind nothing asserts: the catch-all's second term
CATCH_ALL_RULE = {"all": [{"m": {"$ex": {"kind": 1}}}, {"never": {"kind": NEVER}}]}
SESSION = "__session__"
SESSION_RULE = {"all": [{"session": {"kind": SESSION}}]}
RESERVED = (NEVER, SESSION)


class EngineError(Exception):
    """The rules engine failed for a reason that is not the input's fault."""


class EngineCapacityError(EngineError):
    """The engine's fixed state table is full (1,024 live sessions per process)."""


class RuleActionError(EngineError):
    """A rule's action raised: its advice would have been lost, so the evaluation fails instead."""

    def __init__(self, rule_id):
        super().__init__(f"rule {rule_id} failed while firing")
        self.rule_id = rule_id


@dataclass(frozen=True)
class Firing:
    """One rule that fired, with the facts (by alias) that matched it."""

    rule_id: str
    matched: dict


class _SynchronousHost(durable.Host):
    """A Host without background dispatch; actions are resolved by rule id."""

    def __init__(self, actions):
        self._actions = actions
        super().__init__()

    def _run(self):
        """Disabled: the stock timers run actions on other threads, after the request returned."""

    def get_action(self, action_name):
        return self._actions[action_name]


class RuleEngine:
    """A compiled ruleset. `run(facts)` returns the firings of one evaluation, in firing order."""

    _names = iter(range(1, 1 << 62))
    _names_lock = threading.Lock()

    def __init__(self, definitions, consequences):
        """definitions: rule id -> durable condition; consequences: rule id -> facts the rule asserts."""
        self._consequences = consequences
        self._sessions = {}
        actions = {rule_id: self._action(rule_id) for rule_id in definitions}
        actions[CATCH_ALL] = self._catch_all_fired
        actions[SESSION] = self._session_opened
        ruleset = {rule_id: dict(condition, run=rule_id) for rule_id, condition in definitions.items()}
        ruleset[CATCH_ALL] = dict(CATCH_ALL_RULE, run=CATCH_ALL)
        ruleset[SESSION] = dict(SESSION_RULE, run=SESSION)
        with self._names_lock:
            self.name = f"ruleset-{next(self._names)}"
        self._host = _SynchronousHost(actions)
        # Registering deletes the `run` keys from the dict it is given: hand it a copy.
        self._host.register_rulesets({self.name: copy.deepcopy(ruleset)})

    def _catch_all_fired(self, c):
        """Never called: a fact of kind NEVER would complete the join. Recorded as a failure if it is."""
        session = self._sessions.get(c.s.sid)
        if session is not None:
            session["failed"].append(CATCH_ALL)

    def _session_opened(self, c):
        """The one action every session runs (its marker fact): it makes the session safe to delete."""
        session = self._sessions.get(c.s.sid)
        if session is not None:
            session["opened"] = True

    def _action(self, rule_id):
        """The engine callback of one rule: record the firing, assert the rule's findings."""
        consequences = self._consequences.get(rule_id, ())

        def fire(c):
            session = self._sessions.get(c.s.sid)
            if session is None:  # not one of ours: never act on a stranger's session
                return
            try:
                matched = {alias: dict(fact) for alias, fact in c._m.items()}
                session["firings"].append(Firing(rule_id, matched))
                for fact in consequences:
                    try:
                        c.assert_fact(dict(fact, sid=c.s.sid))
                    except durable.MessageObservedException:
                        pass  # the same finding is already known in this session
            except Exception:  # noqa: BLE001 - recorded and raised after the run, with the rule id
                session["failed"].append(rule_id)

        return fire

    def run(self, facts):
        """Assert `facts` in a fresh session and return the firings; the session is always deleted."""
        if any(fact.get("kind") in RESERVED for fact in facts):
            raise ValueError(f"fact kinds {', '.join(RESERVED)} are reserved for the engine")
        sid = uuid.uuid4().hex
        session = {"firings": [], "failed": [], "opened": False}
        self._sessions[sid] = session
        marker = {"kind": SESSION, "fid": SESSION, "sid": sid}
        try:
            self._host.assert_facts(self.name, [marker, *(dict(fact, sid=sid) for fact in facts)])
            state = self._host.get_state(self.name, sid)
        except MemoryError:
            raise EngineCapacityError("the rules engine's session table is full") from None
        except durable.MessageNotHandledException:
            raise EngineError("a fact matched no rule") from None  # never the message: it is the payload
        finally:
            self._sessions.pop(sid, None)
            if session["opened"]:  # deleting a session in which no action ran crashes the process
                try:
                    self._host.delete_state(self.name, sid)
                except Exception:  # noqa: BLE001 - a session that was never created has nothing to delete
                    pass
        if not session["opened"]:
            raise EngineError("the session marker did not fire; the session was left in the state table")
        if session["failed"]:
            raise RuleActionError(session["failed"][0])
        if state.get("exception"):
            raise EngineError("a rule action failed inside the engine")
        return session["firings"]

    def live_sessions(self):
        """How many sessions this engine holds now (zero between requests)."""
        return len(self._sessions)
