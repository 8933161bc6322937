"""FHIR R4 resources become the native patient context, in this one place.

Patient -> patient (sex, birth date); Observation by LOINC -> labs (the most recent final, amended or
corrected result per test, with its UCUM unit) and pregnancy (82810-3, gestational age); Condition
-> conditions (ICD-10-CM and SNOMED CT codings; established diagnoses only); MedicationRequest,
MedicationStatement, MedicationAdministration -> medications (medications.py). The result is loaded with `PatientContextSchema`, so units are converted and values
validated exactly as for the native API.
"""
import datetime as dt
import re

from marshmallow import ValidationError

from cdss.errors import flatten
from cdss.hooks.allergies import body_weight, map_allergies, supported
from cdss.hooks.labs import LABELS, map_labs
from cdss.hooks.medications import map_medications, medication_entries, needs_drug  # noqa: F401 - entries: advice
from cdss.hooks.pregnancy import pregnancy_section
from cdss.hooks.resources import (ACTIVE_CLINICAL, REFUTED, SUSPECTED, Mapped, belongs_to, condition_entries,
                                  condition_names, names_of, parse_when, reference_of, status_code)
from cdss.hooks.shapes import MalformedResource, check_resource
from schemas.context import MAX_ITEMS, PatientContextSchema


SEX = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}


def map_patient(patient, patient_id, today):
    """The patient section: id from the hook context, sex, birth date (partial dates: the youngest age)."""
    section = {"id": patient_id} if patient_id else {}
    if not patient:
        return section
    gender = SEX.get(patient.get("gender"))
    if gender:
        section["sex"] = gender
    born = parse_when(patient.get("birthDate"), latest=True)
    if born and born.date() <= today:
        section["birth_date"] = born.date().isoformat()
    return section


def current(condition):
    """Active (or recurrence/relapse), and neither refuted nor entered in error.

    A Condition without clinicalStatus is taken as active: the prefetch asked for active ones, and
    R4 requires clinicalStatus unless the condition is entered-in-error (checked separately)."""
    clinical = status_code(condition.get("clinicalStatus"))
    return (clinical is None or clinical in ACTIVE_CLINICAL) \
        and status_code(condition.get("verificationStatus")) not in REFUTED


SUSPECTED_WORDS = {"unconfirmed": "is unconfirmed", "provisional": "is provisional",
                   "differential": "is a differential diagnosis"}
RLS = "restless_legs_syndrome"


def established(conditions, vocabulary, mapped):
    """The Conditions that are established diagnoses. A suspected one (verificationStatus unconfirmed, provisional
    or differential) is not counted, and is named on the cards: a provisional CKD or a differential pregnancy must
    not become a secondary cause of RLS, nor be mistaken for absence. No verificationStatus: counted (US Core makes
    it optional; problem-list entries are usually confirmed when it is left out)."""
    kept = []
    for condition in conditions:
        status = status_code(condition.get("verificationStatus"))
        if status not in SUSPECTED:
            kept.append(condition)
            continue
        # a suspected RLS is said even when no advice follows (advice.without_rls shows the "conditions" section)
        section = "conditions" if RLS in condition_names(condition, vocabulary) else "suspected"
        mapped.skip(section, f"{reference_of(condition)}: {status}",
                    f"{condition_words(condition, vocabulary)} ({reference_of(condition)}) {SUSPECTED_WORDS[status]}: "
                    "not counted")
    return kept


def condition_words(condition, vocabulary):
    """How a Condition is named on a card: its text or display, else its vocabulary name, else its code."""
    text = condition_text(condition)
    if text:
        return text
    names = sorted(condition_names(condition, vocabulary))
    if names:
        return names[0].replace("_", " ")
    entries = condition_entries(condition)
    return f"{entries[0]['system'].upper()} {entries[0]['code']}" if entries else "a condition"


