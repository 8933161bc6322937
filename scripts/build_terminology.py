"""Derive the terminology data files the service ships from the harvested tables in shared/.

Run on purpose when shared/reference/terminology changes; the output is committed:
    .venv/bin/python scripts/build_terminology.py [/work/shared/reference/terminology]
Writes cdss/terminology/data/rxnorm-products.tsv, rxnorm-known.tsv and snomed-valuesets.json, and checks that every
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


# RxTerms labels are "<name> <route and form>" with punctuation removed ("Lisinopril Oral Pill"); these
# words end a label and are not part of the drug's name.
FORM_WORDS = set("""Oral Pill Injectable Topical Liquid Pack pack Ophthalmic Inhalant Chewable Nasal Powder Disintegrating
Transdermal Rectal Lozenge Sublingual Vaginal Soap Shampoo Granules Mucosal Gel Mouthwash Otic Implant Buccal Effervescent
Tablet Paste Irrigation Toothpaste Pellet Film Wafer Intraperitoneal Foam Intratracheal Intrauterine Urethral Ointment
Spray Cream Suspension Solution""".split())
SALTS = set("""hydrochloride hcl sulfate succinate tartrate sodium potassium calcium maleate mesylate besylate citrate
acetate fumarate bromide hydrobromide phosphate magnesium bitartrate monohydrate dihydrate anhydrous""".split())
RXNORM_SYSTEMS = ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88")


def rxterms_names(source):
    """{RXCUI: drug name} from the RxTerms 2022-02 picklist (generic or brand name, form words removed)."""
    path = source / "raw" / "rxterms" / "ddp-study-server_RxTerms202202_output.txt"
    names = {}
    for option in json.loads(path.read_text())["picklistOptions"]:
        label = option["optionLabelTemplate"]["templateText"].split()
        while label and label[-1] in FORM_WORDS:
            label.pop()
        if label:
            names[str(option["stableId"])] = " ".join(label).lower()
    return names


def display_names(display):
    """Ingredient and brand names of an RxNorm normalized name ('Hydrochlorothiazide 12.5 MG / Lisinopril
    10 MG Oral Tablet [Zestoretic]' -> hydrochlorothiazide, lisinopril, zestoretic); salts dropped as well."""
    found = [brand.strip().lower() for brand in re.findall(r"\[([^\]]+)\]", display)]
    for part in re.sub(r"\[[^\]]*\]|[{}()]", " ", display).split(" / "):
        words = part.split()
        while words and re.match(r"[0-9.]", words[0]):  # a pack's count, "24 HR", "120 ACTUAT"
            words.pop(0)
            if words and words[0] in ("HR", "Day", "ACTUAT"):
                words.pop(0)
        name = []
        for word in words:
            if re.match(r"[0-9.(]", word):
                break
            name.append(word.lower())
        while name and name[-1] in SALTS:
            found.append(" ".join(name))
            name.pop()
        if name:
            found.append(" ".join(name))
    return [name for name in dict.fromkeys(found) if name]


def valueset_drugs(source):
    """{RxNorm code: display} of every RxNorm code in the harvested FHIR value sets."""
    found = {}

    def walk(item, system=None):
        if isinstance(item, dict):
            system = item.get("system", system)
            if system in RXNORM_SYSTEMS and isinstance(item.get("code"), str):
                found.setdefault(item["code"], item.get("display") or "")
            for value in item.values():
                walk(value, system)
        elif isinstance(item, list):
            for value in item:
                walk(value, system)

    for path in sorted((source / "raw" / "valuesets").rglob("*.json")):
        walk(json.loads(path.read_text()))
    return found


def known_drugs(source):
    """Rows 'code<TAB>names' of every RxNorm drug the service recognises (RxTerms and value-set codes)."""
    rows = {code: [name] for code, name in rxterms_names(source).items()}
    for code, display in valueset_drugs(source).items():
        if re.fullmatch(r"\d{1,10}", code):
            rows.setdefault(code, [])
            rows[code] = list(dict.fromkeys([*rows[code], *display_names(display)]))
    header = [
        "# RxNorm drugs the service recognises, whether or not they bear on RLS: a draft order or a medication",
        "# of these is known (not 'could not be identified'); only the value sets (rules/valuesets) say which",
        "# matter. Derived by scripts/build_terminology.py from shared/reference/terminology/raw: RxTerms 2022-02",
        "# (RXCUI -> display name, form words removed; NLM, public domain) and the RxNorm codes and normalized",
        "# names of the harvested FHIR value sets (VSAC eCQM/HEDIS, CDC opioid-CDS; raw/SOURCES.md), with",
        "# ingredient and brand names read from the normalized names (salts also dropped).",
        "code\tnames",
    ]
    lines = [f"{code}\t{'|'.join(names)}" for code, names in sorted(rows.items(), key=lambda row: int(row[0]))
             if names]  # a code with no name cannot be told harmless: it stays unknown
    return "\n".join(header + lines) + "\n"


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
    (DATA / "rxnorm-known.tsv").write_text(known_drugs(source))
    return 1 if check_icd10cm(source) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
