"""One evaluation: facts in, rules fired, firings combined into a classification and recommendations."""
import hashlib
import json
import threading
from collections import OrderedDict

import orjson

from cdss.engine import RuleEngine
from cdss.facts import build_facts
from cdss.labels import Labeller
from cdss.loader import PLACEHOLDER, capitalised, compile_rules
from cdss.logs import random_uuid_hex
from cdss.vocabulary import Vocabulary

INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}
RELATION_TEXTS = {"supersedes": ("Advice replaced", "replaced by"),
                  "conflicting": ("Contradictory advice withdrawn", "withdrawn: it contradicts")}
MISSING = object()


class Evaluator:
    """The loaded knowledge, compiled once at start-up, and the evaluation of one patient context."""

    combination = None  # a Combination subclass to use instead (screening skips the reasoning texts)

    def __init__(self, knowledge, new_id=None, reuse=0):
        """reuse: how many recent results to keep for identical contexts (0: evaluate every time)."""
        self.knowledge = knowledge
        self.recent = RecentResults(reuse) if reuse > 0 else None
        self.vocabulary = Vocabulary(knowledge.medications, knowledge.conditions)
        consequences = {
            rule.id: [{"kind": "finding", "fid": f"finding:{rule.then['finding']}:{rule.id}",
                       "name": rule.then["finding"], "by": rule.id}]
            for rule in knowledge.rules if "finding" in rule.then}
        self.engine = RuleEngine(compile_rules(knowledge), consequences)
        self.labeller = Labeller(knowledge)
        self.plans = RulePlans(knowledge, self.labeller)
        self.new_id = new_id or new_uuid

    @property
    def ruleset(self):
        """The identity of the loaded ruleset: id, version and the digest of its files."""
        manifest = self.knowledge.manifest
        return {"id": manifest["id"], "version": manifest["version"], "digest": self.knowledge.digest}

    def evaluate(self, context):
        """Evaluate a validated patient context; return the evaluation as a plain dict.

        An identical canonical context under the same ruleset (an EHR repeating a patient-view call)
        may reuse the recent result: the same advice, under a new evaluation id. Results are read-only.
        """
        if self.recent is None:
            return self.evaluate_now(context)
        key = self.recent.key(self.knowledge.digest, context)
        kept = self.recent.get(key)
        if kept is not None:
            return dict(kept, evaluation_id=self.new_id())
        result = self.evaluate_now(context)
        self.recent.put(key, result)
        return result

    def evaluate_now(self, context):
        """Evaluate without reusing any result."""
        fact_set = build_facts(context, self.vocabulary)
        firings = unique_firings(self.engine.run(fact_set.facts), self.knowledge)
        combination = (self.combination or Combination)(self.knowledge, firings, fact_set, self.plans)
        result = combination.result(self.new_id(), self.ruleset)
        return self.labeller.label(result)


def new_uuid():
    """A new evaluation id: a random UUID as str(uuid.uuid4()) writes it, without building a uuid.UUID."""
    hexed = random_uuid_hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


class RecentResults:
    """The last `size` results by canonical context (a bounded LRU, safe across threads)."""

    def __init__(self, size):
        self.size, self.hits = size, 0
        self._results, self._lock = OrderedDict(), threading.Lock()

    @staticmethod
    def key(digest, context):
        """The ruleset digest and the validated context in canonical JSON (sorted keys), hashed: orjson,
        ~9 us instead of json.dumps' ~60 us a request; json.dumps for a context orjson refuses."""
        try:
            canonical = orjson.dumps(context, option=orjson.OPT_SORT_KEYS, default=str)
        except (orjson.JSONEncodeError, TypeError):
            canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str).encode()
        return hashlib.sha256(digest.encode() + b"\n" + canonical).hexdigest()

    def get(self, key):
        with self._lock:
            result = self._results.get(key)
            if result is not None:
                self._results.move_to_end(key)
                self.hits += 1
            return result

    def put(self, key, result):
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.size:
                self._results.popitem(last=False)


def unique_firings(firings, knowledge):
    """Firings in rule order, one per rule and set of matched facts ($or fires once per true branch)."""
    seen, unique = set(), []
    for firing in firings:
        key = (firing.rule_id, tuple(sorted((alias, fact["fid"]) for alias, fact in firing.matched.items())))
        if key not in seen:
            seen.add(key)
            unique.append(firing)
    return sorted(unique, key=lambda firing: knowledge.by_id[firing.rule_id].order)


