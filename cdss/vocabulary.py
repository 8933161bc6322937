"""Medication and condition vocabularies from the value sets: names, brands and codes to canonical entries."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Ingredient:
    """A recognised medication ingredient and its class."""

    name: str
    rxnorm: str
    drug_class: str
    label: str
    worsens_rls: bool
    evidence: str
    alternatives: str


class Vocabulary:
    """Lookups built once from the value sets."""

    def __init__(self, medications, conditions):
        self.by_name, self.by_rxnorm = {}, {}
        for class_code, spec in medications.items():
            for name, ingredient in spec["ingredients"].items():
                entry = Ingredient(name, ingredient.get("rxnorm", ""), class_code, spec["label"],
                                   spec["worsens_rls"], spec["evidence"], spec["alternatives"])
                for alias in [name, *ingredient["brands"]]:
                    self.by_name[alias.lower()] = entry
                if entry.rxnorm:
                    self.by_rxnorm[entry.rxnorm] = entry
        self.conditions = conditions
        self.icd_prefixes = sorted(
            ((code.upper().replace(".", ""), name) for name, spec in conditions.items() for code in spec["icd10cm"]),
            key=lambda pair: -len(pair[0]))
        self.snomed = {code: name for name, spec in conditions.items() for code in spec["snomed"]}

    def ingredients(self, medication):
        """The ingredients a medication entry names (by name and/or RxNorm); empty when unrecognised."""
        found = []
        name = medication.get("name", "").strip().lower()
        if name in self.by_name:
            found.append(self.by_name[name])
        code = medication.get("rxnorm")
        if code in self.by_rxnorm and self.by_rxnorm[code] not in found:
            found.append(self.by_rxnorm[code])
        return found

    def condition(self, entry):
        """The vocabulary name of a condition entry: by name, ICD-10-CM prefix or SNOMED code; else None."""
        if "name" in entry:
            return entry["name"] if entry["name"] in self.conditions else None
        if entry["system"] == "snomed":
            return self.snomed.get(entry["code"])
        code = entry["code"].upper().replace(".", "")
        for prefix, name in self.icd_prefixes:
            # ICD-10-CM is hierarchical: N18 covers N18.1..N18.9; the longest prefix wins (N18.6 = ESRD).
            if code.startswith(prefix):
                return name
        return None
