"""Medication and condition vocabularies from the value sets: names, brands and codes to canonical entries.

The code systems behind them live in cdss.terminology (loaded once per process); this module ties
them to the value sets under rules/valuesets. Per request, every lookup is a dictionary lookup.
"""
from dataclasses import dataclass

from cdss.terminology import condition_index, rxnorm
from cdss.terminology.text import text_key


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
                for alias in [name, *ingredient["brands"], *ingredient.get("aliases", [])]:
                    self.by_name[alias.lower()] = entry
                if entry.rxnorm:
                    self.by_rxnorm[entry.rxnorm] = entry
                for code in ingredient.get("products", []):  # a product that means this entry (low-dose doxepin)
                    self.by_rxnorm[code] = entry
        self.by_key = {text_key(alias): entry for alias, entry in self.by_name.items()}
        self.names = rxnorm.NameReader(self.by_name)
        self.products = rxnorm.load_products()
        self.known = rxnorm.load_known()
        # The products table was harvested for the drug classes that bear on RLS: an ingredient of it that
        # the value sets lack (tramadol, clemastine, ...) is one the rules cannot check, never "known and harmless".
        self.unchecked = {key for product in self.products.values() for name in product.ingredients
                          if name not in self.by_name for key in [text_key(name).replace(" ", "")] if key}
        self.conditions = conditions
        self.index = condition_index(conditions)
        # The patient fact's condition flags and the associated conditions, worked out once, not per patient.
        self.condition_keys = tuple((name, f"cond_{name}") for name in conditions)
        self.associated = frozenset(name for name, spec in conditions.items() if spec["role"] == "associated")

    # Medications ------------------------------------------------------------------------------------

    def ingredients(self, medication):
        """The ingredients a medication entry names (by name and/or RxNorm code); empty when unrecognised.

        An RxNorm code is an ingredient code of the value sets or a product code (SCD, SBD, pack) of the
        products table; a name is an ingredient, a brand, or a drug name that contains them."""
        found = list(self.ingredients_of_code(medication.get("rxnorm")))
        for ingredient in self.ingredients_in_text(medication.get("name")):
            if ingredient not in found:
                found.append(ingredient)
        return found

    def ingredients_of_code(self, code):
        """The value-set ingredients of an RxNorm code (ingredient or product code); () when none."""
        if not isinstance(code, str):
            return ()
        if code in self.by_rxnorm:
            return (self.by_rxnorm[code],)
        product = self.products.get(code)
        if product is None:
            return ()
        return tuple(self.by_name[name] for name in product.ingredients if name in self.by_name)

    def ingredients_in_text(self, text):
        """The value-set ingredients a drug's name or text names (ingredients, brands, RxNorm names)."""
        if not isinstance(text, str) or not text.strip():
            return []
        exact = self.by_key.get(text_key(text))
        return [exact] if exact else self.names.read(text)

    def recognises_medication(self, medication):
        """Whether a medication entry names a drug the service knows, whether or not it bears on RLS.

        Known: an ingredient of the value sets, or a code or text of the known drugs (RxTerms and harvested
        value sets: lisinopril, metformin) that names no ingredient of the RLS-relevant classes the value
        sets lack. A known drug outside them is not "could not be identified": the rules have nothing to say."""
        if self.ingredients(medication):
            return True
        code, name = medication.get("rxnorm"), medication.get("name")
        if isinstance(code, str) and code in self.products:
            return False  # a product of the RLS-relevant classes whose ingredient the value sets lack
        if isinstance(code, str) and self.known.codes.get(code):
            return not self.names_unchecked(self.known.codes[code])
        found = self.known.names.read(name) if isinstance(name, str) else []
        return bool(found) and not self.names_unchecked([*found, name])

    def names_known_drug(self, medication):
        """Whether an entry names a drug whose ingredients the service knows, RLS-relevant or not: an ingredient of
        the value sets, a product of the products table, or a known drug (what an allergy needs to tell IV iron
        apart: every IV iron ingredient is in the value sets)."""
        code, name = medication.get("rxnorm"), medication.get("name")
        return bool(self.ingredients(medication) or code in self.products or self.known.codes.get(code)
                    or (isinstance(name, str) and self.known.names.read(name)))

    def names_unchecked(self, names):
        """Whether drug names hold an ingredient of the RLS-relevant classes the value sets lack (also run
        together, as RxTerms writes combinations: 'acetaminophentramadol')."""
        keys = [text_key(name).replace(" ", "") for name in names]
        return any(unchecked in key for key in keys for unchecked in self.unchecked)

    def unrecognized_medication(self, medication):
        """How an unrecognised medication entry is listed in `unrecognized`."""
        if medication.get("name"):
            return medication["name"]
        code = medication.get("rxnorm")
        product = self.products.get(code)
        if product is not None:
            named = ", ".join(product.ingredients) or product.display
            return f"rxnorm|{code} ({named}: not in the service's medication value sets)"
        return f"rxnorm|{code}"

    # Conditions -------------------------------------------------------------------------------------

    def condition_names(self, entry):
        """All condition names an entry gives (by name, code, or text), implied ones included; ().

        A coded entry that also has a text is read by its code, and by its text when the code gives none
        (FHIR Condition.code: codings, then text)."""
        if "name" in entry:
            return self.index.implied.get(entry["name"], ())
        names = self.index.match(entry["system"], entry["code"]).names if "code" in entry else ()
        return names or self.index.match_text(entry.get("text"))

    def condition(self, entry):
        """The vocabulary name of a condition entry: by name, ICD-10-CM code or SNOMED code; else None."""
        names = self.condition_names(entry)
        return names[0] if names else None

    def conditions_in_text(self, text):
        """The condition names a free text (Condition.code.text) names as a whole; () when none."""
        return self.index.match_text(text)

    def unrecognized_condition(self, entry):
        """How an unrecognised coded condition is listed in `unrecognized` (invalid codes say so)."""
        if "code" not in entry:
            return entry.get("text") or entry.get("name", "")
        match = self.index.match(entry["system"], entry["code"])
        label = f"{entry['system']}|{entry['code']}"
        label = label if match.problem.startswith("not in the service") else f"{label} ({match.problem})"
        return f"{label} ({entry['text']})" if entry.get("text") else label
