"""Laboratory Observations become lab results: the most recent readable result per test, censored ones placed."""
from cdss.hooks.resources import LAB_CODES, LOINC, RESULT_STATUSES, VOID_STATUSES, codings, effective, reference_of
from cdss.hooks.values import UnusableValue, read_value, undecided_threshold
from cdss.units import TESTS, UnitError

LABELS = {"ferritin": "ferritin", "tsat": "transferrin saturation", "folate": "folate", "hemoglobin": "hemoglobin",
          "serum_iron": "serum iron", "tibc": "TIBC"}


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
