"""Terminology: ICD-10-CM, SNOMED CT, RxNorm and LOINC from real code-system data, loaded once per process.

Modules: icd10cm (the CDC tabular list shipped by simple-icd-10-cm), snomed (harvested value sets),
rxnorm (product codes and drug names to ingredients), loinc (lab codes), conditions (the condition
value sets expanded into lookups), text (free text as a lookup key). Other code reads terminology
through cdss.vocabulary.Vocabulary or the public functions named in COORD.md.
"""
import functools
import json

from cdss.terminology import icd10cm, rxnorm, snomed
from cdss.terminology.conditions import ConditionIndex, Match


def warm():
    """Read every code system now (at start-up) rather than on the first request."""
    icd10cm.load()
    snomed.load_sets()
    rxnorm.load_products()
    rxnorm.load_known()


def condition_index(conditions):
    """The expanded condition value sets, built once per distinct value-set content in a process."""
    return _condition_index(json.dumps(conditions))  # key order kept: the value sets' order is meaningful


@functools.lru_cache(maxsize=8)
def _condition_index(serialised):
    return ConditionIndex(json.loads(serialised))


__all__ = ["ConditionIndex", "Match", "condition_index", "warm"]
