"""The seam around durable_rules: the only module that imports it, and the owner of its sharp edges.

The service drives durable's C engine (`durable_rules_engine`) directly with its own synchronous action
loop; the stock `durable.engine.Host` path is kept (HostRuleEngine) so a differential test can prove
that both give the same firings (tests/test_engine_differential.py).

- Patient data is asserted as facts (not posted as events), so every matching rule fires.
- One evaluation has a session to itself. The stock path opens a fresh one and deletes it in `finally`;
  the direct path retracts every fact it asserted once the actions are done and keeps the emptied session
  for the next evaluation (creating and deleting durable's per-session state is a fixed cost that grows
  with the number of rules). A session whose run failed in any way is deleted, never reused, so the
  table holds at most one session per concurrent evaluation.
- Every fact is handled: a catch-all rule's first term matches every fact, so durable never answers
  "not handled". The catch-all is a join that never completes (its second term waits for a kind
  nothing asserts), so it costs no action.
- Every session runs at least one action: deleting a session in which no action ran crashes the
  process (segmentation fault). A session marker fact, asserted first into every new session, fires
  one no-op rule; a session whose marker did not fire is left undeleted (a leak the state table
  bounds) and is an error. A reused session ran its marker when it was new.
- No background threads: every action runs on the calling thread, inside `run`, so results are
  complete when it returns and never land in another session (the stock Host's dispatch timers did).
- An exception inside an action is recorded and raised as RuleActionError, never parked silently.
- The engine's messages carry the payload; they are never logged or passed on.
- The state table holds 1,024 live sessions per process; the next one is EngineCapacityError.

Why the direct path is cheaper (ENGINE.md, measured with the same firings): the stock Host serialises
the whole session state to JSON after every action and reads it back with `get_state`; this loop only
completes the action. The engine sees slim facts -- a number in place of the fid, then kind and the
attributes some rule tests (derived from the compiled ruleset at load) under short names (the registered
ruleset is renamed to match), written straight to compact JSON -- while each firing reports the caller's
full facts, found again by that number (every fact of one evaluation still needs its own fid: the stock
path and the reasoning tell facts apart by it). And sessions are reused, emptied, rather than created
and deleted (see above).
"""
import copy
import itertools
import json
import math
import threading
from dataclasses import dataclass
from json.encoder import encode_basestring as encode_string  # json.dumps's own, ensure_ascii=False

import durable_rules_engine as native
from durable import engine as durable

CATCH_ALL = "__every_fact__"
NEVER = "__never_asserted__"  # a fact kind nothing asserts: the catch-all's second term
CATCH_ALL_RULE = {"all": [{"m": {"$ex": {"kind": 1}}}, {"never": {"kind": NEVER}}]}
SESSION = "__session__"
SESSION_RULE = {"all": [{"session": {"kind": SESSION}}]}
RESERVED = (NEVER, SESSION)
IDENTITY = ("kind", "fid", "sid")  # what every asserted fact keeps, tested or not
# The engine never sees the caller's fids: each asserted fact is numbered (the caller's facts 0, 1, ... in
# order; the findings -1, -2, ... once per ruleset) and written '{"fid":<number>,' first, in compact JSON.
# An action message is {"<rule id>":{"<alias>":<the fact as asserted>, ...}} (durable hands back each
# fact's text as it was asserted), so matched_fids reads each alias's number at '"<alias>":{"fid":' (a
# '{"' cannot occur inside a JSON string, where every quote is escaped) and parses the whole message
# instead whenever that reading is not certain (another shape, a count that is not the rule's aliases).
NUMBER_OPENING = ':{"fid":'
# durable_rules_engine result codes (src/rulespy/rules.c): 0 ok, 1 not handled, 2 already observed.
HANDLED, NOT_HANDLED, OBSERVED = 0, 1, 2


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


class Session:
    """What one evaluation's actions record: firings in firing order, failures, the marker; and whether
    every fact asserted in it was retracted again (`emptied`: the session may serve another run)."""

    __slots__ = ("firings", "failed", "opened", "emptied")

    def __init__(self, opened=False):
        self.firings, self.failed, self.opened, self.emptied = [], [], opened, False


def read_attributes(definitions):
    """Every fact attribute a rule condition names (as a value, a comparison, $ex or $nex), plus identity."""
    names = set(IDENTITY)

    def walk(pattern):
        for key, value in pattern.items():
            if key in ("$and", "$or"):
                for part in value:
                    walk(part)
            elif key.startswith("$"):
                for name, operand in value.items():
                    if isinstance(operand, dict):  # a reference to another fact: not in the vocabulary
                        raise ValueError(f"{key} on {name} compares with another fact; not supported")
                    names.add(name)
            else:
                names.add(key)

    for condition in definitions.values():
        for term in condition.get("all", []) + condition.get("any", []):
            for pattern in term.values():
                walk(pattern)
    return frozenset(names)


