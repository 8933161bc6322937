"""`rules check`: everything the loader checks, plus what it cannot see file by file: value sets that
collide, placeholders that name nothing, rules that can never fire, and the combination proof (advice
that conflicts, two plans under one code, causes without or against their advice, populations a rule
was not reviewed for; see combination.py)."""
import re
from dataclasses import dataclass

from cdss.authoring import logic
from cdss.authoring.combination import check_combinations
from cdss.authoring.terminology import check_terminology
from cdss.evaluation import PLACEHOLDER, Evaluator
from cdss.explain import holds
from cdss.facts import medication_fact
from cdss.loader import CAUSES, RuleFileError, load_rules
from cdss.vocabulary import Vocabulary

BRACES = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class Problem:
    """One finding of the check: level 'error' fails the check, 'warning' does not."""

    level: str
    where: str
    message: str

    def __str__(self):
        return f"{self.level.upper()}: {self.where}: {self.message}"


def check_rules(directory):
    """All problems of the ruleset in `directory`; a load failure is the only problem when it happens."""
    try:
        knowledge = load_rules(directory)
    except RuleFileError as error:
        return [Problem("error", "load", str(error))]
    # The searches try some patients more than once (the same boundary values from different rules).
    evaluator = Evaluator(knowledge, new_id=lambda: "check", reuse=4096)
    matcher = MedicationMatcher(knowledge)
    problems = check_valuesets(knowledge) + check_references(knowledge) + check_terminology(knowledge, Problem)
    for rule in knowledge.rules:
        problems += check_placeholders(knowledge, rule)
        if not any(logic.satisfiable(term, logic.fact_specs(knowledge)) for term in logic.rule_dnf(knowledge, rule, matcher)):
            problems.append(Problem("error", where(rule), "can never fire: its condition contradicts itself "
                                    "(bounds on one fact that exclude each other, or a value no patient has)"))
    return problems + check_combinations(knowledge, evaluator, matcher, Problem)


def where(rule):
    """'iron.yaml: rule iron.oral.adult'."""
    return f"{rule.topic}: rule {rule.id}"


class MedicationMatcher:
    """Whether any ingredient of the value set satisfies a medication pattern, and which."""

    def __init__(self, knowledge):
        vocabulary = Vocabulary(knowledge.medications, knowledge.conditions)
        self.facts = {entry.name: medication_fact(entry) for entry in vocabulary.by_name.values()}

    def __call__(self, pattern):
        return self.first(pattern) is not None

    def first(self, pattern):
        """The first ingredient name whose fact satisfies the pattern, or None."""
        return next((name for name, fact in sorted(self.facts.items()) if holds(pattern, fact)), None)


def check_valuesets(knowledge):
    """Names, brands and codes that two value-set entries claim (the vocabulary would keep only one)."""
    problems, names, codes = [], {}, {}
    medications = knowledge.manifest["valuesets"]["medications"]
    for class_code, spec in knowledge.medications.items():
        for name, ingredient in spec["ingredients"].items():
            for alias in [name, *ingredient["brands"], *ingredient["aliases"]]:
                claim(problems, names, alias.lower(), f"{class_code}.{name}", medications, "name")
            for code in [ingredient.get("rxnorm"), *ingredient["products"]]:
                if code:
                    claim(problems, codes, code, f"{class_code}.{name}", medications, "RxNorm code")
    problems += check_conditions(knowledge)
    return problems


def claim(problems, seen, key, owner, file, kind):
    """Record that `owner` claims `key`; a second owner is an error."""
    if key in seen and seen[key] != owner:
        problems.append(Problem("error", file, f"{kind} {key!r} is claimed by {seen[key]} and {owner}"))
    seen.setdefault(key, owner)


def check_conditions(knowledge):
    """Condition codes claimed twice; causes that are missing or unknown."""
    problems, codes = [], {}
    file = knowledge.manifest["valuesets"]["conditions"]
    for name, spec in knowledge.conditions.items():
        for code in spec["icd10cm"]:
            claim(problems, codes, f"icd-10-cm|{code}", name, file, "code")
        for code in spec["snomed"]:
            claim(problems, codes, f"snomed|{code}", name, file, "code")
        if spec["role"] == "cause" and spec.get("cause") not in CAUSES:
            problems.append(Problem("error", f"{file}: {name}", f"role cause needs a known cause, one of {CAUSES}"))
    return problems


def check_references(knowledge):
    """References no rule cites (a warning: they may be kept for the record)."""
    cited = {key for rule in knowledge.rules for key in rule.citations}
    file = knowledge.manifest["references"]
    return [Problem("warning", f"{file}: {key}", "cited by no rule") for key in knowledge.references if key not in cited]


def check_placeholders(knowledge, rule):
    """{alias.fact} in titles and details must name an alias of the rule and a fact it is sure to have."""
    output = rule.then.get("recommendation")
    if not output:
        return []
    aliases = {alias: (kind, pattern) for alias, kind, pattern in rule.aliases()}
    problems = []
    for text in (output["title"], output["detail"]):
        for braces in BRACES.findall(text):
            match = PLACEHOLDER.fullmatch(braces)
            problem = placeholder_problem(knowledge, aliases, match) if match else "is not an {alias.fact} placeholder"
            if problem:
                problems.append(Problem("error", where(rule), f"text placeholder {braces} {problem}"))
    return problems


def placeholder_problem(knowledge, aliases, match):
    """What is wrong with one placeholder, or None."""
    alias, name = match.groups()
    if alias not in aliases:
        return f"names no alias of the rule (aliases: {', '.join(aliases)})"
    kind, pattern = aliases[alias]
    try:
        spec = knowledge.fact_spec(kind, name)
    except KeyError:
        return f"names an unknown fact {kind}.{name}"
    if kind == "patient" and spec["type"] == "number" and not all(
            logic.guaranteed(term, name) for term in logic.dnf(pattern)):
        return f"may be missing when the rule fires (its condition does not test {name}); the text would show it raw"
    return None
