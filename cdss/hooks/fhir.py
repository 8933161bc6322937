"""FHIR R4 resources become the native patient context, in this one place.

Patient -> patient (sex, birth date); Observation by LOINC -> labs (the most recent final, amended or
corrected result per test, with its UCUM unit) and pregnancy (82810-3, gestational age); Condition
-> conditions (ICD-10-CM and SNOMED CT codings); MedicationRequest -> medications (RxNorm codings,
ingredient names). The result is loaded with `PatientContextSchema`, so units are converted and values
validated exactly as for the native API.
"""
import datetime as dt
import re

from marshmallow import ValidationError

from cdss.errors import flatten
from cdss.hooks.labs import LABELS, map_labs
from cdss.hooks.pregnancy import pregnancy_section
from cdss.hooks.resources import (ACTIVE_CLINICAL, REFUTED, RXNORM, Mapped, belongs_to, codings, condition_entries,
                                  parse_when, reference_of, status_code)
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


def map_conditions(conditions, vocabulary, mapped):
    """One entry per current Condition: a coding the value sets recognise, else its first coding.

    A Condition with no ICD-10-CM or SNOMED CT coding cannot be matched and is said on the card."""
    entries = []
    for condition in conditions:
        candidates = condition_entries(condition)
        known = [entry for entry in candidates if vocabulary.condition(entry)]
        chosen = (known or candidates)[:1]
        if not chosen:
            text = condition_text(condition)
            mapped.skip("conditions", f"{reference_of(condition)}: not coded in ICD-10-CM or SNOMED CT",
                        f"the condition {text!r} ({reference_of(condition)}) is not coded in ICD-10-CM or SNOMED CT"
                        if text else f"the condition {reference_of(condition)} has no ICD-10-CM or SNOMED CT code")
        for entry in chosen:
            if entry not in entries:
                entries.append(entry)
                if known:
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


def medication_concept(request, library=None):
    """The medication CodeableConcept of a MedicationRequest/Statement: its own, a contained Medication's,
    or an external Medication's from `library` ("Medication/id" -> Medication)."""
    if isinstance(request.get("medicationCodeableConcept"), dict):
        return request["medicationCodeableConcept"]
    reference = (request.get("medicationReference") or {})
    target = reference.get("reference", "")
    for contained in request.get("contained", []):
        if isinstance(contained, dict) and target == f"#{contained.get('id')}":
            return contained.get("code") or {}
    found = medication_target(target, library or {})
    if found is not None:
        return found.get("code") or {}
    return {"text": reference["display"]} if isinstance(reference.get("display"), str) else {}


def medication_target(target, library):
    """The Medication a reference names (relative or absolute URL) in the library, or None."""
    if not target or target.startswith("#"):
        return None
    parts = target.rstrip("/").split("/")
    key = "/".join(parts[-2:]) if len(parts) >= 2 else target
    return library.get(key)


def ingredient_names(text, vocabulary):
    """Ingredient names (and brands) the vocabulary knows that occur as words in a drug's text."""
    lowered = text.lower()
    found = []
    for alias, ingredient in vocabulary.by_name.items():
        if re.search(rf"(?<![a-z]){re.escape(alias)}(?![a-z])", lowered) and ingredient.name not in found:
            found.append(ingredient.name)
    return found


def medication_entries(request, vocabulary, library=None):
    """Native medication entries of one MedicationRequest or MedicationStatement.

    A known ingredient RxNorm code is used as is; real orders carry clinical-drug (SCD/SBD) codes,
    so otherwise the ingredient names in the coding's display or text are matched as words."""
    concept = medication_concept(request, library)
    codes = codings(concept, RXNORM)
    known = [code for code in codes if code in vocabulary.by_rxnorm]
    if known:
        return [{"rxnorm": code} for code in known]
    texts = [coding.get("display") for coding in concept.get("coding", []) if isinstance(coding, dict)]
    text = " ".join(value for value in [concept.get("text"), *texts] if isinstance(value, str))
    names = ingredient_names(text, vocabulary)
    if names:
        return [{"name": name} for name in names]
    if text.strip():
        return [{"name": text.strip()[:200]}]
    return [{"rxnorm": code} for code in codes if re.fullmatch(r"\d{1,10}", code)][:1]


ACTIVE_MEDICATION = {"MedicationRequest": ("active",), "MedicationStatement": ("active", "intended")}


def map_medications(requests, vocabulary, mapped, library=None):
    """Medication entries of active MedicationRequests and MedicationStatements, de-duplicated."""
    entries = []
    for request in requests:
        if request.get("status", "active") not in ACTIVE_MEDICATION.get(request.get("resourceType"), ("active",)):
            continue
        found = medication_entries(request, vocabulary, library)
        if not found:
            reference = (request.get("medicationReference") or {}).get("reference")
            mapped.skip("medications", f"{reference_of(request)}: medication not readable",
                        f"the medication of {reference_of(request)} could not be read"
                        + (f" ({str(reference)[:80]} was not available)" if reference else ""))
        for entry in found:
            if entry not in entries:
                entries.append(entry)
                mapped.sources.setdefault("medications", []).append(reference_of(request))
    if len(entries) > MAX_ITEMS:
        mapped.skip("medications", f"more than {MAX_ITEMS}", f"only the first {MAX_ITEMS} medications were read")
    return entries[:MAX_ITEMS]


KINDS = ("observations", "conditions", "medications", "statements")


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


def external_medications(resources, drafts=()):
    """Relative references ('Medication/id') of external Medications the requests name and the data lacks.

    Only relative references are read: an absolute URL may name another server, which never gets the token."""
    have = {reference_of(item) for item in resources.get("medication_resources") or [] if isinstance(item, dict)}
    wanted = []
    for request in [*(resources.get("medications") or []), *(resources.get("statements") or []), *drafts]:
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
    [MedicationRequest], "statements": [MedicationStatement], "medication_resources": [Medication]}.
    thresholds: `values.lab_thresholds(knowledge)`, so a censored result can be placed (None: it is not used).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    mapped = Mapped({})
    kept = readable(resources, patient_id, mapped)
    context = mapped.context
    context["patient"] = map_patient(patient_of(resources, mapped), patient_id, now.date())
    context["labs"] = map_labs(kept["observations"], mapped, thresholds)
    conditions = [item for item in kept["conditions"] if current(item)]
    pregnancy = pregnancy_section(kept["observations"], conditions, vocabulary, mapped, now)
    if pregnancy:
        context["pregnancy"] = pregnancy
    context["conditions"] = map_conditions(conditions, vocabulary, mapped)
    mapped.library = library_of(resources, mapped)
    context["medications"] = map_medications(kept["medications"] + kept["statements"], vocabulary, mapped,
                                             mapped.library)
    return mapped


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
