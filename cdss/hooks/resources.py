"""The FHIR R4 vocabulary of the mapping: code systems, statuses, and small readers shared by its parts."""
import datetime as dt
import re
from dataclasses import dataclass, field

# LOINC codes per test, pregnancy status and gestational age: the terminology module (both LOINC system URIs).
from cdss.terminology.loinc import GESTATIONAL_AGE, LAB_CODES, PREGNANCY_ANSWERS, PREGNANCY_STATUS  # noqa: F401
from cdss.terminology.loinc import SYSTEMS as LOINC_SYSTEMS

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10CM = ("http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90")
SNOMED_SYSTEMS = (SNOMED, "urn:oid:2.16.840.1.113883.6.96")
RXNORM = ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88")
RESULT_STATUSES = ("final", "amended", "corrected")
VOID_STATUSES = ("entered-in-error", "cancelled")  # withdrawn by the source: not data, nothing to say
ACTIVE_CLINICAL = ("active", "recurrence", "relapse")
REFUTED = ("refuted", "entered-in-error")
# condition-ver-status codes of a suspected diagnosis (provisional and differential are kinds of unconfirmed)
SUSPECTED = ("unconfirmed", "provisional", "differential")
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
    said: dict = field(default_factory=dict)  # section -> the notes of that section

    def skip(self, section, item, words):
        """Record something received but not usable: in words on the card and under `unrecognized`."""
        if words not in self.notes:
            self.notes.append(words)
            self.said.setdefault(section, []).append(words)
        if item not in self.unrecognized.setdefault(section, []):
            self.unrecognized[section].append(item)


# SNOMED CT by an edition or version URI ("http://snomed.info/sct/731000124108/version/20250301"): that is
# Coding.version's job in FHIR, but some systems send it as Coding.system; the codes are SNOMED CT codes.
SNOMED_EDITION = re.compile(r"^https?://snomed\.info/sct/\d+(/version/\d{8})?$")


def system_of(coding):
    """A coding's system as the mapping compares it: without surrounding blanks or a trailing slash, and SNOMED CT
    for an edition or version URI."""
    system = coding.get("system")
    if not isinstance(system, str):
        return None
    system = system.strip().rstrip("/")
    return SNOMED if SNOMED_EDITION.match(system) else system


def codings(concept, systems):
    """Codes of a CodeableConcept in the given systems, in order."""
    return [coding["code"].strip() for coding in (concept or {}).get("coding", [])
            if isinstance(coding, dict) and system_of(coding) in systems and isinstance(coding.get("code"), str)]


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


def latest(observations, codes):
    """The most recent final/amended/corrected observation with one of these LOINC codes, or None."""
    found = [obs for obs in observations if obs.get("status") in RESULT_STATUSES
             and set(codings(obs.get("code"), LOINC_SYSTEMS)) & set(codes)]
    return max(found, key=lambda obs: effective(obs) or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
               default=None)


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


def names_of(entry, vocabulary):
    """Every vocabulary name of one condition entry ({system, code} or {text}), implied names included."""
    if "text" in entry:
        return tuple(vocabulary.conditions_in_text(entry["text"])) if hasattr(vocabulary, "conditions_in_text") else ()
    if hasattr(vocabulary, "condition_names"):
        return tuple(vocabulary.condition_names(entry))
    name = vocabulary.condition(entry)
    return (name,) if name else ()


def condition_names(condition, vocabulary):
    """The vocabulary names of a Condition: of its codings, else of its text."""
    found = {name for entry in condition_entries(condition) for name in names_of(entry, vocabulary)}
    text = (condition.get("code") or {}).get("text")
    if not found and isinstance(text, str) and text.strip():
        found.update(names_of({"text": text}, vocabulary))
    return found
