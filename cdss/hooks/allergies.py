"""AllergyIntolerance, body weight and medication start dates: the native `allergies`, `patient.weight_kg`
and `medications[].start_date` (IV iron dosing and hypersensitivity, oral iron duration).

Each is mapped only when the native schema has the field, so this module lands before or after it.
"""
from cdss.hooks.resources import RXNORM, codings, latest, parse_when, reference_of, status_code
from cdss.hooks.values import UnusableValue, read_value
from schemas.context import MedicationSchema, PatientContextSchema, PatientSchema

BODY_WEIGHT = ("29463-7", "3141-9")  # Body weight; Body weight Measured
KILOGRAMS = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237}
SEVERITIES = ("mild", "moderate", "severe")
NOT_CURRENT = ("inactive", "resolved")
NOT_TRUE = ("refuted", "entered-in-error")


def supported(field):
    """Whether the native context has a field: 'allergies', 'as_of', 'weight_kg', 'start_date'."""
    return field in PatientContextSchema().fields or field in PatientSchema().fields \
        or field in MedicationSchema().fields


def map_allergies(allergies, mapped):
    """One native allergy per current AllergyIntolerance: its RxNorm code or its substance's name."""
    found = []
    for allergy in allergies:
        if status_code(allergy.get("clinicalStatus")) in NOT_CURRENT \
                or status_code(allergy.get("verificationStatus")) in NOT_TRUE:
            continue
        entry = substance(allergy)
        if entry is None:
            mapped.skip("allergies", f"{reference_of(allergy)}: no substance",
                        f"the allergy {reference_of(allergy)} names no substance the service can read")
            continue
        reaction = first_reaction(allergy)
        entry.update(reaction)
        if entry not in found:
            found.append(entry)
            mapped.sources.setdefault("allergies", []).append(reference_of(allergy))
    return found[:100]


def substance(allergy):
    """{rxnorm} or {name} of an allergy's substance, or None."""
    concept = allergy.get("code") or {}
    codes = [code for code in codings(concept, RXNORM) if code.isdigit() and len(code) <= 10]
    if codes:
        return {"rxnorm": codes[0]}
    names = [concept.get("text"), *(coding.get("display") for coding in concept.get("coding", []))]
    name = next((item.strip() for item in names if isinstance(item, str) and item.strip()), None)
    return {"name": name[:200]} if name else None


def first_reaction(allergy):
    """The reaction (manifestation words) and severity of the first reaction, when given."""
    reactions = [item for item in allergy.get("reaction") or [] if isinstance(item, dict)]
    if not reactions:
        return {}
    found = {}
    severity = reactions[0].get("severity")
    if severity in SEVERITIES:
        found["severity"] = severity
    words = [(item.get("text") or next((coding.get("display") for coding in item.get("coding", [])
                                        if isinstance(coding, dict) and isinstance(coding.get("display"), str)), None))
             for item in reactions[0].get("manifestation") or [] if isinstance(item, dict)]
    words = [word for word in words if isinstance(word, str) and word.strip()]
    if words:
        found["reaction"] = ", ".join(words)[:200]
    return found


def body_weight(observations, mapped):
    """The most recent body weight in kg (LOINC 29463-7), or None; an unreadable one is said."""
    observation = latest(observations, BODY_WEIGHT)
    if observation is None:
        return None
    try:
        reading = read_value(observation)
        factor = KILOGRAMS.get((reading.unit or "").strip()) if reading else None
        if reading is None or factor is None or reading.comparator or not 0 < reading.value * factor <= 400:
            raise UnusableValue("is not a weight in kg, g or lb")
    except UnusableValue as error:
        mapped.skip("resources", f"{reference_of(observation)}: {error}",
                    f"the body weight {reference_of(observation)} could not be read: {error}")
        return None
    mapped.sources["patient.weight_kg"] = reference_of(observation)
    return round(reading.value * factor, 1)


def start_date(request, today):
    """When a medication was started: MedicationStatement effective[x] start, else MedicationRequest authoredOn."""
    period = request.get("effectivePeriod") or {}
    for value in (period.get("start"), request.get("effectiveDateTime"), request.get("authoredOn")):
        when = parse_when(value)
        if when and when.date() <= today:
            return when.date().isoformat()
    return None


def last_given(request, today):
    """When a finished (completed or stopped) medication was last given, as well as the resource says: the end of
    MedicationStatement.effectivePeriod, effectiveDateTime, the period's start, else MedicationRequest.authoredOn."""
    period = request.get("effectivePeriod") or {}
    for value, latest in ((period.get("end"), True), (request.get("effectiveDateTime"), False),
                          (period.get("start"), False), (request.get("authoredOn"), False)):
        when = parse_when(value, latest)
        if when and when.date() <= today:
            return when.date()
    return None