def map_conditions(conditions, vocabulary, mapped):
    """One entry per current Condition: a coding the value sets recognise, else names its text matches
    (e.g. "Hereditary hemochromatosis"), else its first coding (reported by the rules as unrecognised).

    A Condition with no ICD-10-CM or SNOMED CT coding and no text the vocabulary knows is said on the card."""
    entries = []
    for condition in conditions:
        candidates = condition_entries(condition)
        known = [entry for entry in candidates if names_of(entry, vocabulary)]
        text = condition_text(condition)
        named = [] if known or not text else [{"name": name} for name in sorted(names_of({"text": text}, vocabulary))]
        chosen = known[:1] or named or candidates[:1]
        if not chosen:
            mapped.skip("conditions", f"{reference_of(condition)}: not coded in ICD-10-CM or SNOMED CT",
                        f"the condition {text!r} ({reference_of(condition)}) is not coded in ICD-10-CM or SNOMED CT "
                        "and its name is not one the service knows"
                        if text else f"the condition {reference_of(condition)} has no ICD-10-CM or SNOMED CT code")
        for entry in chosen:
            if entry not in entries:
                entries.append(entry)
                if known or named:
                    mapped.sources.setdefault("conditions", []).append(reference_of(condition))
    entries.sort(key=lambda entry: vocabulary.condition(entry) is None)  # recognised first if truncated
    if len(entries) > MAX_ITEMS:
        mapped.skip("conditions", f"more than {MAX_ITEMS}", f"only the first {MAX_ITEMS} conditions were read")
    return entries[:MAX_ITEMS]


def condition_text(condition):
    """The words of a Condition: its code's text, else the first coding display (at most 80 characters)."""
    concept = condition.get("code") or {}
    displays = [coding["display"] for coding in concept.get("coding", []) if coding.get("display")]
    return (concept.get("text") or (displays[0] if displays else "")).strip()[:80]


KINDS = ("observations", "conditions", "medications", "statements", "administrations", "allergies")


def readable(resources, patient_id, mapped):
    """{kind: [resource]}: the resources of each kind about this patient whose shape can be read.

    Each resource of the wrong shape is dropped and named; one bad resource never stops the rest."""
    kept = {}
    for kind in KINDS:
        items = resources.get(kind) or []
        kept[kind] = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                mapped.skip("resources", f"{kind}: not a resource", f"an entry of {kind} is not a FHIR resource")
                continue
            try:
                check_resource(item)
            except MalformedResource as error:
                mapped.skip("resources", f"{reference_of(item)}: {error}",
                            f"{reference_of(item)} could not be read ({error})")
                continue
            if belongs_to(item, patient_id):
                kept[kind].append(item)
            else:
                mapped.skip("resources", f"{reference_of(item)}: another patient",
                            f"{reference_of(item)} is about another patient and was ignored")
    return kept


def external_medications(resources, drafts=(), today=None):
    """Relative references ('Medication/id') of external Medications the requests name and the data lacks.

    Only relative references are read: an absolute URL may name another server, which never gets the token.
    With `today`, only those of resources whose drug is read (medications.needs_drug): an inpatient's
    administrations of years past would otherwise cost a read per Medication."""
    have = {reference_of(item) for item in resources.get("medication_resources") or [] if isinstance(item, dict)}
    wanted = []
    given = [item for kind in ("medications", "statements", "administrations") for item in resources.get(kind) or []
             if isinstance(item, dict) and (today is None or needs_drug(item, today))]
    for request in [*given, *drafts]:
        reference = request.get("medicationReference") if isinstance(request, dict) else None
        target = reference.get("reference") if isinstance(reference, dict) else None
        if isinstance(target, str) and re.fullmatch(r"Medication/[A-Za-z0-9\-.]{1,64}", target) \
                and target not in have and target not in wanted:
            wanted.append(target)
    return wanted[:MAX_ITEMS]


def library_of(resources, mapped):
    """External Medication resources (a prefetch `_include`, or read on the fallback path) by 'Medication/id'."""
    library = {}
    for item in resources.get("medication_resources") or []:
        try:
            check_resource(item)
        except MalformedResource as error:
            mapped.skip("resources", f"{reference_of(item)}: {error}", f"{reference_of(item)} could not be read ({error})")
            continue
        library[reference_of(item)] = item
    return library