def fnv1a(name):
    """durable's hash of an attribute name (FNV-1a, 32 bits): it tells attributes apart by this alone."""
    value = 0x811C9DC5
    for byte in name.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def short_names(names, kept=("fid", "sid", "id", "$s")):
    """A short name for each attribute (a, b, ... Z, aa, ...), none of them, nor the names durable or this
    module keep, sharing durable's hash with another: what the engine parses twice a run and copies into
    every action message is half as long."""
    taken = {fnv1a(name) for name in kept}
    candidates = ("".join(letters) for size in itertools.count(1) for letters in itertools.product(LETTERS, repeat=size))
    short = {}
    for name in sorted(names):
        candidate = next(candidates)
        while candidate in kept or fnv1a(candidate) in taken:
            candidate = next(candidates)
        taken.add(fnv1a(candidate))
        short[name] = candidate
    return short


LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def renamed(ruleset, names):
    """The ruleset with every attribute a condition names replaced by its short name (aliases and values kept)."""

    def rename(pattern):
        out = {}
        for key, value in pattern.items():
            if key in ("$and", "$or"):
                out[key] = [rename(part) for part in value]
            elif key.startswith("$"):
                out[key] = {names.get(name, name): operand for name, operand in value.items()}
            else:
                out[names.get(key, key)] = value
        return out

    return {rule_id: {part: [{alias: rename(pattern) for alias, pattern in term.items()} for term in terms]
                      for part, terms in condition.items()}
            for rule_id, condition in ruleset.items()}


def next_name(prefix, _names=iter(range(1, 1 << 62)), _lock=threading.Lock()):
    """A ruleset name unique in this process (durable registers rulesets by name)."""
    with _lock:
        return f"{prefix}-{next(_names)}"


class BaseRuleEngine:
    """A compiled ruleset. `run(facts)` returns the firings of one evaluation, in firing order."""

    def __init__(self, definitions, consequences):
        """definitions: rule id -> durable condition; consequences: rule id -> facts the rule asserts."""
        self.definitions = copy.deepcopy(definitions)
        self.consequences = consequences
        self._sessions = {}
        self._sids = itertools.count(1)

    def run(self, facts):
        """Assert `facts` in a session of their own and return the firings; the session never outlives
        the run with facts in it."""
        by_fid = {}
        for fact in facts:
            if fact.get("kind") in RESERVED:
                raise ValueError(f"fact kinds {', '.join(RESERVED)} are reserved for the engine")
            if fact.get("fid") in by_fid:
                raise ValueError(f"two facts share the fid {fact['fid']!r}")
            by_fid[fact.get("fid")] = fact
        sid, session = self._open()
        self._sessions[sid] = session
        try:
            self._evaluate(sid, session, facts, by_fid)
        except MemoryError:
            raise EngineCapacityError("the rules engine's session table is full") from None
        finally:
            self._sessions.pop(sid, None)
            self._close(sid, session)
        if not session.opened:
            raise EngineError("the session marker did not fire; the session was left in the state table")
        if session.failed:
            raise RuleActionError(session.failed[0])
        return session.firings

    def _open(self):
        """A fresh session id (unique in this process: count() is atomic under the GIL) and its record."""
        return f"{self.name}:{next(self._sids)}", Session()

    def _close(self, sid, session):
        """Delete the session, unless no action ran in it (deleting it would crash the process)."""
        if session.opened:
            self._delete(sid)

    def live_sessions(self):
        """How many sessions this engine holds now (zero between requests)."""
        return len(self._sessions)

    def ruleset(self):
        """The rules as registered: the service's rules, the catch-all and the session marker."""
        return dict(copy.deepcopy(self.definitions), **{CATCH_ALL: CATCH_ALL_RULE, SESSION: SESSION_RULE})


