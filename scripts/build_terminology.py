"""Derive the terminology data files the service ships from the harvested tables in shared/.

Run on purpose when shared/reference/terminology changes; the output is committed:
    .venv/bin/python scripts/build_terminology.py [/work/shared/reference/terminology]
Writes cdss/terminology/data/rxnorm-products.tsv and snomed-valuesets.json, and checks that every
ICD-10-CM code of icd10cm-codes.json exists in the installed simple-icd-10-cm.
"""
import json
import re
import sys
from pathlib import Path

from cdss.terminology import icd10cm

DATA = Path(__file__).resolve().parent.parent / "cdss" / "terminology" / "data"
DEFAULT_SOURCE = Path("/work/shared/reference/terminology")

# The harvested SNOMED group esrd_dialysis and ckd mix stages and treatments: the service keeps ESRD,
# dialysis, early and advanced CKD apart (COORD.md 00:45), so those groups are split by the concept's
# display. A concept "on dialysis" is both ESRD and dialysis.
SPLITS = {
    "esrd_dialysis": [("esrd_on_dialysis", r"end.stage renal (disease|failure) on dialysis|dependence on hemodialysis"),
                      ("renal_transplant", r"renal transplant"),
                      ("dialysis", r"dialysis"),
                      ("esrd", r"end.stage renal|end stage renal")],
    "ckd": [("ckd_advanced", r"stage [345]"), ("ckd", r".")],
}


def split(group, entries):
    """{set name: entries} for one harvested group (unsplit groups keep their name)."""
    if group not in SPLITS:
        return {group: entries}
    sets = {}
    for entry in entries:
        name = next(name for name, pattern in SPLITS[group] if re.search(pattern, entry["display"], re.I))
        sets.setdefault(name, []).append(entry)
    return sets


def snomed(source):
    """The SNOMED CT value sets, one per service condition, each concept with its display and sources."""
    harvested = json.loads((source / "snomed-codes.json").read_text())
    sets, sources = {}, {}
    for group, entries in harvested.items():
        for name, members in split(group, entries).items():
            sets.setdefault(name, []).extend(
                [entry["code"], entry["display"], [sources.setdefault(text, len(sources)) for text in entry["sources"]]]
                for entry in members)
    return {"meta": {
        "format": "sets: {name: [[concept id, display, [indexes into sources]]]}",
        "source": "shared/reference/terminology/snomed-codes.json (see snomed.md and raw/SOURCES.md there)",
        "method": "VSAC value-set expansions (eCQM/dQM content repositories, CDC opioid-CDS IG), the NLM SNOMED CT "
                  "CORE Problem List Subset 201005 and single codes from public FHIR examples; groups esrd_dialysis "
                  "and ckd split by display (scripts/build_terminology.py SPLITS).",
        "licence": "SNOMED CT concept ids and descriptions are SNOMED International content, used under the "
                   "licence of the user's SNOMED CT affiliate (free in IHTSDO member countries such as the US via "
                   "the NLM UMLS licence). No SNOMED CT release is shipped; only the ids and terms listed here.",
        "caveat": "Not checked against a full SNOMED CT release (none is available offline): ids are checked for "
                  "their Verhoeff check digit only."},
        "sources": list(sources), "sets": sets}


def rxnorm(source):
    """Rows of the RxNorm products table: code, tty, ingredients, confidence, display, sources."""
    harvested = json.loads((source / "rxnorm-products.json").read_text())
    rows = []
    for entry in harvested["products"] + harvested["other_codes"]:
        names = "|".join(ingredient["name"] for ingredient in entry["ingredients"])
        fields = [entry["code"], entry["tty"], names, entry["confidence"], entry["display"], " ; ".join(entry["sources"])]
        rows.append("\t".join(field.replace("\t", " ") for field in fields))
    meta = harvested["meta"]
    header = [
        "# RxNorm product codes (SCD, SBD, GPCK, BPCK) and other RxNorm codes (IN, MIN, SCDC, SBDC) -> the",
        "# ingredients the service's value sets name. Derived by scripts/build_terminology.py from",
        "# shared/reference/terminology/rxnorm-products.json (" + meta["built"] + ").",
        *[f"# method: {line}" for line in meta["method"]],
        *[f"# confidence {key}: {text}" for key, text in meta["confidence_levels"].items()],
        *[f"# limit: {line}" for line in meta["known_limits"]],
        "# RxNorm is produced by the US National Library of Medicine and is free to use (public domain data).",
        "code\ttty\tingredients\tconfidence\tdisplay\tsources",
    ]
    return "\n".join(header + sorted(rows, key=lambda row: int(row.split("\t")[0]))) + "\n"


def check_icd10cm(source):
    """Codes of the harvested FY2026 list that the installed package lacks (printed; none expected)."""
    system = icd10cm.load()
    harvested = json.loads((source / "icd10cm-codes.json").read_text())
    codes = {entry["code"] for group in harvested["groups"].values()
             for entry in group["core_codes"] + group["related_codes"]}
    missing = sorted(code for code in codes if not system.valid(code))
    print(f"ICD-10-CM: {len(codes)} harvested codes, {len(missing)} missing from {system.release}: {missing[:20]}")
    return missing


def main(argv):
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    (DATA / "snomed-valuesets.json").write_text(json.dumps(snomed(source), separators=(",", ":")).replace("],[", "],\n[") + "\n")
    (DATA / "rxnorm-products.tsv").write_text(rxnorm(source))
    return 1 if check_icd10cm(source) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
