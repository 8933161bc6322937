"""The combination proof of `rules check`: one story per patient.

For every pair of rules whose advice may not meet (conflicting codes, two plans under one code, a cause and
advice that contradicts it), for every cause that must come with advice, and for every population a
recommendation was not reviewed for, the joint condition is put in logic form. A pair whose conditions
exclude each other is proved apart by logic; otherwise the witness search runs candidate patients through
the real engine and reports the first patient that breaks the rule, which the author can paste and replay.
"""
import itertools

from cdss.authoring import logic, witness
from cdss.explain import holds
from cdss.facts import build_facts

CAUSE_SEARCH_LIMIT = 24  # candidate patients per term and population variant when looking for a cause alone
# Variants the cause search puts every candidate through: the populations and states that gate advice.
STATES = ([], [("pregnant", "eq", True), ("trimester", "eq", 1)], [("pregnant", "eq", True), ("trimester", "eq", 3)],
          [("pregnant", "eq", True), ("trimester", "nex", None)], [("postpartum", "eq", True)],
          [("age_group", "eq", "child")], [("age_years", "nex", None)], [("sex", "eq", "male")],
          [("dx_criteria", "eq", "unmet")], [("dx_criteria", "eq", "incomplete")])


def check_combinations(knowledge, evaluator, matcher, problem):
    """Every combination problem of the ruleset; `problem(level, where, message)` builds one finding."""
    search = Search(knowledge, evaluator, matcher)
    found = []
    for first, second, why in pairs_that_must_not_meet(knowledge):
        context = search.pair(first, second, why.fires)
        if context is not None:
            found.append(problem("error", f"{where(first)} and {where(second)}",
                                 f"{why.message}, e.g. for {witness.summary(context)}"))
    for cause, rule, advice in causes_needing_advice(knowledge):
        context = search.alone(rule, lambda result, fired, _: cause in result["classification"]["causes"]
                               and not advice & {item["code"] for item in result["recommendations"]})
        if context is not None:
            found.append(problem("error", where(rule), f"reports the cause {cause} with none of its advice "
                                 f"({', '.join(sorted(advice))}), e.g. for {witness.summary(context)}"))
    return found + unreviewed(knowledge, search, problem)


def where(rule):
    """'iron.yaml: rule iron.oral.adult'."""
    return f"{rule.topic}: rule {rule.id}"


class Why:
    """Why two rules must not fire together: the message, and what 'together' means on an evaluation."""

    def __init__(self, message, fires):
        self.message, self.fires = message, fires


def pairs_that_must_not_meet(knowledge):
    """(rule, rule, Why) for conflicting codes, different plans under one code, and contradicted causes."""
    by_code = {}
    for rule in knowledge.rules:
        if "recommendation" in rule.then:
            by_code.setdefault(rule.then["recommendation"]["code"], []).append(rule)
    for keep, drop in knowledge.manifest["relations"]["conflicting"]:
        for first, second in itertools.product(by_code.get(keep, []), by_code.get(drop, [])):
            yield first, second, Why(f"can fire together with conflicting advice ({keep} and {drop})",
                                     both_fire(first, second))
    for code, rules in by_code.items():
        items = knowledge.codes["recommendations"][code]["items"]
        for first, second in itertools.combinations(rules, 2):
            if plan(first)[:2 if items else 3] != plan(second)[:2 if items else 3]:
                yield first, second, Why(f"give two different plans under one code ({code}) for one patient; "
                                         "give one plan, or a specific code to each", both_fire(first, second))
    for cause, spec in knowledge.manifest["causes"].items():
        for code in spec["contradicted_by"]:
            for first in (rule for rule in knowledge.rules if rule.then.get("cause") == cause):
                for second in by_code.get(code, []):
                    yield first, second, Why(f"the cause {cause} is reported with advice that contradicts it ({code})",
                                             cause_with(cause, second))


