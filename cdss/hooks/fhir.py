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
from cdss.hooks.allergies import body_weight, last_given, map_allergies, start_date, supported
from cdss.hooks.labs import LABELS, map_labs
from cdss.hooks.pregnancy import pregnancy_section
from cdss.hooks.resources import (ACTIVE_CLINICAL, REFUTED, RXNORM, Mapped, belongs_to, codings, condition_entries,
                                  names_of, parse_when, reference_of, status_code)
from cdss.hooks.shapes import MalformedResource, check_resource
from cdss.therapy import IV_IRON_WASHOUT_DAYS, is_iv_iron
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
    """Ingredient names the vocabulary finds in a drug's text (RxNorm names, brands, salts, tall-man lettering)."""
    if hasattr(vocabulary, "ingredients_in_text"):  # the terminology module's parser
        return list(dict.fromkeys(getattr(item, "name", item) for item in vocabulary.ingredients_in_text(text)))
    lowered = text.lower()
    found = []
    for alias, ingredient in vocabulary.by_name.items():
        if re.search(rf"(?<![a-z]){re.escape(alias)}(?![a-z])", lowered) and ingredient.name not in found:
            found.append(ingredient.name)
    return found


def medication_entries(request, vocabulary, library=None):
    """Native medication entries of one MedicationRequest or MedicationStatement.

    An RxNorm code the vocabulary resolves (an ingredient, or a clinical or branded drug, SCD/SBD, through
    the terminology module) is used as is; otherwise the ingredient names in the displays or text."""
    concept = medication_concept(request, library)
    codes = codings(concept, RXNORM)
    known = [code for code in codes if re.fullmatch(r"\d{1,10}", code) and vocabulary.ingredients({"rxnorm": code})]
    if known:
        return [{"rxnorm": code} for code in known]
    texts = [coding.get("display") for coding in concept.get("coding", []) if isinstance(coding, dict)]
    text = " ".join(value for value in [concept.get("text"), *texts] if isinstance(value, str))
    names = ingredient_names(text, vocabulary)
    if names:
        return [{"name": name} for name in names]
    recognised = [code for code in codes if re.fullmatch(r"\d{1,10}", code)
                  and vocabulary.recognises_medication({"rxnorm": code})]
    if recognised:  # a drug the service knows that bears on nothing it checks (lisinopril): kept by its code
        return [{"rxnorm": recognised[0]}]
    if text.strip():
        return [{"name": text.strip()[:200]}]
    return [{"rxnorm": code} for code in codes if re.fullmatch(r"\d{1,10}", code)][:1]


ACTIVE_MEDICATION = {"MedicationRequest": ("active",), "MedicationStatement": ("active", "intended")}
FINISHED = ("completed", "stopped")  # a finished IV iron course still makes ferritin unusable for 12 weeks


def recent_iv_iron(request, vocabulary, library, today, mapped):
    """The IV iron entries of a finished MedicationRequest or MedicationStatement given in the last 12 weeks, dated
    by when it was last given (the ferritin after it is not yet usable); [] for anything else. Finished IV iron
    whose date is not recorded is named on the cards: it may have been given in the last 12 weeks."""
    found = [entry for entry in medication_entries(request, vocabulary, library) if is_iv_iron(entry, vocabulary)]
    given = last_given(request, today) if found else None
    if found and given is None:
        mapped.skip("medications", f"{reference_of(request)}: IV iron, date not recorded",
                    f"IV iron ({reference_of(request)}, {request.get('status')}) has no date: if it was given in "
                    "the last 12 weeks the ferritin is not yet usable")
    if given is None or (today - given).days >= IV_IRON_WASHOUT_DAYS:
        return []
    return [{**entry, "start_date": given.isoformat()} for entry in found]


def map_medications(requests, vocabulary, mapped, library=None, today=None):
    """Medication entries of active MedicationRequests and MedicationStatements, de-duplicated; with
    `today`, each carries its start date (authoredOn, effectivePeriod.start) when it has one."""
    entries = []
    for request in requests:
        if request.get("status", "active") not in ACTIVE_MEDICATION.get(request.get("resourceType"), ("active",)):
            if request.get("status") in FINISHED and today:
                add_entries(entries, recent_iv_iron(request, vocabulary, library, today, mapped), request, mapped)
            continue
        found = medication_entries(request, vocabulary, library)
        if not found:
            reference = (request.get("medicationReference") or {}).get("reference")
            mapped.skip("medications", f"{reference_of(request)}: medication not readable",
                        f"the medication of {reference_of(request)} could not be read"
                        + (f" ({str(reference)[:80]} was not available)" if reference else ""))
        started = start_date(request, today) if today else None
        add_entries(entries, [{**entry, "start_date": started} if started else entry for entry in found], request,
                    mapped)
    if len(entries) > MAX_ITEMS:
        mapped.skip("medications", f"more than {MAX_ITEMS}", f"only the first {MAX_ITEMS} medications were read")
    return entries[:MAX_ITEMS]


def add_entries(entries, found, request, mapped):
    """Add a resource's medication entries that are not there yet, with the resource as their source."""
    for entry in found:
        if entry not in entries:
            entries.append(entry)
            mapped.sources.setdefault("medications", []).append(reference_of(request))


KINDS = ("observations", "conditions", "medications", "statements", "allergies")


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
    add_native_extras(context, kept, mapped, now)
    conditions = [item for item in kept["conditions"] if current(item)]
    pregnancy = pregnancy_section(kept["observations"], conditions, vocabulary, mapped, now)
    if pregnancy:
        context["pregnancy"] = pregnancy
    context["conditions"] = map_conditions(conditions, vocabulary, mapped)
    mapped.library = library_of(resources, mapped)
    context["medications"] = map_medications(kept["medications"] + kept["statements"], vocabulary, mapped,
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