class RulePlans:
    """What combining needs of each rule and does not depend on the patient, worked out once per ruleset:
    the reasoning's head and terms, the report names and labels of facts, the recommendation's key, texts
    and references, the manifest's relations indexed by code."""

    def __init__(self, knowledge, labeller=None):
        self.knowledge = knowledge
        self.labeller = labeller or Labeller(knowledge)
        self.report_as = {kind: {name: spec["report_as"] for name, spec in specs.items()}
                          for kind, specs in knowledge.facts.items()}
        self.report_as.setdefault("patient", {}).update(
            {f"cond_{name}": knowledge.fact_spec("patient", f"cond_{name}")["report_as"] for name in knowledge.conditions})
        self.finding_labels = {name: spec["label"] for name, spec in knowledge.codes["findings"].items()}
        self.rules = {rule.id: self.plan(rule) for rule in knowledge.rules}
        relations = knowledge.manifest["relations"]
        self.relations = [(kind, first, second) for kind in ("supersedes", "conflicting")
                          for first, second in relations[kind]]
        self.relations_of = {}  # code -> the relations it comes first in, by position (few codes have any)
        for position, (_, first, _) in enumerate(self.relations):
            self.relations_of.setdefault(first, []).append(position)

    def plan(self, rule):
        """One rule's fixed parts: head, terms (alias, kind, explainer), recommendation and its references."""
        knowledge, output, then = self.knowledge, rule.then.get("recommendation"), rule.then
        terms = tuple((alias, kind, None if kind == "finding" else knowledge.explainers[rule.id, alias],
                       None if kind == "finding" else self.report_as[kind])
                      for alias, kind, _ in rule.aliases())
        advice = None
        if output is not None:
            items = knowledge.codes["recommendations"][output["code"]]["items"]
            advice = {"output": output, "items": items, "indicator": INDICATOR_ORDER[output["indicator"]],
                      "key": (output["code"], output["title"]) if items else
                             (output["code"], output["title"], output["detail"]),
                      "title": template(output["title"]), "detail": template(output["detail"]),
                      "references": [{"citation": knowledge.references[key]["citation"],
                                      "url": knowledge.references[key]["url"]} for key in rule.citations]}
        return {"rule": rule, "head": (rule.id, rule.version, rule.title), "terms": terms, "advice": advice,
                "missing": then.get("missing", []), "cause": then.get("cause"),
                "classification": then.get("classification"),
                "withholds": bool(then.get("withhold_classification")),
                "classifies": "cause" in then or "classification" in then or bool(then.get("withhold_classification"))}


