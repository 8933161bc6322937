"""The shape of each FHIR resource the service reads, checked before it is read.

FHIR data from a real EHR can be of the wrong shape (a DSTU2 `clinicalStatus` string where R4 has a
CodeableConcept, a list where an object belongs, a 401-digit number). Such a resource is dropped and
named on the "could not be checked" card; the rest of the call goes on. Only the elements this
service reads are checked: the service is not a FHIR validator.
"""

CONCEPTS = {
    "Observation": ("code", "valueCodeableConcept"),
    "Condition": ("code", "clinicalStatus", "verificationStatus"),
    "MedicationRequest": ("medicationCodeableConcept",),
    "MedicationStatement": ("medicationCodeableConcept",),
    "MedicationAdministration": ("medicationCodeableConcept",),
    "Medication": ("code",),
    "AllergyIntolerance": ("code", "clinicalStatus", "verificationStatus"),
}
STRINGS = ("id", "status", "gender", "birthDate", "effectiveDateTime", "effectiveInstant", "issued", "valueString",
           "recordedDate", "onsetDateTime", "authoredOn", "dateAsserted", "abatementDateTime")
OBJECTS = ("subject", "patient", "effectivePeriod", "valueQuantity", "onsetPeriod", "medicationReference",
           "onsetAge")
LISTS = ("contained", "referenceRange", "reaction", "category")
CODED = {"Observation": "code"}  # elements without which a resource cannot be recognised at all


class MalformedResource(ValueError):
    """A resource whose shape this service cannot read; the message names the element."""


def check_concept(concept, where):
    """A CodeableConcept: an object with a list of Coding objects of strings, and a text string."""
    if not isinstance(concept, dict):
        raise MalformedResource(f"{where} is not a CodeableConcept")
    codings = concept.get("coding", [])
    if not isinstance(codings, list) or not all(isinstance(coding, dict) for coding in codings):
        raise MalformedResource(f"{where}.coding is not a list of Codings")
    for coding in codings:
        for name in ("system", "code", "display"):
            if name in coding and not isinstance(coding[name], str):
                raise MalformedResource(f"{where}.coding.{name} is not a string")
    if "text" in concept and not isinstance(concept["text"], str):
        raise MalformedResource(f"{where}.text is not a string")


def check_resource(resource):
    """Raise MalformedResource when an element this service reads has the wrong shape."""
    kind = resource.get("resourceType")
    for name in STRINGS:
        if name in resource and not isinstance(resource[name], str):
            raise MalformedResource(f"{name} is not a string")
    for name in OBJECTS:
        if name in resource and not isinstance(resource[name], dict):
            raise MalformedResource(f"{name} is not an object")
    for name in LISTS:
        if name in resource and not isinstance(resource[name], list):
            raise MalformedResource(f"{name} is not a list")
    for name in CONCEPTS.get(kind, ()):
        if name in resource:
            check_concept(resource[name], name)
    if CODED.get(kind) and CODED[kind] not in resource:
        raise MalformedResource(f"it has no {CODED[kind]}")
    for name in ("subject", "patient", "medicationReference"):
        if name in resource and not isinstance(resource[name].get("reference", ""), str):
            raise MalformedResource(f"{name}.reference is not a string")
    for item in resource.get("contained", []):
        if not isinstance(item, dict):
            raise MalformedResource("contained holds something that is not a resource")
        if item.get("resourceType") == "Medication":
            check_resource(item)
