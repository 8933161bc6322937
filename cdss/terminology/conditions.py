"""Condition value sets expanded once into dict lookups: an ICD-10-CM code, a SNOMED CT concept or a text
gives the service's condition names (per request: a dictionary lookup, never a scan of a list)."""
from dataclasses import dataclass

from cdss.terminology import icd10cm, snomed
from cdss.terminology.text import text_key


@dataclass(frozen=True)
class Match:
    """What a condition entry is: its condition names, or why it has none."""

    names: tuple
    problem: str = ""


def expand_icd10cm(conditions, system):
    """{dotless code: name}: each code goes to the condition whose root covers it most narrowly."""
    roots = [(len(codes), name, codes) for name, spec in conditions.items() for root in spec.get("icd10cm", ())
             for codes in [system.expand(root)] if codes]
    excluded = {name: {code for root in spec.get("icd10cm_exclude", ()) for code in system.expand(root)}
                for name, spec in conditions.items()}
    by_code = {}
    for _, name, codes in sorted(roots, key=lambda root: -root[0]):
        by_code.update((code, name) for code in codes if code not in excluded[name])
    return by_code


def expand_snomed(conditions, sets):
    """{concept id: names}: listed concepts first, else the condition(s) of the smallest set holding it.

    A set is a value set harvested for one clinical idea; the smaller one is the more specific (neuropathy
    due to diabetes is in VSAC 'Diabetes' and in the neuropathy set: it is neuropathy)."""
    best = {}  # concept -> (rank, [names]); rank 0 = listed one by one, else the size of the set
    for name, spec in conditions.items():
        excluded = set(spec.get("snomed_exclude", ()))
        members = [(0, code) for code in spec.get("snomed", ())]
        members += [(len(sets[set_name]), code) for set_name in spec.get("snomed_sets", ())
                    for code in sets.get(set_name, {})]
        for rank, code in members:
            if code in excluded:
                continue
            current = best.get(code)
            if current is None or rank < current[0]:
                best[code] = (rank, [name])
            elif rank == current[0] and name not in current[1]:
                current[1].append(name)
    return {code: tuple(names) for code, (_, names) in best.items()}


def implied(conditions):
    """{name: (name and every condition it implies, transitively)}."""
    closure = {}
    for name in conditions:
        found, todo = [], [name]
        while todo:
            current = todo.pop()
            if current not in found and current in conditions:
                found.append(current)
                todo.extend(conditions[current].get("implies", ()))
        closure[name] = tuple(found)
    return closure


class ConditionIndex:
    """The condition value sets, expanded against ICD-10-CM and the SNOMED CT sets at start-up."""

    def __init__(self, conditions, system=None, sets=None):
        self.system = system or icd10cm.load()
        self.sets = sets if sets is not None else snomed.load_sets()
        self.by_icd10cm = expand_icd10cm(conditions, self.system)
        self.by_snomed = expand_snomed(conditions, self.sets)
        self.implied = implied(conditions)
        self.by_text = self.texts(conditions)

    def texts(self, conditions):
        """{text key: name}: SNOMED CT displays, then keys, labels and synonyms (those win a clash)."""
        by_text = {}
        displays = {code: display for members in self.sets.values() for code, (display, _) in members.items()}
        for code, names in self.by_snomed.items():
            if len(names) == 1 and code in displays:
                by_text[text_key(displays[code])] = names[0]
        for name, spec in conditions.items():
            for text in [name.replace("_", " "), spec["label"], *spec.get("synonyms", ())]:
                by_text[text_key(text)] = name
        by_text.pop("", None)
        return by_text

    def match(self, system, code):
        """The condition names of a coded entry (system 'icd-10-cm' or 'snomed'), or why there are none."""
        if system == "icd-10-cm":
            key = icd10cm.normalise(code)
            if key is None or key not in self.system.index:
                return Match((), f"not a valid ICD-10-CM code ({self.system.release})")
            name = self.by_icd10cm.get(key)
            return Match(self.implied[name]) if name else Match((), "not in the service's value sets")
        if system == "snomed":
            if not snomed.well_formed(code):
                return Match((), "not a valid SNOMED CT concept id: wrong check digit")
            names = self.by_snomed.get(code, ())
            found = tuple(dict.fromkeys(implied for name in names for implied in self.implied[name]))
            return Match(found) if found else Match((), "not in the service's value sets")
        return Match((), f"unknown code system {system!r}")

    def match_text(self, text):
        """The condition names a free text names as a whole (case and punctuation aside), or ()."""
        name = self.by_text.get(text_key(text))
        return self.implied[name] if name else ()
