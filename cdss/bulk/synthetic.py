"""A seeded generator of FHIR R4 Bulk Data exports shaped like US Core and Synthea output, for tests and benchmarks.

Every patient gets a Patient, labs (ferritin, TSAT, hemoglobin, sometimes folate; sometimes a second,
older result, a non-final one, a censored one, SI units), Conditions coded as EHRs and Synthea code them
(ICD-10-CM with SNOMED CT, SNOMED only, text only), MedicationRequests and MedicationStatements with RxNorm
product codes, sometimes an AllergyIntolerance. A small share of lines is malformed or names a patient the
export does not hold, as real exports sometimes do. The RxNorm codes are real products from
/work/shared/reference/terminology/rxnorm-products.json (confidence "verified").

    python -m cdss.bulk.synthetic OUTDIR --patients 5000 --seed 7
"""
import datetime as dt
import json
import random
import uuid
from pathlib import Path

import click

LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
ICD10CM, RXNORM = "http://hl7.org/fhir/sid/icd-10-cm", "http://www.nlm.nih.gov/research/umls/rxnorm"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
AS_OF = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone.utc)  # fixed: the same seed gives the same export

# (ICD-10-CM, SNOMED CT, text) -- a None system is left out, as EHRs and Synthea leave it out.
RLS = ("G25.81", "32914008", "Restless legs syndrome")
CONDITIONS = [
    ("D50.9", "87522002", "Iron deficiency anemia"), ("N18.6", "46177005", "End-stage renal disease"),
    ("Z99.2", None, "Dependence on renal dialysis"), ("E11.42", None, "Type 2 diabetes mellitus with diabetic polyneuropathy"),
    ("G20", "49049000", "Parkinson's disease"), ("E83.110", None, "Hereditary hemochromatosis"),
    (None, "72892002", "Normal pregnancy"), (None, "59621000", "Essential hypertension"),
    ("G35", None, "Multiple sclerosis"), ("E11.9", "44054006", "Type 2 diabetes mellitus"),
    (None, None, "Hereditary hemochromatosis"), ("G47.33", "78275009", "Obstructive sleep apnea"),
]
PRODUCTS = [  # (RxNorm code, normalized name): verified products of rxnorm-products.json
    ("314111", "mirtazapine 30 MG Oral Tablet"), ("992447", "promethazine hydrochloride 25 MG Oral Tablet"),
    ("313580", "venlafaxine 100 MG Oral Tablet"), ("309313", "citalopram 2 MG/ML Oral Solution"),
    ("835564", "imipramine hydrochloride 25 MG Oral Tablet"), ("313366", "thiothixene 5 MG Oral Capsule"),
    ("1090078", "diphenhydramine hydrochloride 25 MG Oral Tablet [Wal-Dryl Allergy]"),
    ("483448", "pregabalin 50 MG Oral Capsule"), ("310325", "ferrous sulfate 325 MG Oral Tablet"),
    ("1049686", "oxycodone hydrochloride 20 MG Oral Tablet"), ("197889", "lithium carbonate 300 MG Oral Capsule"),
    ("205315", "topiramate 25 MG Oral Capsule"),
]
LABS = {  # test: (LOINC, display, UCUM unit, sampler)
    "ferritin": ("2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "ng/mL", lambda r: round(r.lognormvariate(4.0, 0.9), 1)),
    "tsat": ("2502-3", "Iron saturation [Mass Fraction] in Serum or Plasma", "%", lambda r: round(r.uniform(5, 55), 1)),
    "hemoglobin": ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", lambda r: round(r.gauss(12.8, 1.6), 1)),
    "folate": ("2284-8", "Folate [Mass/volume] in Serum or Plasma", "ng/mL", lambda r: round(r.uniform(1.5, 20), 1)),
}


class Export:
    """The resources of one export, by type, as NDJSON lines."""

    def __init__(self, seed):
        self.random = random.Random(seed)
        self.lines = {kind: [] for kind in ("Patient", "Observation", "Condition", "MedicationRequest",
                                            "MedicationStatement", "AllergyIntolerance")}

    def new_id(self):
        """A resource id (uuid4 from the seeded generator, as Synthea's are uuids)."""
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def add(self, resource):
        """Add one resource."""
        self.lines[resource["resourceType"]].append(json.dumps(resource, separators=(",", ":")))

    def when(self, days_back):
        """An instant up to `days_back` days before the export."""
        return (AS_OF - dt.timedelta(days=self.random.uniform(0, days_back))).isoformat(timespec="seconds")


def patient(export, rls_fraction):
    """One patient and their resources."""
    r = export.random
    pid = export.new_id()
    sex = r.choice(["female", "female", "male"])
    age = r.choice([r.randint(6, 17), r.randint(18, 49), r.randint(18, 49), r.randint(50, 90)])
    born = AS_OF.date() - dt.timedelta(days=365.25 * age + r.randint(0, 300))
    export.add({"resourceType": "Patient", "id": pid, "meta": {"profile": [US_CORE + "us-core-patient"]},
                "identifier": [{"system": "https://github.com/synthetichealth/synthea", "value": pid}],
                "name": [{"use": "official", "family": f"Family{r.randint(1, 999)}", "given": [f"Given{r.randint(1, 999)}"]}],
                "gender": sex, "birthDate": born.isoformat()})
    subject = {"reference": f"Patient/{pid}"}
    if r.random() < rls_fraction:
        export.add(condition(export, subject, RLS))
    for entry in r.sample(CONDITIONS, r.choice([0, 0, 1, 1, 2])):
        if entry[2] == "Normal pregnancy" and (sex != "female" or not 15 <= age <= 49):
            continue
        export.add(condition(export, subject, entry, resolved=r.random() < 0.1))
    for test, spec in LABS.items():
        if r.random() < (0.85 if test != "folate" else 0.3):
            export.add(observation(export, subject, spec))
            if r.random() < 0.2:
                export.add(observation(export, subject, spec, days_back=900))  # an older result
    for code, name in r.sample(PRODUCTS, r.choice([0, 1, 1, 2])):
        export.add(medication(export, subject, code, name, statement=r.random() < 0.3))
    if r.random() < 0.05:
        export.add(medication(export, subject, None, "Atorvastatin 20 MG Oral Tablet"))  # text only
    if r.random() < 0.05:
        export.add(allergy(export, subject))


def condition(export, subject, entry, resolved=False):
    """A US Core Condition (problem-list item) coded as EHRs send them."""
    icd, snomed, text = entry
    coding = ([{"system": ICD10CM, "code": icd, "display": text}] if icd else []) \
        + ([{"system": SNOMED, "code": snomed, "display": text}] if snomed else [])
    return {"resourceType": "Condition", "id": export.new_id(),
            "meta": {"profile": [US_CORE + "us-core-condition-problems-health-concerns"]},
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "resolved" if resolved else "active"}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                      "code": "problem-list-item"}]}],
            "code": {"coding": coding, "text": text} if coding else {"text": text},
            "subject": subject, "onsetDateTime": export.when(3000), "recordedDate": export.when(3000)}


