"""One hook call, start to finish: prefetch (or FHIR), the native context, the service's advice."""
import datetime as dt
import uuid
from urllib.parse import urlsplit

from cdss.hooks.advice import Call
from cdss.hooks.errors import PrefetchUnavailableError
from cdss.hooks.fhir import external_medications, patient_context
from cdss.hooks.prefetch import FhirClient, FhirError, read_all, resolve
from cdss.hooks.values import lab_thresholds

KINDS = {"Observation": "observations", "Condition": "conditions", "MedicationRequest": "medications",
         "MedicationStatement": "statements", "MedicationAdministration": "administrations",
         "Medication": "medication_resources", "AllergyIntolerance": "allergies"}
THRESHOLDS = {}  # ruleset digest -> lab thresholds (worked out once per loaded ruleset)


class RefusedFhirServer(FhirClient):
    """A `fhirServer` the calling issuer is not configured for: never contacted, so its token goes nowhere."""

    def get(self, url, missing_ok=False):
        raise FhirError("fhirServer is not one of the FHIR servers configured for this CDS client; not contacted")


def fhir_base(url):
    """A FHIR base URL compared as written, but for the case of scheme and host and a trailing slash."""
    parts = urlsplit(url.strip())
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query)


def fhir_client(request, config, session=None, fhir_servers=None):
    """A client for the caller's FHIR server with its access token, or None without `fhirServer`.

    `fhir_servers`: the FHIR base URLs the calling issuer may name (CDSS_TRUSTED_ISSUERS[iss].fhir_servers);
    None only when authentication is off (development). Any other server would receive the access token
    (a token leak and a way to make this service fetch any URL)."""
    if "fhirServer" not in request:
        return None
    token = (request.get("fhirAuthorization") or {}).get("access_token")
    allowed = fhir_servers is None or fhir_base(request["fhirServer"]) in {fhir_base(url) for url in fhir_servers}
    kind = FhirClient if allowed else RefusedFhirServer
    return kind(request["fhirServer"], token if allowed else None,
                (config["FHIR_CONNECT_TIMEOUT"], config["FHIR_READ_TIMEOUT"]), config["FHIR_MAX_PAGES"], session)


def gather(data):
    """Resolved prefetch values grouped by kind: the Patient, then lists of each resource type."""
    resources = {"patient": None, **{kind: [] for kind in KINDS.values()}}
    seen = set()
    for value in data.values():
        for resource in value if isinstance(value, list) else [value] if value else []:
            kind = resource.get("resourceType")
            key = (kind, resource.get("id")) if resource.get("id") else None
            if key in seen:
                continue
            if key:
                seen.add(key)
            if kind == "Patient" and resources["patient"] is None:
                resources["patient"] = resource
            elif kind in KINDS:
                resources[KINDS[kind]].append(resource)
    return resources


def thresholds_of(knowledge):
    """The numeric thresholds the loaded rules compare each lab against (for censored results)."""
    if knowledge.digest not in THRESHOLDS:
        THRESHOLDS[knowledge.digest] = lab_thresholds(knowledge)
    return THRESHOLDS[knowledge.digest]


def invoke(service, request, evaluator, config, now=None, new_id=None, session=None, fhir_servers=None):
    """Resolve the data, map it, and ask the service for its advice; 412 when required data is missing."""
    now = now or dt.datetime.now(dt.timezone.utc)
    new_id = new_id or (lambda: str(uuid.uuid4()))
    context = request["context"]
    client = fhir_client(request, config, session, fhir_servers)  # the one client: every read goes through it
    prefetched = resolve(service.templates(), context, request.get("prefetch") or {}, client)
    required = {key: reason for key, reason in prefetched.unavailable.items() if service.prefetch[key].required}
    if required:
        raise PrefetchUnavailableError(
            "data this service needs could not be obtained",
            {f"prefetch.{key}": [reason] for key, reason in required.items()})
    unavailable = tuple(f"{service.prefetch[key].purpose} ({reason})" for key, reason in prefetched.unavailable.items())
    resources = gather(prefetched.data)
    if "patient" in prefetched.data and prefetched.data["patient"] is None:
        resources["patient_missing"] = True  # prefetched as null, or 404 on the FHIR server: said on the card
    if client is not None:
        drafts = ((context.get("draftOrders") or {}).get("entry")) or []
        wanted = external_medications(resources, [entry.get("resource") for entry in drafts], now.date())
        resources["medication_resources"] += [item for item in read_all(client, wanted).values()
                                              if item and item.get("resourceType") == "Medication"]
    mapped = patient_context(resources, context["patientId"], evaluator.vocabulary, now,
                             thresholds_of(evaluator.knowledge))
    call = Call(service.id, request["hook"], context, mapped, unavailable, now, new_id)
    return service.advise(call, evaluator)