def plan(rule):
    """A rule's plan: its recommendation's code, title and text (code and title for an `items` code)."""
    output = rule.then["recommendation"]
    return output["code"], output["title"], output["detail"]


def both_fire(first, second):
    return lambda result, fired, _: first.id in fired and second.id in fired


def cause_with(cause, rule):
    return lambda result, fired, _: rule.id in fired and cause in result["classification"]["causes"]


def causes_needing_advice(knowledge):
    """(cause, rule asserting it, set of advice codes) for each cause the manifest gives advice for."""
    for cause, spec in knowledge.manifest["causes"].items():
        if spec["advice"]:
            for rule in knowledge.rules:
                if rule.then.get("cause") == cause:
                    yield cause, rule, set(spec["advice"])


def unreviewed(knowledge, search, problem):
    """Recommendations that can fire in a population their rule was not reviewed for."""
    found = []
    for rule in knowledge.rules:
        if "recommendation" not in rule.then:
            continue
        for population, pattern in knowledge.manifest["populations"].items():
            if population in rule.reviewed_for:
                continue
            context, possible = search.alone(rule, search.fires_in(rule, pattern), logic.dnf(pattern), report=True)
            if context is not None:
                found.append(problem("error", where(rule), f"can fire in {population} but is not reviewed for it "
                                     f"(reviewed_for: {rule.reviewed_for}), e.g. for {witness.summary(context)}"))
            elif possible:
                found.append(problem("warning", where(rule), f"may fire in {population} (no example patient "
                                     "found) but is not reviewed for it"))
    return found


class Search:
    """Logic first, then the witness search, over one ruleset."""

    def __init__(self, knowledge, evaluator, matcher):
        self.knowledge, self.evaluator, self.matcher = knowledge, evaluator, matcher
        self.spec = logic.fact_specs(knowledge)
        self.dnfs = {}
        conditions = sorted({atom[0] for rule in knowledge.rules for term in self.dnf(rule) for atom in term
                             if atom[0].startswith("cond_")})
        self.states = [*STATES, *([(name, "eq", True)] for name in conditions)]

    def dnf(self, rule):
        """The rule's condition over patient facts (worked out once)."""
        if rule.id not in self.dnfs:
            self.dnfs[rule.id] = logic.rule_dnf(self.knowledge, rule, self.matcher)
        return self.dnfs[rule.id]

    def terms(self, *parts):
        """The satisfiable conjunctions of the given DNFs."""
        joined = ([atom for term in combo for atom in term] for combo in itertools.product(*parts))
        return [term for term in itertools.islice(joined, logic.MAX_TERMS) if logic.satisfiable(term, self.spec)]

    def pair(self, first, second, found):
        """A patient on whom `found` holds for the two rules, or None (proved apart, or no candidate)."""
        terms = self.terms(self.dnf(first), self.dnf(second))
        if not terms:
            return None
        return witness.search(self.evaluator, terms, self.medications(first, second), found)

    def alone(self, rule, found, atoms=None, report=False):
        """A patient on whom `found` holds, searched from one rule's condition (and the atoms, or each state)."""
        variants = atoms if atoms is not None else self.states
        terms = self.terms(self.dnf(rule), variants)
        limit = witness.LIMIT if atoms is not None else CAUSE_SEARCH_LIMIT
        context = witness.search(self.evaluator, terms, self.medications(rule), found, limit) if terms else None
        return (context, bool(terms)) if report else context

    def fires_in(self, rule, pattern):
        """found(): the rule fired, and the patient belongs to the population (its fact matches the pattern)."""
        def found(result, fired, loaded):
            return rule.id in fired and holds(pattern, build_facts(loaded, self.evaluator.vocabulary).facts[0])
        return found

    def medications(self, *rules):
        """One ingredient per medication alias of the rules, to put in a candidate patient."""
        names = [self.matcher.first(pattern) for rule in rules for _, kind, pattern in rule.aliases()
                 if kind == "medication"]
        return [name for name in names if name]

