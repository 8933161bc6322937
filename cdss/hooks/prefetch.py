"""Prefetch resolution (spec §Providing FHIR Resources to a CDS Service), with the FHIR server as fallback.

For each prefetch key of a service:
- present with a resource: used (a searchset Bundle's `next` pages are followed on the FHIR server);
- present and `null`: the client has no such data; nothing is fetched;
- present with an OperationOutcome: the client tried and failed; it is not fetched again (the spec
  says the OperationOutcome is there to spare the service a follow-up query) and counts as missing;
- omitted: fetched from `fhirServer` with `fhirAuthorization.access_token`.
When a required key cannot be had the service SHALL answer 412 (spec §Prefetch Template).
The access token is never logged and never sent anywhere but the client's own FHIR server.
"""
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import requests

from cdss.serving import give_way

log = logging.getLogger(__name__)

TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PARALLEL_READS = 8  # reads of one call in flight at once (a service has at most a handful of keys)
USER_TOKENS = {"userPractitionerId": "Practitioner", "userPractitionerRoleId": "PractitionerRole",
               "userPatientId": "Patient", "userRelatedPersonId": "RelatedPerson"}


class FhirError(Exception):
    """The FHIR server did not give usable data (status, timeout, malformed body, foreign link)."""


@dataclass
class Prefetched:
    """The resolved data of one call: key -> resource or None, and the keys that could not be had."""

    data: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)  # key -> short reason (no patient data)


def render(template, context):
    """Replace the prefetch tokens of a template with values from the hook context (URL-quoted)."""
    def value(match):
        name = match.group(1)
        if name.startswith("context."):
            found = context.get(name[len("context."):])
        elif name in USER_TOKENS:
            kind, _, ident = str(context.get("userId", "")).partition("/")
            found = ident if kind == USER_TOKENS[name] else None
        else:
            found = None
        if not isinstance(found, str) or not found:
            raise FhirError(f"prefetch token {name} has no value in the context")
        return quote(found, safe="")
    return TOKEN.sub(value, template)


class FhirClient:
    """Reads from the CDS client's FHIR server: bounded time, bounded size, same-origin paging only."""

    def __init__(self, base, access_token=None, timeout=(3.05, 10.0), max_pages=10, session=None):
        self.base = base.rstrip("/")
        self.headers = {"Accept": "application/fhir+json, application/json"}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"
        self.timeout = timeout
        self.max_pages = max_pages
        self.session = session or requests

    def read(self, relative):
        """GET a relative FHIR URL; a read that finds nothing (404/410) is None."""
        return self.get(f"{self.base}/{relative.lstrip('/')}", missing_ok=True)

    def get(self, url, missing_ok=False):
        """GET one URL on this server and return its JSON object."""
        if not self.owns(url):
            raise FhirError("a link points outside the FHIR server")  # never send the token elsewhere
        try:
            response = self.session.get(url, headers=self.headers, timeout=self.timeout, stream=True)
        except requests.Timeout:
            raise FhirError("the FHIR server timed out") from None
        except requests.RequestException as error:
            raise FhirError(f"the FHIR server could not be reached ({type(error).__name__})") from None
        with response:
            if missing_ok and response.status_code in (404, 410):
                return None
            if response.status_code != 200:
                raise FhirError(f"the FHIR server answered {response.status_code}")
            body = bytearray()
            try:
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise FhirError("the FHIR server's answer is too large")
            except requests.RequestException as error:
                raise FhirError(f"the FHIR server's answer was cut off ({type(error).__name__})") from None
        give_way(background=True)  # the call's CPU work resumes when native requests have had their turn (cdss/serving.py)
        try:
            resource = json.loads(bytes(body))
        except (ValueError, RecursionError):
            raise FhirError("the FHIR server's answer is not valid JSON") from None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirError("the FHIR server's answer is not a FHIR resource")
        return resource

    def owns(self, url):
        """Whether a URL lies on this FHIR server (same scheme, host, port and base path)."""
        base, target = urlsplit(self.base), urlsplit(url)
        return (target.scheme, target.netloc) == (base.scheme, base.netloc) \
            and (target.path + "/").startswith(base.path.rstrip("/") + "/")

    def follow(self, bundle):
        """All entries of a searchset Bundle, following `next` links up to max_pages pages."""
        entries = list(bundle.get("entry") or [])
        pages = 1
        while (link := next_link(bundle)) is not None:
            if pages >= self.max_pages:
                log.info("prefetch paging stopped after %d pages", pages)
                break
            bundle = self.get(link)
            if bundle.get("resourceType") != "Bundle":
                raise FhirError("a next page is not a Bundle")
            entries += bundle.get("entry") or []
            pages += 1
        return entries


