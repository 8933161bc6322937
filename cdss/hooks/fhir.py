"""FHIR R4 resources become the native patient context, in this one place.

Patient -> patient (sex, birth date); Observation by LOINC -> labs (the most recent final, amended or
corrected result per test, with its UCUM unit) and pregnancy (82810-3, gestational age); Condition
-> conditions (ICD-10-CM and SNOMED CT codings); MedicationRequest -> medications (RxNorm codings,
ingredient names). The result is loaded with `PatientContextSchema`, so units are converted and values
validated exactly as for the native API.
"""
import datetime as dt
import re
from dataclasses import dataclass, field

from marshmallow import ValidationError

from cdss.errors import flatten
from cdss.terminology.loinc import GESTATIONAL_AGE, LAB_CODES, PREGNANCY_ANSWERS, PREGNANCY_STATUS
from cdss.terminology.loinc import SYSTEMS as LOINC_SYSTEMS
from schemas.context import MAX_ITEMS, PatientContextSchema

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10CM = ("http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90")
SNOMED_SYSTEMS = (SNOMED, "urn:oid:2.16.840.1.113883.6.96")
RXNORM = ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88")

RESULT_STATUSES = ("final", "amended", "corrected")
ACTIVE_CLINICAL = ("active", "recurrence", "relapse")
REFUTED = ("refuted", "entered-in-error")
SEX = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
CODE_PATTERN = re.compile(r"^[A-Za-z0-9.]{1,20}$")


@dataclass
class Mapped:
    """A native patient context from FHIR, the resources behind it, and what could not be used."""

    context: dict
    sources: dict = field(default_factory=dict)  # "labs.ferritin" -> "Observation/abc"
    notes: list = field(default_factory=list)  # what was ignored, for the card (no patient data)


def codings(concept, systems):
    """Codes of a CodeableConcept in the given systems, in order."""
    return [coding["code"] for coding in (concept or {}).get("coding", [])
            if isinstance(coding, dict) and coding.get("system") in systems and isinstance(coding.get("code"), str)]


def reference_of(resource):
    """'Type/id' of a resource, for the reasoning's evidence."""
    return f"{resource.get('resourceType')}/{resource.get('id', '?')}"


