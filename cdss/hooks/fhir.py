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
from cdss.hooks.shapes import MalformedResource, check_resource
from cdss.hooks.values import UnusableValue, read_value, undecided_threshold
from cdss.units import TESTS, UnitError
from schemas.context import MAX_ITEMS, PatientContextSchema

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10CM = ("http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90")
SNOMED_SYSTEMS = (SNOMED, "urn:oid:2.16.840.1.113883.6.96")
RXNORM = ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88")

# LOINC codes per test (shared/reference/cds-hooks-notes.md section 3: verified or corroborated only).
LAB_CODES = {"2276-4": "ferritin", "20567-4": "ferritin", "2502-3": "tsat", "2284-8": "folate",
             "14732-2": "folate", "718-7": "hemoglobin", "2498-4": "serum_iron", "14798-3": "serum_iron",
             "2500-7": "tibc"}
PREGNANCY_STATUS = "82810-3"
GESTATIONAL_AGE = ("11884-4", "49051-6", "18185-9")
# US Core pregnancy status answers (SNOMED CT) and the IPS LOINC answer list.
PREGNANCY_ANSWERS = {"77386006": "pregnant", "60001007": "not_pregnant",
                     "LA15173-0": "pregnant", "LA26683-5": "not_pregnant"}
RESULT_STATUSES = ("final", "amended", "corrected")
VOID_STATUSES = ("entered-in-error", "cancelled")  # withdrawn by the source: not data, nothing to say
LABELS = {"ferritin": "ferritin", "tsat": "transferrin saturation", "folate": "folate", "hemoglobin": "hemoglobin",
          "serum_iron": "serum iron", "tibc": "TIBC"}
# Gestational age units (UCUM and the spellings EHRs send): factor to weeks.
WEEKS = {"wk": 1, "{week}": 1, "{weeks}": 1, "week": 1, "weeks": 1, "wks": 1,
         "d": 1 / 7, "{day}": 1 / 7, "{days}": 1 / 7, "day": 1 / 7, "days": 1 / 7}
ACTIVE_CLINICAL = ("active", "recurrence", "relapse")
REFUTED = ("refuted", "entered-in-error")
SEX = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
CODE_PATTERN = re.compile(r"^[A-Za-z0-9.]{1,20}$")


@dataclass
class Mapped:
    """A native patient context from FHIR, the resources behind it, and what could not be used."""

    context: dict
    sources: dict = field(default_factory=dict)  # "labs.ferritin" -> "Observation/abc"
    notes: list = field(default_factory=list)  # what was received but not used, in words, for the card
    unrecognized: dict = field(default_factory=dict)  # "resources"/"labs"/... -> ["Observation/x: reason"]
    remarks: list = field(default_factory=list)  # how a reported value was read (a censored value used)
    withheld: list = field(default_factory=list)  # tests on record that could not be used (never "not recorded")
    library: dict = field(default_factory=dict)  # external Medications by "Medication/id"
    unresolved_drafts: list = field(default_factory=list)  # draft orders whose drug could not be identified

    def skip(self, section, item, words):
        """Record something received but not usable: in words on the card and under `unrecognized`."""
        if words not in self.notes:
            self.notes.append(words)
        if item not in self.unrecognized.setdefault(section, []):
            self.unrecognized[section].append(item)


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


def lab_tests(observation):
    """The tests this service reads that an Observation's LOINC codings name."""
    return [LAB_CODES[code] for code in codings(observation.get("code"), (LOINC,)) if code in LAB_CODES]


def readings(observations, mapped):
    """{test: (when, Reading, observation)}: the most recent final/amended/corrected result per test.

    Every result that cannot be read is named; when the most recent one is among them, the test is
    "could not be checked" (an older result would pass for the current one)."""
    newest = {}
    for observation in observations:
        tests = lab_tests(observation)
        if not tests:
            continue
        if observation.get("status") not in RESULT_STATUSES:
            if observation.get("status") not in VOID_STATUSES:
                reference, status = reference_of(observation), str(observation.get("status"))[:20]
                mapped.skip("labs", f"{reference}: status {status}", f"a {LABELS[tests[0]]} result that is not "
                            f"final ({reference}, status {status}) was not used")
            continue
        try:
            reading = read_value(observation)
            if reading is None or reading.unit is None:
                raise UnusableValue("has no value" if reading is None else "has no unit")
        except UnusableValue as error:
            reading = error
        when = effective(observation)
        current = newest.get(tests[0])
        if current is None or (when and (current[0] is None or when > current[0])):
            newest[tests[0]] = (when, reading, observation)
        if isinstance(reading, UnusableValue):
            reference = reference_of(observation)
            mapped.skip("labs", f"{reference}: {reading}",
                        f"the {LABELS[tests[0]]} result {reference} could not be read: {reading}")
    for test, (_, reading, _) in list(newest.items()):
        if isinstance(reading, UnusableValue):
            del newest[test]
            mapped.withheld.append(test)
    return newest