def next_link(bundle):
    """The URL of a Bundle's `next` page, or None."""
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def expected_type(query):
    """The resource type a prefetch query returns: the type of a read, Bundle for a search."""
    path = query.split("?", 1)[0]
    return "Bundle" if "?" in query or "/" not in path else path.split("/", 1)[0]


def resources_of(value, client):
    """The resources a prefetch value holds: the resource of a read, the entries of a search."""
    if value is None:
        return None
    if value.get("resourceType") != "Bundle":
        return value
    entries = client.follow(value) if client and next_link(value) else value.get("entry") or []
    if next_link(value) and client is None:
        raise FhirError("the prefetched Bundle has more pages and there is no FHIR server to read them")
    return [entry["resource"] for entry in entries if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
            and (entry.get("search") or {}).get("mode") != "outcome"]


def answers(query, context, value):
    """Whether a prefetched read is the resource the template names (a search is checked per entry)."""
    if value.get("resourceType") == "Bundle":
        return True
    try:
        wanted_id = render(query, context).split("?", 1)[0].rsplit("/", 1)[-1]
    except FhirError:
        return False
    return value.get("id") in (None, wanted_id)


def mismatch(query, context, value, wanted):
    """Why a prefetched value does not answer its template, in words (for the 412 message)."""
    kind = value.get("resourceType")
    if kind != wanted:
        return f"the prefetched value is a {str(kind)[:40]}, not a {wanted}"
    wanted_id = render(query, context).split("?", 1)[0].rsplit("/", 1)[-1]
    token = "context.patientId" if "{{context.patientId}}" in query.replace(" ", "") else "the context"
    return f"the prefetched {kind}'s id ({str(value.get('id'))[:64]}) is not {token} ({wanted_id})"


def resolve(templates, context, prefetch, client):
    """Resolve every prefetch key of a service: prefetched, fetched, or unavailable with a reason.

    The keys that need the FHIR server are read concurrently, so a call costs about one read's time,
    not the sum (the spec asks for an answer "on the order of 500 ms")."""
    result = Prefetched()

    def one(key):
        try:
            return resolve_key(key, templates[key], context, prefetch, client), None
        except FhirError as error:
            return None, str(error)

    if client is not None and len(templates) > 1:
        with ThreadPoolExecutor(max_workers=min(len(templates), MAX_PARALLEL_READS)) as pool:
            outcomes = dict(zip(templates, pool.map(one, templates)))
    else:
        outcomes = {key: one(key) for key in templates}
    for key, (value, error) in outcomes.items():
        if error is None:
            result.data[key] = value
        else:
            result.unavailable[key] = error
            log.warning("prefetch key %s unavailable: %s", key, error)
    return result


def read_all(client, references):
    """Read FHIR resources by relative reference concurrently: {reference: resource or None}, errors as None."""
    def one(reference):
        try:
            return client.read(reference)
        except FhirError as error:
            log.warning("a referenced resource could not be read: %s", error)
            return None
    if not references:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(references), MAX_PARALLEL_READS)) as pool:
        return dict(zip(references, pool.map(one, references)))


def resolve_key(key, query, context, prefetch, client):
    """One key: the prefetched value when it answers the template, else the FHIR server's answer."""
    wanted = expected_type(query)
    unusable = "not prefetched"
    if key in prefetch:
        value = prefetch[key]
        if value is None:
            return [] if wanted == "Bundle" else None  # "no such data": not fetched
        if value.get("resourceType") == "OperationOutcome":
            raise FhirError("the CDS client could not prefetch it (OperationOutcome)")
        if value.get("resourceType") == wanted and answers(query, context, value):
            return resources_of(value, client)
        unusable = mismatch(query, context, value, wanted)
        log.info("prefetch key %s holds %s, not %s: fetching it", key, value.get("resourceType"), wanted)
    if client is None:
        raise FhirError(f"{unusable}, and no fhirServer to fetch it from")
    value = client.read(render(query, context))
    if value is not None and value.get("resourceType") == "OperationOutcome":
        raise FhirError("the FHIR server answered with an OperationOutcome")
    if value is not None and value.get("resourceType") != wanted:
        raise FhirError(f"the FHIR server answered with {value.get('resourceType')}, not {wanted}")
    return resources_of(value, client)