def patient_of(resources, mapped):
    """The Patient resource, or None when absent, unreadable (said) or not found (said)."""
    patient = resources.get("patient")
    if resources.get("patient_missing"):
        mapped.skip("resources", "Patient: not found", "the patient's record (Patient) could not be read: "
                    "the FHIR server does not have it, so age and sex are not known")
    if not isinstance(patient, dict):
        return None
    try:
        check_resource(patient)
    except MalformedResource as error:
        mapped.skip("resources", f"{reference_of(patient)}: {error}", f"{reference_of(patient)} could not be read ({error})")
        return None
    return patient


def patient_context(resources, patient_id, vocabulary, now=None, thresholds=None):
    """Map the FHIR resources of one patient to a native (not yet validated) patient context.

    resources: {"patient": Patient or None, "observations": [...], "conditions": [...], "medications":
    [MedicationRequest], "statements": [MedicationStatement], "administrations": [MedicationAdministration],
    "medication_resources": [Medication]}.
    thresholds: `values.lab_thresholds(knowledge)`, so a censored result can be placed (None: it is not used).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    mapped = Mapped({})
    kept = readable(resources, patient_id, mapped)
    context = mapped.context
    context["patient"] = map_patient(patient_of(resources, mapped), patient_id, now.date())
    context["labs"] = map_labs(kept["observations"], mapped, thresholds)
    add_native_extras(context, kept, mapped, now)
    conditions = established([item for item in kept["conditions"] if current(item)], vocabulary, mapped)
    pregnancy = pregnancy_section(kept["observations"], conditions, vocabulary, mapped, now)
    if pregnancy:
        context["pregnancy"] = pregnancy
    context["conditions"] = map_conditions(conditions, vocabulary, mapped)
    mapped.library = library_of(resources, mapped)
    given = kept["medications"] + kept["statements"] + kept["administrations"]
    context["medications"] = map_medications(given, vocabulary, mapped,
                                             mapped.library, now.date() if supported("start_date") else None)
    return mapped


def add_native_extras(context, kept, mapped, now):
    """The date the context describes, body weight and allergies, where the native context has them."""
    if supported("as_of"):
        context["as_of"] = now.date().isoformat()  # ages and durations as of the call: replays give the same
    weight = body_weight(kept["observations"], mapped) if supported("weight_kg") else None
    if weight is not None:
        context["patient"]["weight_kg"] = weight
    if supported("allergies"):
        context["allergies"] = map_allergies(kept["allergies"], mapped)
    elif kept["allergies"]:
        mapped.skip("allergies", "AllergyIntolerance: not read", "allergies are not read by this version")


CONTEXT_SCHEMA = PatientContextSchema()  # built once: a fresh one cost ~1.1 ms a call (nested schemas rebuilt)


def load_context(mapped):
    """Validate and convert the mapped context with the native schema.

    A value the schema refuses (an unknown unit, an impossible value) is dropped and named in the
    notes, so one bad result does not hide the rest; the context is never guessed at."""
    context = mapped.context
    for _ in range(5):
        try:
            return CONTEXT_SCHEMA.load(context)
        except ValidationError as error:
            paths = flatten(error.messages)
            if not drop(context, paths, mapped):
                raise
    return CONTEXT_SCHEMA.load(context)


def drop(context, paths, mapped):
    """Remove the sections named by validation errors; False when nothing could be removed."""
    removed = False
    for path in paths:
        parts = path.split(".")
        section = parts[0]
        if section == "labs" and len(parts) > 1 and parts[1] in context.get("labs", {}):
            del context["labs"][parts[1]]
            source = mapped.sources.pop(f"labs.{parts[1]}", parts[1])
            reason = "; ".join(paths[path])
            mapped.skip("labs", f"{source}: {reason}",
                        f"the {LABELS.get(parts[1], parts[1])} result could not be used ({reason})")
            mapped.withheld.append(parts[1])
            removed = True
        elif section == "patient" and len(parts) > 1 and parts[1] in context.get("patient", {}) and parts[1] != "id":
            del context["patient"][parts[1]]
            mapped.skip("resources", f"Patient: {parts[1]}", f"the patient's {parts[1].replace('_', ' ')} could not be used")
            removed = True
        elif section == "pregnancy" and "pregnancy" in context:
            del context["pregnancy"]
            mapped.sources.pop("pregnancy", None)
            mapped.skip("pregnancy", "pregnancy: " + "; ".join(paths[path]), "the pregnancy status could not be used")
            removed = True
    return removed