class RuleEngine(BaseRuleEngine):
    """durable's C engine driven directly: slim facts in, one synchronous action loop, no state JSON."""

    def __init__(self, definitions, consequences):
        super().__init__(definitions, consequences)
        self.tested = read_attributes(self.definitions)
        self.names = short_names(self.tested - {"fid", "sid"})  # attribute -> the name durable sees
        self._keys = {name: f'"{short}":' for name, short in self.names.items()}
        self._finding_facts = [fact for facts in consequences.values() for fact in facts]
        numbers = itertools.count(-1, -1)
        self._findings = {rule_id: [(next(numbers), fact) for fact in facts] for rule_id, facts in consequences.items()}
        self._finding_texts = {}  # rule id -> the texts of its findings, up to the session id (on first use)
        self.name = next_name("ruleset")
        ruleset = self.ruleset()
        self._openings = {rule_id: [(alias, f'"{alias}"{NUMBER_OPENING}') for alias in
                                    dict.fromkeys(next(iter(term)) for term in condition["all"])]
                          for rule_id, condition in ruleset.items()
                          if list(condition) == ["all"] and '"' not in rule_id and "\\" not in rule_id}
        # a rule of one term: its fact's opening follows the rule id, '{"<rule id>":{"<alias>":{"fid":'
        self._first = {rule_id: (alias, f'":{{{opening}') for rule_id, ((alias, opening),) in
                       ((rule_id, openings) for rule_id, openings in self._openings.items() if len(openings) == 1)}
        self._handle = native.create_ruleset(self.name, json.dumps(renamed(ruleset, self.names), ensure_ascii=False))
        self._idle = []  # emptied sessions, each opened once; list.pop/append are atomic under the GIL

    def text(self, fact, number, tail):
        """A fact as the engine is given it: '{"fid":<number>,' then each tested attribute under its short
        name, in compact JSON (what json.dumps writes for each value), then `tail` (the session id and the
        closing brace)."""
        keys, parts = self._keys, [f'{{"fid":{number}']
        for name, value in fact.items():
            key = keys.get(name)
            if key is None:
                continue
            kind = type(value)
            if kind is bool:
                parts.append(key + ("true" if value else "false"))
            elif kind is str:
                parts.append(key + encode_string(value))
            elif kind is int or (kind is float and math.isfinite(value)):
                parts.append(key + kind.__repr__(value))
            else:
                parts.append(key + json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        parts.append(tail)
        return ",".join(parts)

    def finding_texts(self, rule_id, tail):
        """(number, text up to the session id) of each finding the rule asserts, written once per ruleset."""
        texts = self._finding_texts.get(rule_id)
        if texts is None:
            texts = self._finding_texts[rule_id] = [(number, self.text(fact, number, "")) for number, fact
                                                    in self._findings.get(rule_id, ())]
        return [(number, text + tail) for number, text in texts]

    def _open(self):
        """An emptied session if one is idle (its marker fired when it was new), else a fresh one."""
        try:
            return self._idle.pop(), Session(opened=True)
        except IndexError:
            return super()._open()

    def _close(self, sid, session):
        """Keep an emptied session for the next run; delete any other (a failed run's state is not trusted)."""
        if session.emptied and not session.failed:
            self._idle.append(sid)
        else:
            super()._close(sid, session)

    def idle_sessions(self):
        """How many emptied sessions wait for the next run (at most the peak number of concurrent runs)."""
        return len(self._idle)

    def held_facts(self):
        """The facts the idle sessions still hold, as the engine has them: none, when each was emptied."""
        return [fact for sid in list(self._idle) for fact in json.loads(native.get_facts(self._handle, sid))]

    def _evaluate(self, sid, session, facts, by_fid):  # noqa: ARG002 - facts are found by number here
        """Assert the facts, run every action the engine starts for this session, in order, then retract
        every fact asserted (the caller's and the findings) so that the session is empty again."""
        tail = f'"sid":{encode_string(sid)}}}'
        texts = [] if session.opened else [f'{{{self._keys["kind"]}"{SESSION}","fid":"{SESSION}",{tail}']
        texts.extend(self.text(fact, number, tail) for number, fact in enumerate(facts))
        if not texts:  # nothing for a reused session: asserting "[]" names no session (a crash)
            session.emptied = True
            return
        batch = f"[{','.join(texts)}]"
        code, state = native.assert_facts(self._handle, batch)
        if code != HANDLED:  # never the message: it is the payload
            raise EngineError("a fact matched no rule" if code == NOT_HANDLED else f"assert failed ({code})")
        findings = []
        started = native.start_action_for_state(self._handle, state)
        message = started and started[1]
        while message:
            self._act(*self.matched_fids(message), tail, session, facts, findings)
            message = native.complete_and_start_action(self._handle, state)
        if session.failed:
            return
        retracted = native.retract_facts(self._handle, batch)[0] == HANDLED
        if findings:
            retracted = native.retract_facts(self._handle, f"[{','.join(findings)}]")[0] == HANDLED and retracted
        session.emptied = retracted

    def matched_fids(self, message):
        """(rule id, {alias: fact number}) of an action message: one action a message, as durable's own loop
        takes it. Parsing the whole message (the matched facts' JSON) was most of an action's cost; see
        NUMBER_OPENING."""
        end = message.find('"', 2)
        rule_id = message[2:end] if message.startswith('{"') else None
        first, openings = self._first.get(rule_id), self._openings.get(rule_id)
        if first is not None and message.startswith(first[1], end):  # one term: its fact follows the rule id
            start = end + len(first[1])
            number = message[start:message.find(",", start)]
            if number.lstrip("-").isdecimal():
                return rule_id, {first[0]: int(number)}
        elif first is None and openings is not None and message.count(NUMBER_OPENING) == len(openings):
            matched = {}
            for alias, opening in openings:
                start = message.find(opening, end) + len(opening)
                number = message[start:message.find(",", start)]
                if start < len(opening) or not number.lstrip("-").isdecimal():
                    break
                matched[alias] = int(number)
            else:
                return rule_id, matched
        for rule_id, facts in json.loads(message).items():
            return rule_id, {alias: fact["fid"] for alias, fact in facts.items()}
        raise EngineError("an action message named no rule")

    def _act(self, rule_id, matched, tail, session, facts, findings):
        """One action: the marker opens the session; a rule records its firing (with the caller's facts and
        its findings, found by number) and asserts its findings (each new one's text goes to `findings`,
        to be retracted after the run)."""
        if rule_id == SESSION:
            session.opened = True
            return
        if rule_id == CATCH_ALL:  # a fact of kind NEVER would complete the join: recorded as a failure
            session.failed.append(CATCH_ALL)
            return
        try:
            found = self._finding_facts
            session.firings.append(Firing(rule_id, {alias: facts[number] if number >= 0 else found[-1 - number]
                                                    for alias, number in matched.items()}))
            for _, text in self.finding_texts(rule_id, tail):
                code, _ = native.assert_fact(self._handle, text)
                if code == HANDLED:
                    findings.append(text)
                elif code != OBSERVED:  # observed: the same finding is already known
                    raise EngineError(f"finding not handled ({code})")
        except Exception:  # noqa: BLE001 - recorded and raised after the run, with the rule id
            session.failed.append(rule_id)

    def _delete(self, sid):
        native.delete_state(self._handle, sid)


class _SynchronousHost(durable.Host):
    """A Host without background dispatch; actions are resolved by rule id."""

    def __init__(self, actions):
        self._actions = actions
        super().__init__()

    def _run(self):
        """Disabled: the stock timers run actions on other threads, after the request returned."""

    def get_action(self, action_name):
        return self._actions[action_name]


class HostRuleEngine(BaseRuleEngine):
    """The stock path: durable's Host and Python actions on the full facts (the differential baseline)."""

    def __init__(self, definitions, consequences):
        super().__init__(definitions, consequences)
        actions = {rule_id: self._action(rule_id) for rule_id in self.definitions}
        actions[CATCH_ALL] = self._catch_all_fired
        actions[SESSION] = self._session_opened
        ruleset = {rule_id: dict(condition, run=rule_id) for rule_id, condition in self.ruleset().items()}
        self.name = next_name("host-ruleset")
        self._host = _SynchronousHost(actions)
        self._host.register_rulesets({self.name: ruleset})  # it deletes the `run` keys: a fresh copy

    def _catch_all_fired(self, c):
        """Never called: a fact of kind NEVER would complete the join. Recorded as a failure if it is."""
        session = self._sessions.get(c.s.sid)
        if session is not None:
            session.failed.append(CATCH_ALL)

    def _session_opened(self, c):
        """The one action every session runs (its marker fact): it makes the session safe to delete."""
        session = self._sessions.get(c.s.sid)
        if session is not None:
            session.opened = True

    def _action(self, rule_id):
        """The engine callback of one rule: record the firing, assert the rule's findings."""
        consequences = self.consequences.get(rule_id, ())

        def fire(c):
            session = self._sessions.get(c.s.sid)
            if session is None:  # not one of ours: never act on a stranger's session
                return
            try:
                session.firings.append(Firing(rule_id, {alias: dict(fact) for alias, fact in c._m.items()}))
                for fact in consequences:
                    try:
                        c.assert_fact(dict(fact, sid=c.s.sid))
                    except durable.MessageObservedException:
                        pass  # the same finding is already known in this session
            except Exception:  # noqa: BLE001 - recorded and raised after the run, with the rule id
                session.failed.append(rule_id)

        return fire

    def _evaluate(self, sid, session, facts, by_fid):
        marker = {"kind": SESSION, "fid": SESSION, "sid": sid}
        try:
            self._host.assert_facts(self.name, [marker, *(dict(fact, sid=sid) for fact in facts)])
            state = self._host.get_state(self.name, sid)
        except durable.MessageNotHandledException:
            raise EngineError("a fact matched no rule") from None  # never the message: it is the payload
        if state.get("exception") and not session.failed:
            raise EngineError("a rule action failed inside the engine")

    def _delete(self, sid):
        try:
            self._host.delete_state(self.name, sid)
        except Exception:  # noqa: BLE001 - a session that was never created has nothing to delete
            pass