def observation(export, subject, spec, days_back=120):
    """A US Core laboratory Observation; now and then a preliminary or censored one."""
    r = export.random
    code, display, unit, sample = spec
    value = max(sample(r), 0.1)
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    resource = {"resourceType": "Observation", "id": export.new_id(),
                "meta": {"profile": [US_CORE + "us-core-observation-lab"]},
                "status": "preliminary" if r.random() < 0.03 else "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "laboratory"}]}],
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
                "subject": subject, "effectiveDateTime": export.when(days_back), "valueQuantity": quantity}
    if code == "2276-4" and value < 5:
        quantity.update(value=5, comparator="<")  # below the assay's reporting limit
    return resource


def medication(export, subject, code, name, statement=False):
    """An active MedicationRequest (order) or MedicationStatement with an RxNorm product code."""
    concept = {"coding": [{"system": RXNORM, "code": code, "display": name}], "text": name} if code else {"text": name}
    resource = {"resourceType": "MedicationStatement" if statement else "MedicationRequest", "id": export.new_id(),
                "status": "active", "medicationCodeableConcept": concept, "subject": subject}
    if statement:
        resource["effectivePeriod"] = {"start": export.when(400)}
    else:
        resource.update(intent="order", authoredOn=export.when(400),
                        meta={"profile": [US_CORE + "us-core-medicationrequest"]})
    return resource


def allergy(export, subject):
    """A US Core AllergyIntolerance to IV iron (iron sucrose; RxNorm 1741261, an SCD from RxTerms)."""
    return {"resourceType": "AllergyIntolerance", "id": export.new_id(),
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": RXNORM, "code": "1741261", "display": "Iron sucrose Injectable"}],
                     "text": "iron sucrose"},
            "patient": subject, "reaction": [{"severity": "severe",
                                              "manifestation": [{"text": "Anaphylaxis"}]}]}


def damage(export):
    """A few lines real exports also hold: not JSON, not a resource, a resource of a patient not exported."""
    r = export.random
    export.lines["Observation"].insert(r.randrange(len(export.lines["Observation"]) + 1), '{"resourceType": "Observation", ')
    export.lines["Condition"].insert(r.randrange(len(export.lines["Condition"]) + 1), "[1, 2, 3]")
    stranger = {"reference": "Patient/not-in-this-export"}
    export.add(condition(export, stranger, RLS))
    export.add(observation(export, stranger, LABS["ferritin"]))


def generate(outdir, patients, seed=7, rls_fraction=0.6, files_per_type=2):
    """Write a Bulk Data export (NDJSON per type, several files for the larger types, and a manifest)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    export = Export(seed)
    for _ in range(patients):
        patient(export, rls_fraction)
    damage(export)
    output = []
    for kind, lines in export.lines.items():
        parts = files_per_type if kind in ("Observation", "Condition") and len(lines) > 1 else 1
        size = -(-len(lines) // parts)
        for index in range(parts):
            name = f"{kind}.{index + 1:03d}.ndjson" if parts > 1 else f"{kind}.ndjson"
            (outdir / name).write_text("".join(line + "\n" for line in lines[index * size:(index + 1) * size]),
                                       encoding="utf-8")
            output.append({"type": kind, "url": name, "count": len(lines[index * size:(index + 1) * size])})
    manifest = {"transactionTime": AS_OF.isoformat(), "request": "[base]/Patient/$export",
                "requiresAccessToken": False, "output": output, "error": []}
    (outdir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return outdir / "manifest.json"


@click.command()
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--patients", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--rls-fraction", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              help="Share of patients with restless legs syndrome on the problem list.")
def main(outdir, patients, seed, rls_fraction):
    """Write a synthetic Bulk Data export to OUTDIR."""
    click.echo(generate(outdir, patients, seed, rls_fraction))


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
