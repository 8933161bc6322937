"""Load the rule files: validate every file with marshmallow, check every name, compile for the engine."""
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from marshmallow import ValidationError

from cdss.explain import explainer
from schemas.rulefile import (ALIAS, OPERATORS, CodesSchema, ConditionValuesetSchema, FactsSchema, ManifestSchema,
                              MedicationValuesetSchema, ReferenceSchema, RuleSchema)

# libyaml's safe loader when PyYAML was built with it (~10x faster; the rules load at every start-up and test).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
KIND_OF_ALIAS = {"patient": "patient", "medication": "medication", "finding": "finding"}


class RuleFileError(Exception):
    """A rule file that cannot be loaded; the message names the file, the rule and the problem."""


@dataclass
class Rule:
    """One rule as written in its topic file, with its position in the ruleset."""

    id: str
    version: str
    title: str
    when: dict
    then: dict
    strength: str
    citations: list
    topic: str
    order: int
    rationale: str = ""
    note: str = ""
    examples: list = field(default_factory=list)
    reviewed_for: list = field(default_factory=list)
    _aliases: tuple = field(default=None, init=False, repr=False, compare=False)

    def aliases(self):
        """(alias, kind, pattern) for each term of the condition (worked out once: every reasoning asks)."""
        if self._aliases is None:
            self._aliases = tuple((alias, ALIAS.match(alias).group(1), pattern)
                                  for alias, pattern in (next(iter(term.items())) for term in self.when["all"]))
        return self._aliases


@dataclass
class Knowledge:
    """Everything loaded from rules/: the manifest, the rules in order, facts, value sets and references."""

    manifest: dict
    rules: list
    facts: dict
    references: dict
    medications: dict
    conditions: dict
    digest: str
    codes: dict = field(default_factory=dict)  # codes.yaml: output codes -> labels (cdss.labels reads it)
    by_id: dict = field(default_factory=dict)
    explainers: dict = field(default_factory=dict)  # (rule id, alias) -> cdss.explain.explainer, at load

    def __post_init__(self):
        self.by_id = {rule.id: rule for rule in self.rules}
        self._flags = {f"cond_{name}": {"type": "boolean", "report_as": f"cond_{name}", "description": spec["label"],
                                        "label": capitalised(spec["label"])}
                       for name, spec in self.conditions.items()}

    def fact_spec(self, kind, name):
        """The vocabulary entry of a fact attribute (condition flags are generated)."""
        if kind == "patient" and name.startswith("cond_"):
            return self._flags[name]
        return self.facts[kind][name]


def capitalised(text):
    """A label as the start of a line: 'obstructive sleep apnea' -> 'Obstructive sleep apnea'."""
    return text[:1].upper() + text[1:]


