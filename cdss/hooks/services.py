"""The CDS services, declared as data; the discovery document is generated from these, never kept by hand.

Prefetch templates use only what CDS Hooks 2.0 allows (spec §Prefetch query restrictions): instance
reads, type searches by patient reference, token equality, `_count` and `_sort` (R4 syntax: `-date`).
A key marked required is data without which advice would be wrong (no labs would read as "ferritin
not recorded"; no problem list would hide hemochromatosis or RLS itself): when it cannot be had the
call is answered 412. Optional keys only narrow the advice, and a card says what was not checked.
"""
from dataclasses import dataclass

from cdss.hooks import advice
from cdss.hooks.allergies import BODY_WEIGHT
from cdss.hooks.resources import GESTATIONAL_AGE, LAB_CODES, PREGNANCY_STATUS

PATIENT = "{{context.patientId}}"


@dataclass(frozen=True)
class Prefetch:
    """One prefetch template: the FHIR query, whether advice needs it, and what it is for (for cards)."""

    query: str
    required: bool
    purpose: str


@dataclass(frozen=True)
class Service:
    """One CDS service: the hooks it answers, its discovery text, its prefetch, and its advice function."""

    id: str
    hooks: tuple
    title: str
    description: str
    usage: str
    prefetch: dict
    advise: object

    def templates(self):
        """Prefetch key -> FHIR query template."""
        return {key: item.query for key, item in self.prefetch.items()}


PATIENT_READ = Prefetch(f"Patient/{PATIENT}", True, "the patient's age and sex")
CONDITIONS = Prefetch(f"Condition?patient={PATIENT}&clinical-status=active,recurrence,relapse", True,
                      "the problem list")
LABS = Prefetch(f"Observation?patient={PATIENT}&code={','.join((*LAB_CODES, *BODY_WEIGHT))}&_sort=-date&_count=100",
                True, "iron studies, folate, hemoglobin and body weight")
PREGNANCY = Prefetch(f"Observation?patient={PATIENT}&code={','.join((PREGNANCY_STATUS, *GESTATIONAL_AGE))}"
                     "&_sort=-date&_count=20", False, "pregnancy status")
# `_include=MedicationRequest:medication` brings the Medication a request references (Epic and Oracle
# Health send medicationReference). It is beyond the query features CDS Hooks 2.0 asks every client to
# support: a client that cannot honour it omits the key or the Medications, and the service reads them.
# The statuses asked for are those medications.py reads or names (its STATUSES): active; on hold, intended or
# unknown (not counted as current, named on the cards); completed and stopped for one reason: IV iron given in
# the last 12 weeks makes the ferritin unusable (nothing else is read from them; a prefetch template cannot ask
# for "the last 12 weeks"). Draft, cancelled, entered-in-error and not-taken ones are not asked for.
MEDICATIONS = Prefetch(f"MedicationRequest?patient={PATIENT}&status=active,on-hold,unknown,completed,stopped"
                       "&_include=MedicationRequest:medication", False, "active medications and recent IV iron")
ALLERGIES = Prefetch(f"AllergyIntolerance?patient={PATIENT}&clinical-status=active", False, "allergies")
STATEMENTS = Prefetch(f"MedicationStatement?patient={PATIENT}&status=active,intended,on-hold,unknown,completed,stopped",
                      False, "medications the patient reports taking and recent IV iron")
# Where infusion centres record IV iron doses: read for IV iron only (given in part too: stopped, on hold). The
# Medications they reference come with `_include`, as for MedicationRequest.
ADMINISTRATIONS = Prefetch(f"MedicationAdministration?patient={PATIENT}&status=in-progress,completed,stopped,on-hold,"
                           "unknown&_include=MedicationAdministration:medication", False,
                           "IV iron given in the last 12 weeks (administrations)")

RLS_CODES = "ICD-10-CM G25.81 or SNOMED CT 32914008"

# order-select and order-sign share the advice; each hook has its own service id (one URL, one hook).
MEDICATION_SAFETY = dict(
    title="Restless legs syndrome: medications that worsen it",
    description="Warns when a draft medication order (dopamine-antagonist antiemetics, antipsychotics, "
                "sedating antihistamines, serotonergic antidepressants, lithium and others) can worsen "
                "restless legs syndrome, with the evidence and safer alternatives.",
    usage=f"Cards only for patients with restless legs syndrome on the problem list ({RLS_CODES}), "
          "for draft MedicationRequests (order-select: the selected ones). Needs the problem list, "
          "prefetched or readable on fhirServer.",
    prefetch={"patient": Prefetch(PATIENT_READ.query, False, PATIENT_READ.purpose), "conditions": CONDITIONS},
    advise=advice.medication_safety_advice)

SERVICES = {service.id: service for service in (
    Service(
        id="rls-iron",
        hooks=("patient-view",),
        title="Restless legs syndrome: classification and iron",
        description="For a patient with restless legs syndrome: primary or secondary RLS, iron studies "
                    "to order, oral or IV iron by the AASM 2025 and IRLSSG thresholds (adults, children, "
                    "pregnancy, dialysis), folate, and medications that can worsen RLS.",
        usage=f"Cards only for patients with restless legs syndrome on the problem list ({RLS_CODES}). "
              "Needs the patient, the problem list and recent iron studies, prefetched or readable on "
              "fhirServer; without them the call is answered 412.",
        prefetch={"patient": PATIENT_READ, "labs": LABS, "pregnancy": PREGNANCY, "conditions": CONDITIONS,
                  "medications": MEDICATIONS, "statements": STATEMENTS, "administrations": ADMINISTRATIONS,
                  "allergies": ALLERGIES},
        advise=advice.iron_advice),
    Service(
        id="rls-medication-safety",
        # order-sign is still answered here for integrations registered before it had its own id.
        hooks=("order-select", "order-sign"),
        **MEDICATION_SAFETY),
    Service(
        id="rls-medication-safety-sign",
        hooks=("order-sign",),
        **MEDICATION_SAFETY),
)}


def discovery():
    """The discovery document (spec §Discovery): one entry per service, each id invoked on one hook (its
    first; further hooks are answered only for integrations registered before they had ids of their own)."""
    return {"services": [
        {"hook": service.hooks[0], "title": service.title, "description": service.description, "id": service.id,
         "prefetch": service.templates(), "usageRequirements": service.usage}
        for service in SERVICES.values()]}
