"""MedicationRequest, MedicationStatement and MedicationAdministration become the native `medications`.

Each status of the FHIR R4 value sets (medicationrequest-status, medication-statement-status,
medication-admin-status) is read one of four ways (STATUSES):
- current (active): the patient takes it now; every drug is read;
- finished (completed, stopped; an administration in progress, completed, stopped or on hold: some of the dose
  was given): only IV iron given in the last 12 weeks is read, because the ferritin after it is not yet usable;
- held (on hold, intended, status unknown): not taken now as far as the record says, so not counted as current,
  but named on the cards (an iron on hold, a held drug that worsens RLS, matter to the clinician);
- void (draft, cancelled, entered in error, not taken, not done): not the patient's medication; nothing to say.
A status outside the value set is named and not counted.
"""
import re

from cdss.hooks.allergies import last_given, start_date
from cdss.hooks.resources import RXNORM, codings, reference_of
from cdss.hooks.shapes import MalformedResource, check_resource
from cdss.therapy import IV_IRON_WASHOUT_DAYS, is_iv_iron
from schemas.context import MAX_ITEMS

CURRENT, FINISHED, HELD, VOID = "current", "finished", "held", "void"
ADMINISTRATION = "MedicationAdministration"
STATUSES = {
    "MedicationRequest": {"active": CURRENT, "on-hold": HELD, "unknown": HELD, "completed": FINISHED,
                          "stopped": FINISHED, "draft": VOID, "cancelled": VOID, "entered-in-error": VOID},
    "MedicationStatement": {"active": CURRENT, "intended": HELD, "on-hold": HELD, "unknown": HELD,
                            "completed": FINISHED, "stopped": FINISHED, "not-taken": VOID, "entered-in-error": VOID},
    # stopped: "halted before all of them occurred", on-hold: "temporarily halted": part of the dose was given
    ADMINISTRATION: {"in-progress": FINISHED, "completed": FINISHED, "stopped": FINISHED, "on-hold": FINISHED,
                     "unknown": HELD, "not-done": VOID, "entered-in-error": VOID},
}
HELD_WORDS = {"on-hold": "is on hold", "intended": "is intended, not yet started",
              "unknown": "has the status unknown"}
IV_IRON_WORDS = "if IV iron was given in the last 12 weeks, the ferritin is not yet usable"


def medication_concept(request, library=None):
    """The medication CodeableConcept of a MedicationRequest/Statement/Administration: its own, a contained
    Medication's, or an external Medication's from `library` ("Medication/id" -> Medication)."""
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
    """Ingredient names the vocabulary finds in a drug's text (RxNorm names, brands, salts, tall-man lettering)."""
    if hasattr(vocabulary, "ingredients_in_text"):  # the terminology module's parser
        return list(dict.fromkeys(getattr(item, "name", item) for item in vocabulary.ingredients_in_text(text)))
    lowered = text.lower()
    found = []
    for alias, ingredient in vocabulary.by_name.items():
        if re.search(rf"(?<![a-z]){re.escape(alias)}(?![a-z])", lowered) and ingredient.name not in found:
            found.append(ingredient.name)
    return found


def medication_entries(request, vocabulary, library=None):
    """Native medication entries of one MedicationRequest, MedicationStatement or MedicationAdministration.

    An RxNorm code the vocabulary resolves (an ingredient, or a clinical or branded drug, SCD/SBD, through
    the terminology module) is used as is; otherwise the ingredient names in the displays or text."""
    concept = medication_concept(request, library)
    codes = codings(concept, RXNORM)
    known = [code for code in codes if re.fullmatch(r"\d{1,10}", code) and vocabulary.ingredients({"rxnorm": code})]
    if known:
        return [{"rxnorm": code} for code in known]
    texts = [coding.get("display") for coding in concept.get("coding", []) if isinstance(coding, dict)]
    text = " ".join(value for value in [concept.get("text"), *texts] if isinstance(value, str))
    names = ingredient_names(text, vocabulary)
    if names:
        return [{"name": name} for name in names]
    recognised = [code for code in codes if re.fullmatch(r"\d{1,10}", code)
                  and vocabulary.recognises_medication({"rxnorm": code})]
    if recognised:  # a drug the service knows that bears on nothing it checks (lisinopril): kept by its code
        return [{"rxnorm": recognised[0]}]
    if text.strip():
        return [{"name": text.strip()[:200]}]
    return [{"rxnorm": code} for code in codes if re.fullmatch(r"\d{1,10}", code)][:1]


def medication_words(request, vocabulary, library):
    """How a medication is named on a card: the EHR's own text or display, else its ingredients, else its code."""
    concept = medication_concept(request, library)
    displays = [coding.get("display") for coding in concept.get("coding", []) if isinstance(coding, dict)]
    text = next((item.strip() for item in [concept.get("text"), *displays] if isinstance(item, str) and item.strip()),
                None)
    if text:
        return text[:80]
    names = [ingredient.name for entry in medication_entries(request, vocabulary, library)
             for ingredient in vocabulary.ingredients(entry)]
    if names:
        return " and ".join(dict.fromkeys(names))
    codes = codings(concept, RXNORM)
    return f"RxNorm {codes[0]}" if codes else "a medication"


