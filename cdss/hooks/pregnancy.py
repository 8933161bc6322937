"""Pregnancy from FHIR: the pregnancy status Observation, the gestational age, and pregnancy or postpartum
Conditions (ICD-10-CM Z3A.xx gives the weeks, hence the trimester)."""
import datetime as dt
import re

from cdss.hooks.resources import (GESTATIONAL_AGE, ICD10CM, LOINC, PREGNANCY_ANSWERS, PREGNANCY_STATUS,
                                  SNOMED_SYSTEMS, codings, condition_names, effective, latest, parse_when,
                                  reference_of)
from cdss.hooks.values import UnusableValue, read_value

# Gestational age units (UCUM and the spellings EHRs send): factor to weeks.
WEEKS = {"wk": 1, "{week}": 1, "{weeks}": 1, "week": 1, "weeks": 1, "wks": 1,
         "d": 1 / 7, "{day}": 1 / 7, "{days}": 1 / 7, "day": 1 / 7, "days": 1 / 7}


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


def pregnancy_section(observations, conditions, vocabulary, mapped, now):
    """The pregnancy section: the newer of the pregnancy-status Observation and the pregnancy or
    postpartum Conditions (a pregnancy or a delivery coded after a status result wins)."""
    observed = map_pregnancy(observations, mapped, now)
    observed_when = effective(latest(observations, (PREGNANCY_STATUS,))) if observed else None
    coded, coded_when, reference = from_conditions(conditions, vocabulary, mapped, now)
    if coded is None:
        return observed
    newer = observed is None or (coded_when is not None and (observed_when is None or coded_when > observed_when))
    first, second = (coded, observed) if newer else (observed, coded)
    if second and first["status"] == second["status"] == "pregnant" and "trimester" not in first \
            and "trimester" in second:
        first["trimester"] = second["trimester"]
    if newer:
        mapped.sources["pregnancy"] = reference
    return first


def from_conditions(conditions, vocabulary, mapped, now):
    """(section, when, reference) from the newest pregnancy or postpartum Condition, or (None, None, None)."""
    found = []
    for condition in conditions:
        names = condition_names(condition, vocabulary)
        weeks = z3a_weeks(condition)
        if "postpartum" in names:
            section = {"status": "postpartum"}
            onset = parse_when(condition.get("onsetDateTime"))
            if onset and 0 <= (now - onset).days / 7 <= 520:
                section["weeks_postpartum"] = round((now - onset).days / 7, 1)  # onset of the puerperium: delivery
        elif "pregnancy" in names or weeks:
            section = {"status": "pregnant"}
        else:
            continue
        when = parse_when(condition.get("recordedDate")) or parse_when(condition.get("onsetDateTime"))
        found.append((when, section, reference_of(condition), weeks))
    if not found:
        return None, None, None
    oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    when, section, reference, _ = max(found, key=lambda item: item[0] or oldest)
    if section["status"] == "pregnant":
        dated = [(stamp, weeks, ref) for stamp, _, ref, weeks in found if weeks]
        if dated:
            stamp, weeks, ref = max(dated, key=lambda item: item[0] or oldest)
            trimester = z3a_trimester(weeks, stamp, now, ref, mapped)
            if trimester:
                section["trimester"] = trimester
                mapped.sources["pregnancy.trimester"] = ref
    return section, when, reference


def z3a_weeks(condition):
    """(low, high) weeks of gestation an ICD-10-CM Z3A.xx code states, or None (Z3A.00: unspecified)."""
    for code in codings(condition.get("code"), ICD10CM):
        match = re.fullmatch(r"Z3A\.?(\d\d)", code.upper())
        if match:
            weeks = int(match.group(1))
            if weeks == 1:
                return (0, 8)  # Z3A.01: less than 8 weeks
            if weeks == 49:
                return (42, 43)  # Z3A.49: greater than 42 weeks (a pregnancy rarely lasts past 43)
            if 8 <= weeks <= 42:
                return (weeks, weeks + 1)
    return None


def z3a_trimester(weeks, recorded, now, reference, mapped):
    """The trimester today from the weeks a Z3A code gave when it was recorded; None if it cannot be told."""
    if recorded is None:
        mapped.skip("pregnancy", f"{reference}: weeks of gestation without a date",
                    f"the weeks of gestation in {reference} have no date, so the trimester is not known")
        return None
    elapsed = (now - recorded).days / 7
    low, high = trimester_of(weeks[0] + elapsed), trimester_of(weeks[1] - 0.01 + elapsed)
    return low if low == high else None