def map_labs(observations, mapped, thresholds):
    """The most recent usable result per test; a censored one only where every rule decides the same."""
    labs = {}
    newest = readings(observations, mapped)
    for test, (when, reading, observation) in newest.items():
        if reading.comparator and not censored_usable(test, reading, observation, thresholds, newest, mapped):
            continue
        labs[test] = {"value": reading.value, "unit": reading.unit}
        if when:
            labs[test]["taken_at"] = when.isoformat()
        mapped.sources[f"labs.{test}"] = reference_of(observation)
    return labs


def censored_usable(test, reading, observation, thresholds, newest, mapped):
    """Whether a censored result can be given to the rules as its bound; if not, it is said why."""
    reference, label = reference_of(observation), LABELS[test]
    if test in ("serum_iron", "tibc") and ("tsat" not in newest or newest["tsat"][1].comparator):
        reason = "TSAT cannot be calculated from a censored value"
    elif thresholds is None:
        reason = "the rules' thresholds were not available to place it"
    else:
        try:
            threshold = undecided_threshold(test, reading, thresholds)
        except (UnitError, UnusableValue) as error:
            threshold, reason = None, str(error)
        else:
            reason = None if threshold is None else \
                f"it lies on both sides of the rules' threshold of {threshold:g} {TESTS[test].canonical}"
    if reason:
        mapped.skip("labs", f"{reference}: censored {reading.shown()}",
                    f"the {label} result {reading.shown()} ({reference}) could not be checked: {reason}")
        mapped.withheld.append(test)
        return False
    mapped.remarks.append(f"{label} was reported as {reading.shown()}; every threshold the rules use decides the "
                          f"same for any such value, so {reading.value:g} {reading.unit} was used")
    return True


def latest(observations, codes):
    """The most recent final/amended/corrected observation with one of these LOINC codes, or None."""
    found = [obs for obs in observations if obs.get("status") in RESULT_STATUSES
             and set(codings(obs.get("code"), (LOINC,))) & set(codes)]
    return max(found, key=lambda obs: effective(obs) or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
               default=None)


def map_pregnancy(observations, mapped, now):
    """Pregnancy status (LOINC 82810-3) and the trimester from the gestational age, aged to today."""
    status_obs = latest(observations, (PREGNANCY_STATUS,))
    if status_obs is None:
        return None
    answers = [PREGNANCY_ANSWERS[code] for code in codings(status_obs.get("valueCodeableConcept"),
                                                             (*SNOMED_SYSTEMS, LOINC)) if code in PREGNANCY_ANSWERS]
    if not answers:
        if status_obs.get("valueCodeableConcept") or status_obs.get("valueString"):
            mapped.skip("pregnancy", f"{reference_of(status_obs)}: answer not recognised",
                        f"the pregnancy status answer of {reference_of(status_obs)} is not one this service knows")
        return None  # "unknown" or an unknown answer: as if not recorded, and said
    section = {"status": answers[0]}
    mapped.sources["pregnancy"] = reference_of(status_obs)
    if section["status"] == "pregnant":
        trimester = gestational_trimester(latest(observations, GESTATIONAL_AGE), mapped, now)
        if trimester:
            section["trimester"] = trimester
    return section


def gestational_trimester(age_obs, mapped, now):
    """The trimester from a gestational age observation (weeks or days), aged to today; None if unknown."""
    if age_obs is None:
        return None
    reference = reference_of(age_obs)
    try:
        reading = read_value(age_obs)
    except UnusableValue as error:
        mapped.skip("pregnancy", f"{reference}: {error}", f"the gestational age {reference} could not be read: {error}")
        return None
    factor = WEEKS.get((reading.unit or "").lower()) if reading else None
    if reading is None or factor is None or reading.comparator:
        mapped.skip("pregnancy", f"{reference}: gestational age not read",
                    f"the gestational age {reference} has no value in weeks or days, so the trimester is not known")
        return None
    taken = effective(age_obs) or now
    weeks = reading.value * factor + (now - taken).days / 7  # gestational age grows by a week a week
    found = trimester_of(weeks)
    if found is None:
        mapped.skip("pregnancy", f"{reference}: implausible gestational age",
                    f"the gestational age {reference} gives {weeks:.0f} weeks today, which is not a current pregnancy")
        return None
    mapped.sources["pregnancy.trimester"] = reference
    return found


def trimester_of(weeks):
    """ACOG: first trimester to 13 6/7 weeks, second to 27 6/7 weeks, third from 28 weeks (None past 44)."""
    if not 0 <= weeks <= 44:
        return None
    return 1 if weeks < 14 else 2 if weeks < 28 else 3


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
    pregnancy = map_pregnancy(kept["observations"], mapped, now)
    conditions = [item for item in kept["conditions"] if current(item)]
    if pregnancy and pregnancy["status"] != "pregnant" and pregnancy_condition_newer(
            conditions, vocabulary, effective(latest(kept["observations"], (PREGNANCY_STATUS,)))):
        pregnancy = {"status": "pregnant"}  # a pregnancy coded after the negative result wins
    if pregnancy:
        context["pregnancy"] = pregnancy
    context["conditions"] = map_conditions(conditions, vocabulary, mapped)
    mapped.library = library_of(resources, mapped)
    context["medications"] = map_medications(kept["medications"] + kept["statements"], vocabulary, mapped,
                                             mapped.library)
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