def recent_iv_iron(request, vocabulary, library, today, mapped):
    """The IV iron entries of a finished request, statement or administration given in the last 12 weeks, dated by
    when it was last given (the ferritin after it is not yet usable); [] for anything else.

    Finished IV iron whose date is not recorded is named on the cards: it may have been given in the last 12 weeks;
    so is a medication that cannot be read at all, given in that time (it may have been IV iron)."""
    found = medication_entries(request, vocabulary, library)
    iron = [entry for entry in found if is_iv_iron(entry, vocabulary)]
    given = last_given(request, today)
    recent = given is not None and (today - given).days < IV_IRON_WASHOUT_DAYS
    reference, status = reference_of(request), request.get("status")
    if iron and given is None:
        mapped.skip("medications", f"{reference}: IV iron, date not recorded",
                    f"IV iron ({reference}, {status}) has no date: if it was given in "
                    "the last 12 weeks the ferritin is not yet usable")
    elif not found and recent:
        mapped.skip("medications", f"{reference}: medication not readable",
                    f"the medication of {reference} ({status}, {given.isoformat()}) could not be read: {IV_IRON_WORDS}")
    if not recent:
        return []
    return [{**entry, "start_date": given.isoformat()} for entry in iron]


def name_held(request, status, vocabulary, library, mapped):
    """Name a medication that is not counted because of its status (on hold, intended, unknown, not a FHIR status).

    Named when it bears on what the service checks (iron, a drug that worsens RLS) or cannot be identified; a known
    drug outside RLS (lisinopril on hold) is left out, as it would be when active. An administration is read only
    for IV iron."""
    found = medication_entries(request, vocabulary, library)
    iron = any(is_iv_iron(entry, vocabulary) for entry in found)
    relevant = not found or any(vocabulary.ingredients(entry) or not vocabulary.recognises_medication(entry)
                                for entry in found)
    kind, reference = request.get("resourceType"), reference_of(request)
    if not relevant or (kind == ADMINISTRATION and not iron):
        return
    if status in HELD_WORDS:
        said = HELD_WORDS[status]
    else:
        said = f"has the status {str(status)[:40]!r}, which is not a {kind} status" if status else "has no status"
    words = f"{medication_words(request, vocabulary, library)} ({reference}) {said}: not counted as current"
    mapped.skip("medications", f"{reference}: {status or 'no status'}", words + (f"; {IV_IRON_WORDS}" if iron else ""))


def meaning_of(request):
    """(status, what it means here: CURRENT, FINISHED, HELD, VOID, or None for a status outside the value set).

    A request or statement without a status is taken as active (R4 requires one); an administration is not."""
    kind = request.get("resourceType")
    status = request.get("status", None if kind == ADMINISTRATION else "active")
    return status, STATUSES.get(kind, STATUSES["MedicationRequest"]).get(status)


def needs_drug(request, today):
    """Whether the drug of a request, statement or administration is read as of `today`: not when it is void, nor
    when it finished more than 12 weeks ago (only recent IV iron is read from finished ones), nor when it cannot be
    read at all (it is dropped and named when the resources are read)."""
    try:
        check_resource(request)
    except MalformedResource:
        return False
    meaning = meaning_of(request)[1]
    if meaning == VOID:
        return False
    given = last_given(request, today) if meaning == FINISHED else None
    return given is None or (today - given).days < IV_IRON_WASHOUT_DAYS


def map_medications(requests, vocabulary, mapped, library=None, today=None):
    """Medication entries of current MedicationRequests and MedicationStatements and of IV iron given in the last
    12 weeks (finished requests, statements, administrations), de-duplicated; with `today`, each carries its start
    date (authoredOn, effectivePeriod.start; for recent IV iron, when it was last given) when it has one."""
    entries, latest = [], {}  # latest: recent IV iron entry (without date) -> its index, so one dose per drug is kept
    for request in requests:
        status, meaning = meaning_of(request)
        if meaning == FINISHED:
            if today:
                add_recent(entries, latest, recent_iv_iron(request, vocabulary, library, today, mapped), request, mapped)
        elif meaning == CURRENT:
            add_entries(entries, current_entries(request, vocabulary, library, today, mapped), request, mapped)
        elif meaning != VOID:
            name_held(request, status, vocabulary, library, mapped)
    if len(entries) > MAX_ITEMS:
        mapped.skip("medications", f"more than {MAX_ITEMS}", f"only the first {MAX_ITEMS} medications were read")
    return entries[:MAX_ITEMS]


def current_entries(request, vocabulary, library, today, mapped):
    """The entries of a medication taken now, with their start date; one whose drug cannot be read is named."""
    found = medication_entries(request, vocabulary, library)
    if not found:
        reference = (request.get("medicationReference") or {}).get("reference")
        mapped.skip("medications", f"{reference_of(request)}: medication not readable",
                    f"the medication of {reference_of(request)} could not be read"
                    + (f" ({str(reference)[:80]} was not available)" if reference else ""))
    started = start_date(request, today) if today else None
    return [{**entry, "start_date": started} if started else entry for entry in found]


def add_entries(entries, found, request, mapped):
    """Add a resource's medication entries that are not there yet, with the resource as their source."""
    for entry in found:
        if entry not in entries:
            entries.append(entry)
            mapped.sources.setdefault("medications", []).append(reference_of(request))


def add_recent(entries, latest, found, request, mapped):
    """Add recent IV iron entries, keeping per drug only the latest dose (an infusion centre records every one)."""
    for entry in found:
        key = tuple(sorted((name, value) for name, value in entry.items() if name != "start_date"))
        if key in latest:
            index = latest[key]
            if entries[index]["start_date"] >= entry["start_date"]:
                continue
            entries[index] = entry
        elif entry in entries:  # the same drug and date from a current order: already there
            continue
        else:
            latest[key] = len(entries)
            entries.append(entry)
        mapped.sources.setdefault("medications", []).append(reference_of(request))