def parse_when(value, latest=False):
    """A FHIR date/dateTime/instant as an aware datetime; partial dates take their first (or last) day."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 4:
            return dt.datetime(int(value), 12 if latest else 1, 31 if latest else 1, tzinfo=dt.timezone.utc)
        if len(value) == 7:
            year, month = int(value[:4]), int(value[5:7])
            day = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day if latest else 1
            return dt.datetime(year, month, day, tzinfo=dt.timezone.utc)
        if len(value) == 10:
            return dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def effective(observation):
    """When an observation was taken: effective[x], else issued."""
    period = observation.get("effectivePeriod") or {}
    for value in (observation.get("effectiveDateTime"), observation.get("effectiveInstant"),
                  period.get("start"), observation.get("issued")):
        when = parse_when(value)
        if when:
            return when
    return None


def belongs_to(resource, patient_id):
    """Whether a resource is about this patient (a resource naming another patient is never used)."""
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    if not patient_id or not isinstance(reference, str):
        return True
    return reference == f"Patient/{patient_id}" or reference.endswith(f"/Patient/{patient_id}")


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


def map_labs(observations, mapped):
    """The most recent usable result per test; results with a comparator or no quantity are skipped."""
    newest = {}
    for observation in observations:
        tests = [LAB_CODES[code] for code in codings(observation.get("code"), LOINC_SYSTEMS) if code in LAB_CODES]
        if not tests or observation.get("status") not in RESULT_STATUSES:
            continue
        quantity = observation.get("valueQuantity")
        if not isinstance(quantity, dict) or isinstance(quantity.get("value"), bool) \
                or not isinstance(quantity.get("value"), (int, float)):
            continue
        if quantity.get("comparator"):
            mapped.notes.append(f"a {tests[0]} result reported with a comparator ({quantity['comparator']}) was not used")
            continue
        unit = quantity.get("code") if quantity.get("system") == UCUM and quantity.get("code") else quantity.get("unit")
        if not isinstance(unit, str) or not unit.strip():
            mapped.notes.append(f"a {tests[0]} result without a unit was not used")
            continue
        when = effective(observation)
        current = newest.get(tests[0])
        if current is None or (when and (current[0] is None or when > current[0])):
            newest[tests[0]] = (when, quantity["value"], unit[:32], observation)
    labs = {}
    for test, (when, value, unit, observation) in newest.items():
        labs[test] = {"value": value, "unit": unit}
        if when:
            labs[test]["taken_at"] = when.isoformat()
        mapped.sources[f"labs.{test}"] = reference_of(observation)
    return labs


def latest(observations, codes):
    """The most recent final/amended/corrected observation with one of these LOINC codes, or None."""
    found = [obs for obs in observations if obs.get("status") in RESULT_STATUSES
             and set(codings(obs.get("code"), LOINC_SYSTEMS)) & set(codes)]
    return max(found, key=lambda obs: effective(obs) or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
               default=None)


def map_pregnancy(observations, mapped, now):
    """Pregnancy status (LOINC 82810-3) and the trimester from the gestational age, aged to today."""
    status_obs = latest(observations, (PREGNANCY_STATUS,))
    if status_obs is None:
        return None
    answers = [PREGNANCY_ANSWERS[code] for code in codings(status_obs.get("valueCodeableConcept"),
                                                             (*SNOMED_SYSTEMS, *LOINC_SYSTEMS)) if code in PREGNANCY_ANSWERS]
    if not answers:
        return None  # "unknown" or an answer this service does not know: as if not recorded
    section = {"status": answers[0]}
    mapped.sources["pregnancy"] = reference_of(status_obs)
    age_obs = latest(observations, GESTATIONAL_AGE)
    quantity = (age_obs or {}).get("valueQuantity") or {}
    unit = quantity.get("code") or quantity.get("unit")
    weeks = {"wk": 1, "d": 1 / 7}.get(unit)
    if section["status"] == "pregnant" and weeks and isinstance(quantity.get("value"), (int, float)):
        taken = effective(age_obs) or now
        current = quantity["value"] * weeks + (now - taken).days / 7  # gestational age grows by a week a week
        if 0 <= current <= 44:
            # ACOG: first trimester to 13 6/7 weeks, second to 27 6/7 weeks, third from 28 weeks.
            section["trimester"] = 1 if current < 14 else 2 if current < 28 else 3
            mapped.sources["pregnancy.trimester"] = reference_of(age_obs)
    return section


def pregnancy_condition_newer(conditions, vocabulary, section_when):
    """Whether an active coded pregnancy (Condition) was recorded after the pregnancy-status result."""
    for condition in conditions:
        if condition_name(condition, vocabulary) == "pregnancy":
            when = parse_when(condition.get("recordedDate")) or parse_when(condition.get("onsetDateTime"))
            if section_when is None or (when and when > section_when):
                return True
    return False


def status_code(concept):
    """The code of a status CodeableConcept (condition-clinical, condition-ver-status), or None."""
    for coding in (concept or {}).get("coding", []):
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return coding["code"]
    return None


def condition_entries(condition):
    """The {system, code} entries of a Condition's ICD-10-CM and SNOMED CT codings."""
    entries = [{"system": "icd-10-cm", "code": code} for code in codings(condition.get("code"), ICD10CM)]
    entries += [{"system": "snomed", "code": code} for code in codings(condition.get("code"), SNOMED_SYSTEMS)]
    return [entry for entry in entries if CODE_PATTERN.match(entry["code"])]


def condition_name(condition, vocabulary):
    """The vocabulary name of a Condition (the first coding the value sets know), or None."""
    for entry in condition_entries(condition):
        name = vocabulary.condition(entry)
        if name:
            return name
    return None


def current(condition):
    """Active (or recurrence/relapse), and neither refuted nor entered in error.

    A Condition without clinicalStatus is taken as active: the prefetch asked for active ones, and
    R4 requires clinicalStatus unless the condition is entered-in-error (checked separately)."""
    clinical = status_code(condition.get("clinicalStatus"))
    return (clinical is None or clinical in ACTIVE_CLINICAL) \
        and status_code(condition.get("verificationStatus")) not in REFUTED


def map_conditions(conditions, vocabulary, mapped):
    """One entry per current Condition: a coding the value sets recognise, else its first coding."""
    entries = []
    for condition in filter(current, conditions):
        candidates = condition_entries(condition)
        known = [entry for entry in candidates if vocabulary.condition(entry)]
        chosen = (known or candidates)[:1]
        for entry in chosen:
            if entry not in entries:
                entries.append(entry)
                if known:
                    mapped.sources.setdefault("conditions", []).append(reference_of(condition))
    entries.sort(key=lambda entry: vocabulary.condition(entry) is None)  # recognised first if truncated
    if len(entries) > MAX_ITEMS:
        mapped.notes.append(f"only the first {MAX_ITEMS} conditions were read")
    return entries[:MAX_ITEMS]


