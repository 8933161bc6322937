"""Laboratory units: every accepted unit of every test, converted once to the canonical unit rules see."""
import functools
import re
from dataclasses import dataclass

# Conversion factors are from shared/clinical (section 6): ferritin ng/mL x 2.247 = pmol/L; folate
# ng/mL x 2.266 = nmol/L; hemoglobin g/dL x 0.6206 = mmol/L (monomer, iron basis, as NL/DK labs
# report it); serum iron and TIBC ug/dL x 0.179 = umol/L. TSAT is a percentage; some laboratories
# (and UCUM-strict interfaces) send it as a plain fraction, UCUM unit "1" or "{ratio}": 0.15 = 15 %.
# A fraction is read only when it is one: 15 with unit "1" is a percentage under the wrong unit and is
# refused (FRACTIONS below), never multiplied into 1500 % or read as 15 %.


@dataclass(frozen=True)
class Test:
    """A laboratory test: its canonical unit, the factor from each accepted unit, and its plausible range."""

    canonical: str
    factors: dict
    low: float
    high: float


TESTS = {
    "ferritin": Test("ng/mL", {"ng/mL": 1.0, "ug/L": 1.0, "pmol/L": 1 / 2.247}, 0.0, 100000.0),
    "tsat": Test("%", {"%": 1.0, "1": 100.0}, 0.0, 100.0),
    "folate": Test("ng/mL", {"ng/mL": 1.0, "ug/L": 1.0, "nmol/L": 1 / 2.266}, 0.0, 100.0),
    "hemoglobin": Test("g/dL", {"g/dL": 1.0, "g/L": 0.1, "mmol/L": 1 / 0.6206}, 1.0, 25.0),
    "serum_iron": Test("ug/dL", {"ug/dL": 1.0, "umol/L": 1 / 0.179}, 0.0, 1000.0),
    "tibc": Test("ug/dL", {"ug/dL": 1.0, "umol/L": 1 / 0.179}, 0.0, 1500.0),
}


class UnitError(ValueError):
    """A unit the service does not accept for a test."""


ANNOTATION = re.compile(r"\{[^{}]*\}")  # UCUM annotations ("%{saturation}", "{ratio}") carry no meaning
SPELLINGS = {"gm/dl": "g/dL", "g/100ml": "g/dL", "g%": "g/dL", "gm/l": "g/L", "ng/ml": "ng/mL", "fraction": "1",
             "ratio": "1", "%sat": "%", "percent": "%"}
KNOWN = ("ng/mL", "ug/L", "pmol/L", "nmol/L", "g/dL", "g/L", "mmol/L", "ug/dL", "umol/L", "%", "1")
FRACTIONS = ("1",)  # units of a plain fraction: the value must lie in [0, 1]
# The mirror case: a fraction sent with unit "%" (0.45 read as 0.45 % would make an iron-overloaded
# patient look iron deficient). No laboratory reports a transferrin saturation below 1 % (severe iron
# deficiency measures 2-5 %, and an undetectable one is reported censored, "<5 %"), so such a value is refused.
SMALLEST_PERCENT = {"tsat": (1.0, "transferrin saturation")}


@functools.lru_cache(maxsize=512)  # a cohort repeats a handful of spellings; bounded for any input
def normalise_unit(unit):
    """Fold the spellings EHRs send (mcg, µg, ml, gm/dL, UCUM annotations) onto the UCUM forms the table uses."""
    folded = unit.strip().replace("µ", "u").replace("μ", "u").replace("mcg", "ug")
    stripped = ANNOTATION.sub("", folded).strip()
    if not stripped:
        return "1" if folded else folded  # "{ratio}" alone is the UCUM unity
    lowered = stripped.lower().replace(" ", "")
    if lowered in SPELLINGS:
        return SPELLINGS[lowered]
    for known in KNOWN:
        if lowered == known.lower():
            return known
    return folded


def to_canonical(test, value, unit):
    """Return (value, canonical unit) for a reported value, or raise UnitError."""
    spec = TESTS[test]
    normal = normalise_unit(unit)
    factor = spec.factors.get(normal)
    if factor is None:
        accepted = ", ".join(spec.factors)
        raise UnitError(f"unknown unit {unit!r} for {test}; accepted: {accepted}")
    if normal in FRACTIONS and not 0 <= value <= 1:
        raise UnitError(f"{value:g} with unit {unit!r} is not a fraction between 0 and 1 (15 % is 0.15); "
                        "a percentage needs unit '%'")
    smallest, label = SMALLEST_PERCENT.get(test, (0, test))
    if normal == "%" and value < smallest:
        raise UnitError(f"{value:g} % is below any {label} a laboratory reports; a fraction (0.15 = 15 %) "
                        "needs unit '1'")
    return round(value * factor, 4), spec.canonical


def in_range(test, canonical_value):
    """Whether a canonical value lies inside the range a real measurement can have."""
    spec = TESTS[test]
    return spec.low <= canonical_value <= spec.high