def read_yaml(path):
    """Parse one YAML file, naming it in any error."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as error:
        raise RuleFileError(f"{path.name}: cannot read: {error}") from None


def validated(schema, data, where):
    """Load data with a schema, naming the file (and rule) in the error."""
    try:
        return schema.load(data)
    except ValidationError as error:
        raise RuleFileError(f"{where}: {error.messages}") from None


def load_rules(directory):
    """Load, validate and cross-check the ruleset in `directory`; raise RuleFileError on any problem."""
    root = Path(directory)
    digest = hashlib.sha256()

    def load(relative, schema, many_keys=False):
        path = root / relative
        data = read_yaml(path)
        digest.update(relative.encode() + b"\0" + path.read_bytes())
        if many_keys:
            if not isinstance(data, dict):
                raise RuleFileError(f"{relative}: must be a mapping")
            return {key: validated(schema, value, f"{relative}: {key}") for key, value in data.items()}
        return validated(schema, data, relative)

    manifest = load("manifest.yaml", ManifestSchema())
    facts = load(manifest["facts"], FactsSchema())
    references = load(manifest["references"], ReferenceSchema(), many_keys=True)
    codes = load(manifest["codes"], CodesSchema())
    medications = load(manifest["valuesets"]["medications"], MedicationValuesetSchema())["classes"]
    conditions = load(manifest["valuesets"]["conditions"], ConditionValuesetSchema())["conditions"]
    rules = []
    for topic_file in manifest["topics"]:
        for rule in load_topic(root, topic_file, digest):
            rules.append(Rule(topic=topic_file, order=len(rules), **rule))
    knowledge = Knowledge(manifest, rules, facts, references, medications, conditions,
                          "sha256:" + digest.hexdigest(), codes)
    check_knowledge(knowledge)
    knowledge.explainers = {(rule.id, alias): explainer(knowledge, kind, pattern) for rule in rules
                            for alias, kind, pattern in rule.aliases() if kind != "finding"}
    return knowledge


def load_topic(root, relative, digest):
    """The rules of one topic file, each validated on its own so that an error names the rule."""
    path = root / relative
    data = read_yaml(path)
    digest.update(relative.encode() + b"\0" + path.read_bytes())
    if not isinstance(data, dict) or set(data) != {"topic", "rules"} or not isinstance(data["rules"], list):
        raise RuleFileError(f"{relative}: must have exactly 'topic' and a list of 'rules'")
    rules = []
    for index, rule in enumerate(data["rules"]):
        name = rule.get("id", f"#{index + 1}") if isinstance(rule, dict) else f"#{index + 1}"
        rules.append(validated(RuleSchema(), rule, f"{relative}: rule {name}"))
    return rules


def check_knowledge(knowledge):
    """Cross-file checks: unique ids, known citations, known facts and operators, findings that exist."""
    seen = {}
    asserted = {rule.then["finding"] for rule in knowledge.rules if "finding" in rule.then}
    for rule in knowledge.rules:
        where = f"{rule.topic}: rule {rule.id}"
        if rule.id in seen:
            raise RuleFileError(f"{where}: duplicate id (also in {seen[rule.id]})")
        seen[rule.id] = rule.topic
        for key in rule.citations:
            if key not in knowledge.references:
                raise RuleFileError(f"{where}: citation {key!r} is not in the references")
        for alias, kind, pattern in rule.aliases():
            check_pattern(knowledge, kind, pattern, f"{where}: {alias}")
            if kind == "finding":
                for name in finding_names(pattern):
                    if name not in asserted:
                        raise RuleFileError(f"{where}: finding {name!r} is asserted by no rule")
        check_placeholders(knowledge, rule, where)
        cause = rule.then.get("cause")
        if cause and cause not in CAUSES:
            raise RuleFileError(f"{where}: unknown cause {cause!r}")
        check_labels(knowledge, rule, where)
    check_relations(knowledge)
    for population, pattern in knowledge.manifest["populations"].items():
        check_pattern(knowledge, "patient", pattern, f"manifest.yaml: populations: {population}")


def check_relations(knowledge):
    """Every code named by a relation, the lead codes or a cause is in codes.yaml; causes are the known ones."""
    manifest = knowledge.manifest
    named = [code for kind in ("conflicting", "supersedes") for pair in manifest["relations"][kind] for code in pair]
    named += manifest["lead_codes"]
    for cause, spec in manifest["causes"].items():
        if cause not in CAUSES:
            raise RuleFileError(f"manifest.yaml: causes: unknown cause {cause!r}")
        named += spec["advice"] + spec["contradicted_by"]
    for code in named:
        if code not in knowledge.codes["recommendations"]:
            raise RuleFileError(f"manifest.yaml: code {code!r} has no entry in {manifest['codes']} (recommendations)")


CAUSES = ("iron_deficiency", "pregnancy", "renal_disease", "peripheral_neuropathy", "medication",
          "parkinson_disease", "other_comorbidity")


def check_labels(knowledge, rule, where):
    """Every code a rule outputs has a label in codes.yaml: the API never shows a code without one."""
    then = rule.then
    outputs = [("recommendations", then["recommendation"]["code"])] if "recommendation" in then else []
    outputs += [(kind, then[key]) for kind, key in (("causes", "cause"), ("findings", "finding")) if key in then]
    outputs += [("missing", item) for item in then.get("missing", [])]
    for kind, code in outputs:
        if code not in knowledge.codes[kind]:
            raise RuleFileError(f"{where}: {code!r} has no label in {knowledge.manifest['codes']} ({kind})")


def check_pattern(knowledge, kind, pattern, where):
    """Walk one durable_rules pattern; every operator and attribute must be known."""
    if not isinstance(pattern, dict) or len(pattern) != 1:
        raise RuleFileError(f"{where}: each pattern must be a mapping with one key, got {pattern!r}")
    (key, value), = pattern.items()
    if key in ("$and", "$or"):
        if not isinstance(value, list) or not value:
            raise RuleFileError(f"{where}: {key} takes a non-empty list")
        for part in value:
            check_pattern(knowledge, kind, part, where)
        return
    if key.startswith("$"):
        if key not in OPERATORS:
            raise RuleFileError(f"{where}: operator {key!r} is not supported (use one of {sorted(OPERATORS)})")
        if not isinstance(value, dict) or len(value) != 1:
            raise RuleFileError(f"{where}: {key} takes one {{fact: value}}")
        (name, operand), = value.items()
        spec = known_fact(knowledge, kind, name, where)
        if key in ("$ex", "$nex"):
            return
        if spec["type"] != "number" or isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise RuleFileError(f"{where}: {key} compares numbers; {name} is {spec['type']}")
        return
    spec = known_fact(knowledge, kind, key, where)
    expected = {"number": (int, float), "string": str, "boolean": bool}[spec["type"]]
    if not isinstance(value, expected) or (spec["type"] == "number" and isinstance(value, bool)):
        raise RuleFileError(f"{where}: {key} is a {spec['type']}, got {value!r}")
    if spec.get("values") and value not in spec["values"]:
        raise RuleFileError(f"{where}: {key} must be one of {spec['values']}, got {value!r}")


PLACEHOLDER = re.compile(r"\{(\w+)\.(\w+)\}")


def check_placeholders(knowledge, rule, where):
    """Every {alias.fact} in a recommendation's text names an alias of the rule and a known fact."""
    kinds = {alias: kind for alias, kind, _ in rule.aliases()}
    recommendation = rule.then.get("recommendation", {})
    for text in (recommendation.get("title", ""), recommendation.get("detail", "")):
        for alias, name in PLACEHOLDER.findall(text):
            if alias not in kinds:
                raise RuleFileError(f"{where}: placeholder {{{alias}.{name}}} names no alias of the rule")
            known_fact(knowledge, kinds[alias], name, f"{where}: placeholder")


def known_fact(knowledge, kind, name, where):
    """The vocabulary entry of a fact, or a RuleFileError naming it."""
    try:
        return knowledge.fact_spec(kind, name)
    except KeyError:
        raise RuleFileError(f"{where}: unknown fact {kind}.{name}") from None


def finding_names(pattern):
    """Finding names a finding pattern tests for equality."""
    (key, value), = pattern.items()
    if key in ("$and", "$or"):
        return [name for part in value for name in finding_names(part)]
    return [value] if key == "name" else []


def compile_rules(knowledge):
    """durable_rules JSON definitions, one per rule, keyed by rule id; each alias is tied to its fact kind."""
    definitions = {}
    for rule in knowledge.rules:
        terms = [{alias: {"$and": [{"kind": kind}, pattern]}} for alias, kind, pattern in rule.aliases()]
        definitions[rule.id] = {"all": terms}
    return definitions