class Combination:
    """Turns the firings of one evaluation into the response: classification, recommendations, missing."""

    def __init__(self, knowledge, firings, fact_set, plans=None):
        self.knowledge = knowledge
        self.plans = plans or RulePlans(knowledge)
        self.firings = firings
        self.fact_set = fact_set
        self.by_rule = {}
        for firing in firings:
            self.by_rule.setdefault(firing.rule_id, []).append(firing)
        self.explained = {}  # (firing, depth) -> reasoning: a cause that also advises is explained once

    def reasoning(self, firing, depth=0):
        """Why a rule fired: its id, version, the true parts of its condition, the facts and the chain."""
        key = (id(firing), depth)
        entry = self.explained.get(key)
        if entry is None:
            entry = self.explained[key] = self.explain(firing, depth)
        return entry

    def explain(self, firing, depth):
        """The reasoning of one firing (see `reasoning`), labelled: its facts also as label and value text."""
        plans = self.plans
        rule_id, version, title = plans.rules[firing.rule_id]["head"]
        facts, parts, chain, matched = {}, [], [], firing.matched
        for alias, kind, explain, names in plans.rules[firing.rule_id]["terms"]:
            fact = matched[alias]
            if explain is None:  # a finding: its label, and the reasoning of the rules that found it
                parts.append(f"{plans.finding_labels[fact['name']]} (found by {fact['by']})")
                if depth < 5:
                    chain.extend(self.reasoning(cause, depth + 1) for cause in self.by_rule.get(fact["by"], ()))
                continue
            if kind == "medication":
                parts.append(f"{fact['ingredient']} ({fact['class_label']})")
                for name in ("ingredient", "drug_class"):
                    if name in fact:
                        facts[names[name]] = fact[name]
            for text, name in explain(fact):
                if text:
                    parts.append(text)
                if name in fact:
                    facts[names[name]] = fact[name]
        entry = {"rule": rule_id, "version": version, "title": title, "statement": capitalised("; ".join(parts)),
                 "facts": facts, "readable_facts": plans.labeller.readable(facts)}
        if chain:
            entry["chain"] = chain
        return entry

    def result(self, evaluation_id, ruleset):
        """The evaluation as the API returns it."""
        recommendations = self.recommendations()
        plans = [self.plans.rules[firing.rule_id] for firing in self.firings]
        return {
            "evaluation_id": evaluation_id,
            "ruleset": ruleset,
            "classification": self.classification(),
            "recommendations": recommendations,
            "missing": list(dict.fromkeys(item for plan in plans for item in plan["missing"])),
            "unrecognized": self.fact_set.unrecognized,
            "fired_rules": [{"rule": firing.rule_id, "version": plan["rule"].version}
                            for firing, plan in zip(self.firings, plans)],
        }

    def rule(self, firing):
        """The rule behind a firing."""
        return self.plans.rules[firing.rule_id]["rule"]

    def classification(self):
        """Secondary when any cause is found; primary only when a rule supports it and nothing argues against;
        undetermined, without causes, when a rule withholds the classification (diagnosis not confirmed)."""
        causes, hints, withheld, reasoning, withholding = [], set(), False, [], []
        rules = self.plans.rules
        for firing in self.firings:
            plan = rules[firing.rule_id]
            if not plan["classifies"]:
                continue
            entry = self.reasoning(firing)
            reasoning.append(entry)
            if plan["withholds"]:
                withheld = True
                withholding.append(entry)
            cause = plan["cause"]
            if cause is not None and cause not in causes:
                causes.append(cause)
            if plan["classification"] is not None:
                hints.add(plan["classification"])
        if withheld:
            # The diagnosis is in doubt (an essential criterion recorded absent): no type, no RLS causes.
            kind, causes, reasoning = "undetermined", [], withholding
        elif causes:
            kind = "secondary"
        elif hints == {"primary"}:
            kind = "primary"
        else:
            kind = "undetermined"
        return {"type": kind, "causes": causes, "associated_conditions": self.fact_set.associated,
                "reasoning": reasoning}

    def recommendations(self):
        """One recommendation per plan, its reasoning from every rule that gave that plan, in display order.

        A plan is a rule's recommendation output (code, title, text): rules sharing an output (a YAML
        anchor) add their reasoning to one recommendation; a different plan is never merged into another's
        text, except under a code declared `items` (one title, one line per medication). The manifest's code relations then apply: a superseded code gives way, a conflicting one is
        withdrawn (a safety net: `rules check` proves no patient reaches it).
        """
        plans, rules = {}, self.plans.rules
        for firing in self.firings:
            plan = rules[firing.rule_id]
            advice = plan["advice"]
            if advice is None:
                continue
            rule, output, key = plan["rule"], advice["output"], advice["key"]
            detail = fill(advice["detail"], firing.matched)
            entry = plans.get(key)
            if entry is None:
                entry = plans[key] = {
                    "code": output["code"], "title": fill(advice["title"], firing.matched), "detail": detail,
                    "indicator": output["indicator"], "strength": rule.strength, "reasoning": [],
                    "references": [], "_order": rule.order}
            elif detail not in entry["detail"]:
                entry["detail"] += " " + detail  # the same plan for another matched fact (a second medication)
            if advice["items"] and rule.strength not in entry["strength"]:
                entry["strength"] += "; " + rule.strength
            if advice["indicator"] < INDICATOR_ORDER[entry["indicator"]]:
                entry["indicator"] = output["indicator"]
            entry["reasoning"].append(self.reasoning(firing))
            references = entry["references"]
            for cited in advice["references"]:
                if cited not in references:
                    references.append(cited)
        kept = self.apply_relations(list(plans.values()))
        lead = self.knowledge.manifest["lead_codes"]
        ordered = sorted(kept, key=lambda entry: (
            lead.index(entry["code"]) if entry["code"] in lead else len(lead),
            INDICATOR_ORDER[entry["indicator"]], entry["_order"]))
        for entry in ordered:
            del entry["_order"]
        return ordered

    def apply_relations(self, entries):
        """Withdraw superseded and conflicting advice (manifest `relations`); say so in the kept advice."""
        present = {entry["code"] for entry in entries}
        positions = [position for code in present for position in self.plans.relations_of.get(code, ())]
        if not positions:  # the usual case: no present code comes first in any relation
            return entries
        relations, labels = self.plans.relations, self.knowledge.codes["recommendations"]
        for position in sorted(positions):  # in the manifest's order, as if every relation were tried
            kind, first, second = relations[position]
            if first not in present or second not in present:
                continue
            title, verb = RELATION_TEXTS[kind]
            present.discard(second)
            winners = [entry for entry in entries if entry["code"] == first]
            losers = [entry for entry in entries if entry["code"] == second]
            if not winners or not losers:
                continue
            entries = [entry for entry in entries if entry["code"] != second]
            facts = {"withdrawn": second,
                     "withdrawn_rules": [item["rule"] for entry in losers for item in entry["reasoning"]]}
            winners[0]["reasoning"].append({
                "rule": f"ruleset.{kind}", "version": self.knowledge.manifest["version"], "title": title,
                "statement": f"“{labels[second]['label']}” {verb} “{labels[first]['label']}”",
                "facts": facts, "readable_facts": self.plans.labeller.readable(facts)})
        return entries


def template(text):
    """A recommendation text with {alias.fact} placeholders, split once at load: the text itself when it
    has none, else [literal, (alias, fact), literal, ...] for fill()."""
    pieces = PLACEHOLDER.split(text)
    if len(pieces) == 1:
        return text
    return [piece if index % 3 == 0 else (piece, pieces[index + 1]) for index, piece in enumerate(pieces)
            if index % 3 != 2]


def fill(text, matched):
    """Fill a template's {alias.fact} placeholders with the matched facts' values (a placeholder whose fact
    is absent stays as written)."""
    if isinstance(text, str):  # most texts have no placeholder
        return text
    shown = []
    for piece in text:
        if isinstance(piece, str):
            shown.append(piece)
            continue
        alias, name = piece
        found = matched.get(alias, {}).get(name, MISSING)
        shown.append(f"{{{alias}.{name}}}" if found is MISSING else f"{found:g}" if isinstance(found, float)
                     else str(found))
    return "".join(shown)