def medication_concept(request):
    """The medication CodeableConcept of a MedicationRequest (also through a contained Medication)."""
    if isinstance(request.get("medicationCodeableConcept"), dict):
        return request["medicationCodeableConcept"]
    reference = (request.get("medicationReference") or {})
    target = reference.get("reference", "")
    for contained in request.get("contained", []):
        if isinstance(contained, dict) and target == f"#{contained.get('id')}":
            return contained.get("code") or {}
    return {"text": reference["display"]} if isinstance(reference.get("display"), str) else {}


def ingredient_names(text, vocabulary):
    """Ingredient names (and brands) the vocabulary knows that occur as words in a drug's text."""
    lowered = text.lower()
    found = []
    for alias, ingredient in vocabulary.by_name.items():
        if re.search(rf"(?<![a-z]){re.escape(alias)}(?![a-z])", lowered) and ingredient.name not in found:
            found.append(ingredient.name)
    return found


def medication_entries(request, vocabulary):
    """Native medication entries of one MedicationRequest.

    A known ingredient RxNorm code is used as is; real orders carry clinical-drug (SCD/SBD) codes,
    so otherwise the ingredient names in the coding's display or text are matched as words."""
    concept = medication_concept(request)
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


def map_medications(requests, vocabulary, mapped, origin="medications"):
    """Medication entries of MedicationRequests, de-duplicated."""
    entries = []
    for request in requests:
        for entry in medication_entries(request, vocabulary):
            if entry not in entries:
                entries.append(entry)
                mapped.sources.setdefault(origin, []).append(reference_of(request))
    if len(entries) > MAX_ITEMS:
        mapped.notes.append(f"only the first {MAX_ITEMS} medications were read")
    return entries[:MAX_ITEMS]


def patient_context(resources, patient_id, vocabulary, now=None):
    """Map the FHIR resources of one patient to a native (not yet validated) patient context.

    resources: {"patient": Patient or None, "observations": [...], "conditions": [...], "medications": [...]}.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    mapped = Mapped({})
    kept = {}
    for kind in ("observations", "conditions", "medications"):
        items = [item for item in resources.get(kind) or [] if isinstance(item, dict)]
        kept[kind] = [item for item in items if belongs_to(item, patient_id)]
        if len(kept[kind]) < len(items):
            mapped.notes.append(f"{len(items) - len(kept[kind])} {kind} of another patient were ignored")
    context = mapped.context
    context["patient"] = map_patient(resources.get("patient"), patient_id, now.date())
    context["labs"] = map_labs(kept["observations"], mapped)
    pregnancy = map_pregnancy(kept["observations"], mapped, now)
    conditions = [item for item in kept["conditions"] if current(item)]
    if pregnancy and pregnancy["status"] != "pregnant" and pregnancy_condition_newer(
            conditions, vocabulary, effective(latest(kept["observations"], (PREGNANCY_STATUS,)))):
        pregnancy = {"status": "pregnant"}  # a pregnancy coded after the negative result wins
    if pregnancy:
        context["pregnancy"] = pregnancy
    context["conditions"] = map_conditions(conditions, vocabulary, mapped)
    context["medications"] = map_medications(
        [item for item in kept["medications"] if item.get("status", "active") == "active"], vocabulary, mapped)
    return mapped


def load_context(mapped):
    """Validate and convert the mapped context with the native schema.

    A value the schema refuses (an unknown unit, an impossible value) is dropped and named in the
    notes, so one bad result does not hide the rest; the context is never guessed at."""
    context = mapped.context
    for _ in range(5):
        try:
            return PatientContextSchema().load(context)
        except ValidationError as error:
            paths = flatten(error.messages)
            if not drop(context, paths, mapped):
                raise
    return PatientContextSchema().load(context)


def drop(context, paths, mapped):
    """Remove the sections named by validation errors; False when nothing could be removed."""
    removed = False
    for path in paths:
        parts = path.split(".")
        section = parts[0]
        if section == "labs" and len(parts) > 1 and parts[1] in context.get("labs", {}):
            del context["labs"][parts[1]]
            mapped.sources.pop(f"labs.{parts[1]}", None)
            mapped.notes.append(f"the {parts[1]} result could not be used ({'; '.join(paths[path])})")
            removed = True
        elif section == "patient" and len(parts) > 1 and parts[1] in context.get("patient", {}) and parts[1] != "id":
            del context["patient"][parts[1]]
            mapped.notes.append(f"the patient's {parts[1].replace('_', ' ')} could not be used")
            removed = True
        elif section == "pregnancy" and "pregnancy" in context:
            del context["pregnancy"]
            mapped.notes.append("the pregnancy status could not be used")
            removed = True
    return removed
