"""Labels next to the codes of an evaluation: what a clinician reads instead of `iron_deficiency`.

One source: the rule data. Output codes are labelled in codes.yaml, facts in facts.yaml, conditions and
medication classes in the value sets; the loader refuses a rule whose output has no label.
"""
from cdss.loader import capitalised

# Facts the ruleset's own machinery puts in a reasoning (not rule facts, so not in facts.yaml).
NO_FORMAT = (None, "")  # a fact with neither value labels nor a unit
MACHINERY_FACTS = {"withdrawn": "Advice withdrawn", "withdrawn_rules": "Rules of the withdrawn advice"}


class Labeller:
    """Adds labels to an evaluation, with the lookups worked out once per ruleset."""

    def __init__(self, knowledge):
        self.codes = {kind: {code: spec["label"] for code, spec in entries.items()}
                      for kind, entries in knowledge.codes.items()}
        self.conditions = {name: capitalised(spec["label"]) for name, spec in knowledge.conditions.items()}
        self.facts = dict(MACHINERY_FACTS)
        self.units, self.values = {}, {}
        specs = [spec for kind in ("patient", "medication", "finding") for spec in knowledge.facts[kind].values()]
        specs += [knowledge.fact_spec("patient", f"cond_{name}") for name in knowledge.conditions]
        for spec in specs:
            key = spec["report_as"]
            self.facts[key] = spec["label"]
            self.units[key] = spec.get("unit", "")
            self.values[key] = spec.get("value_labels", {})
        self.values["withdrawn"] = self.codes["recommendations"]
        self.values["drug_class"] = {code: spec["label"] for code, spec in knowledge.medications.items()}
        # What follows a value: '%' right after it, another unit after a space (worked out once per fact).
        self.suffixes = {key: unit if unit == "%" else f" {unit}" if unit else "" for key, unit in self.units.items()}
        self.formats = {key: (self.values.get(key), self.suffixes.get(key, "")) for key in {*self.values, *self.suffixes}}

    def code(self, kind, code):
        """The label of an output code (recommendations, causes, findings, missing)."""
        return self.codes[kind].get(code, code)

    def label(self, result):
        """The evaluation with labels next to its codes (changed in place and returned)."""
        classification = result["classification"]
        classification["cause_labels"] = {cause: self.code("causes", cause) for cause in classification["causes"]}
        classification["associated_condition_labels"] = {
            name: self.conditions.get(name, name) for name in classification["associated_conditions"]}
        result["missing_labels"] = {item: self.code("missing", item) for item in result["missing"]}
        for recommendation in result["recommendations"]:
            recommendation["label"] = self.code("recommendations", recommendation["code"])
        self.reasoning(classification["reasoning"])
        for recommendation in result["recommendations"]:
            self.reasoning(recommendation["reasoning"])
        return result

    def readable(self, facts):
        """A reasoning entry's facts as label and value text, in the facts' order."""
        labels, value = self.facts, self.value
        return [{"fact": key, "label": labels.get(key, key), "value": value(key, item)} for key, item in facts.items()]

    def reasoning(self, entries):
        """Each reasoning entry (chains included) gets its facts as label and value text."""
        for entry in entries:
            if "readable_facts" not in entry:  # a firing explained once may appear under several advice
                entry["readable_facts"] = self.readable(entry["facts"])
                entry["statement"] = capitalised(entry["statement"])
            if "chain" in entry:
                self.reasoning(entry["chain"])

    def value(self, key, value):
        """A fact's value as text, with its unit: '30 ng/mL', 'yes', 'case reports only'."""
        if value is True or value is False:
            return "yes" if value else "no"
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        if isinstance(value, float):
            value = f"{value:g}"
        values, suffix = self.formats.get(key, NO_FORMAT)
        shown = values.get(value) if values else None
        if shown is None:
            shown = str(value)
        return shown + suffix if suffix == "%" else (shown + suffix).strip()
