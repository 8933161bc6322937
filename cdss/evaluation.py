"""One evaluation: facts in, rules fired, firings combined into a classification and recommendations."""
import hashlib
import json
import threading
import uuid
from collections import OrderedDict

from cdss.engine import RuleEngine
from cdss.facts import build_facts
from cdss.labels import Labeller
from cdss.loader import PLACEHOLDER, compile_rules
from cdss.vocabulary import Vocabulary

INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


class Evaluator:
    """The loaded knowledge, compiled once at start-up, and the evaluation of one patient context."""

    combination = None  # a Combination subclass to use instead (screening skips the reasoning texts)

    def __init__(self, knowledge, new_id=lambda: str(uuid.uuid4()), reuse=0):
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
        self.plans = RulePlans(knowledge)
        self.new_id = new_id

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


class RecentResults:
    """The last `size` results by canonical context (a bounded LRU, safe across threads)."""

    def __init__(self, size):
        self.size, self.hits = size, 0
        self._results, self._lock = OrderedDict(), threading.Lock()

    @staticmethod
    def key(digest, context):
        """The ruleset digest and the validated context in canonical JSON, hashed."""
        canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(f"{digest}\n{canonical}".encode()).hexdigest()

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
    the reasoning's head and terms, the report names of facts, the recommendation's key and references."""

    def __init__(self, knowledge):
        self.knowledge = knowledge
        self.report_as = {kind: {name: spec["report_as"] for name, spec in specs.items()}
                          for kind, specs in knowledge.facts.items()}
        self.report_as.setdefault("patient", {}).update(
            {f"cond_{name}": knowledge.fact_spec("patient", f"cond_{name}")["report_as"] for name in knowledge.conditions})
        self.finding_labels = {name: spec["label"] for name, spec in knowledge.codes["findings"].items()}
        self.rules = {rule.id: self.plan(rule) for rule in knowledge.rules}

    def plan(self, rule):
        """One rule's fixed parts: head, terms (alias, kind, explainer), recommendation and its references."""
        knowledge, output = self.knowledge, rule.then.get("recommendation")
        terms = tuple((alias, kind, None if kind == "finding" else knowledge.explainers[rule.id, alias])
                      for alias, kind, _ in rule.aliases())
        advice = None
        if output is not None:
            items = knowledge.codes["recommendations"][output["code"]]["items"]
            advice = {"output": output, "items": items, "indicator": INDICATOR_ORDER[output["indicator"]],
                      "key": (output["code"], output["title"]) if items else
                             (output["code"], output["title"], output["detail"]),
                      "references": [{"citation": knowledge.references[key]["citation"],
                                      "url": knowledge.references[key]["url"]} for key in rule.citations]}
        return {"rule": rule, "head": (rule.id, rule.version, rule.title), "terms": terms, "advice": advice,
                "missing": rule.then.get("missing", [])}


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
        if key not in self.explained:
            self.explained[key] = self.explain(firing, depth)
        return self.explained[key]

    def explain(self, firing, depth):
        """The reasoning of one firing (see `reasoning`)."""
        plan, report_as = self.plans.rules[firing.rule_id], self.plans.report_as
        rule_id, version, title = plan["head"]
        facts = {}
        entry = {"rule": rule_id, "version": version, "title": title, "statement": "", "facts": facts}
        parts, chain = [], []
        for alias, kind, explain in plan["terms"]:
            fact = firing.matched[alias]
            if explain is None:  # a finding: its label, and the reasoning of the rules that found it
                parts.append(f"{self.plans.finding_labels[fact['name']]} (found by {fact['by']})")
                if depth < 5:
                    chain.extend(self.reasoning(cause, depth + 1) for cause in self.by_rule.get(fact["by"], []))
                continue
            shown = explain(fact)
            if kind == "medication":
                shown = [(f"{fact['ingredient']} ({fact['class_label']})", "ingredient"),
                         ("", "drug_class"), *shown]
            names = report_as[kind]
            for text, name in shown:
                if text:
                    parts.append(text)
                if name in fact:
                    facts[names[name]] = fact[name]
        entry["statement"] = "; ".join(parts)
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
        causes, hints, withheld, reasoning, explained = [], set(), False, [], []
        for firing in self.firings:
            then = self.rule(firing).then
            if "cause" in then or "classification" in then or then.get("withhold_classification"):
                reasoning.append(self.reasoning(firing))
                explained.append(firing)
            if "cause" in then and then["cause"] not in causes:
                causes.append(then["cause"])
            if "classification" in then:
                hints.add(then["classification"])
            withheld = withheld or then.get("withhold_classification", False)
        if withheld:
            # The diagnosis is in doubt (an essential criterion recorded absent): no type, no RLS causes.
            kind, causes = "undetermined", []
            reasoning = [item for item, firing in zip(reasoning, explained)
                         if self.rule(firing).then.get("withhold_classification")]
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
        plans = {}
        for firing in self.firings:
            advice = self.plans.rules[firing.rule_id]["advice"]
            if advice is None:
                continue
            rule, output, key = self.rule(firing), advice["output"], advice["key"]
            detail = fill(output["detail"], firing.matched)
            entry = plans.get(key)
            if entry is None:
                entry = plans[key] = {
                    "code": output["code"], "title": fill(output["title"], firing.matched), "detail": detail,
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
        relations, labels = self.knowledge.manifest["relations"], self.knowledge.codes["recommendations"]
        present = {entry["code"] for entry in entries}
        for kind, title, verb in (("supersedes", "Advice replaced", "replaced by"),
                                  ("conflicting", "Contradictory advice withdrawn", "withdrawn: it contradicts")):
            for first, second in relations[kind]:
                if first not in present or second not in present:  # the usual case: a set lookup, no scan
                    continue
                present.discard(second)
                winners = [entry for entry in entries if entry["code"] == first]
                losers = [entry for entry in entries if entry["code"] == second]
                if not winners or not losers:
                    continue
                entries = [entry for entry in entries if entry["code"] != second]
                winners[0]["reasoning"].append({
                    "rule": f"ruleset.{kind}", "version": self.knowledge.manifest["version"], "title": title,
                    "statement": f"“{labels[second]['label']}” {verb} “{labels[first]['label']}”",
                    "facts": {"withdrawn": second,
                              "withdrawn_rules": [item["rule"] for entry in losers for item in entry["reasoning"]]}})
        return entries


def fill(text, matched):
    """Fill {alias.fact} placeholders with the matched facts' values."""
    if "{" not in text:  # most texts have no placeholder: no regex pass
        return text
    def value(match):
        fact = matched.get(match.group(1), {})
        found = fact.get(match.group(2), match.group(0))
        return f"{found:g}" if isinstance(found, float) else str(found)
    return PLACEHOLDER.sub(value, text)
