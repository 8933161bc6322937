"""What each service advises: the native context from FHIR, the same rules, then cards.

Both services speak only for patients with restless legs syndrome on the problem list (the rules
assume diagnosed RLS); for anyone else the answer is `{"cards": []}`, unless something received could
not be read: then one "could not be checked" card names it (it may have been the RLS diagnosis itself).
"""
from dataclasses import dataclass, field, replace

from cdss.hooks.cards import (WORSENING_RULES, CardContext, build_cards, dropped_card, medication_card,
                              unavailable_card, unresolved_card)
from cdss.hooks.fhir import load_context, medication_entries, reference_of
from cdss.hooks.shapes import MalformedResource, check_resource

RLS = "restless_legs_syndrome"


@dataclass
class Call:
    """One hook call after prefetch: the hook context, the mapped FHIR data, what was not available."""

    service_id: str
    hook: str
    context: dict
    mapped: object
    unavailable: tuple
    now: object
    new_id: object


@dataclass
class Advice:
    """The outcome of one call: the evaluation and context it ran on (None when none ran), and the cards."""

    result: dict | None = None
    context: dict | None = None
    cards: list = field(default_factory=list)  # [(card, recommendation code, rule ids)]


def has_rls(context, vocabulary):
    """Whether restless legs syndrome is on the patient's problem list (G25.81 / 32914008)."""
    return any(vocabulary.condition(entry) == RLS for entry in context.get("conditions", []))


def card_context(call):
    """What every card of this call shares."""
    mapped = call.mapped
    return CardContext(service_id=call.service_id, patient_id=call.context.get("patientId"),
                       encounter_id=call.context.get("encounterId"), evidence=dict(mapped.sources),
                       notes=tuple(mapped.notes), unavailable=call.unavailable, remarks=tuple(mapped.remarks),
                       withheld=tuple(dict.fromkeys(mapped.withheld)), unrecognized=dict(mapped.unrecognized))


HIDING = ("resources", "conditions")  # what could hide the RLS diagnosis: an unreadable resource or condition


def without_rls(call, evaluator):
    """No RLS on the readable problem list: nothing to advise, but a resource or condition that could not be
    read is said (it may be the RLS diagnosis itself); `{"cards": []}` when there is none.

    Lab values that could not be used (a preliminary result, an unknown unit) are not: for a patient
    without RLS they bear on nothing the service would say."""
    notes = tuple(note for section in HIDING for note in call.mapped.said.get(section, ()))
    if not notes:
        return Advice()
    found = call.mapped.unrecognized
    unrecognized = {section: found[section] for section in HIDING if section in found}
    ctx = replace(card_context(call), notes=notes, unrecognized=unrecognized)
    return Advice(cards=[dropped_card(evaluator.ruleset, ctx, call.new_id)])


def iron_advice(call, evaluator):
    """patient-view: the whole evaluation, one card per recommendation."""
    if not has_rls(call.mapped.context, evaluator.vocabulary):
        return without_rls(call, evaluator)
    context = load_context(call.mapped)
    result = evaluator.evaluate(context)
    codes = wanted_codes(result, call.mapped.withheld, evaluator.knowledge)
    return Advice(result, context, build_cards(result, card_context(call), call.new_id, call.now, codes))


def wanted_codes(result, withheld, knowledge):
    """The recommendations to show: all but those asked only because a test on record could not be used.

    A ferritin reported as ">100" where the rules need to know whether it is under 75 is on record:
    "order iron studies because ferritin is not available" would be false. The "could not be checked"
    card names it instead."""
    if not withheld:
        return None
    shown = []
    for recommendation in result["recommendations"]:
        missing = [item for entry in recommendation["reasoning"]
                   for item in (knowledge.by_id[entry["rule"]].then.get("missing") or ["-"])
                   if entry["rule"] in knowledge.by_id] or ["-"]
        if not all(item.split(".")[0] in withheld for item in missing):
            shown.append(recommendation["code"])
    return shown


def draft_medications(call):
    """The draft MedicationRequests this call is about: order-select's selections, order-sign's drafts."""
    entries = call.context["draftOrders"].get("entry") or []
    drafts = [entry.get("resource") for entry in entries if isinstance(entry.get("resource"), dict)
              and entry["resource"].get("resourceType") == "MedicationRequest"]
    if call.hook == "order-select":
        chosen = set(call.context["selections"])
        drafts = [draft for draft in drafts if f"MedicationRequest/{draft.get('id')}" in chosen]
    return drafts


def medication_safety_advice(call, evaluator):
    """order-select/order-sign: the draft medications join the context; the medication rules speak."""
    vocabulary = evaluator.vocabulary
    drafts = draft_medications(call)
    if not drafts:
        return Advice()
    if not has_rls(call.mapped.context, vocabulary):
        return without_rls(call, evaluator)
    orders = {}  # ingredient name -> the draft order that brings it
    medications = call.mapped.context.setdefault("medications", [])
    for draft in drafts:
        reference = f"MedicationRequest/{draft['id']}" if isinstance(draft.get("id"), str) else None
        entries = draft_entries(draft, vocabulary, call.mapped)
        if not any(vocabulary.recognises_medication(entry) for entry in entries):
            call.mapped.unresolved_drafts.append(draft_words(entries, reference))
        for entry in entries:
            for ingredient in vocabulary.ingredients(entry):
                orders.setdefault(ingredient.name, reference)
            if entry not in medications:
                medications.append(entry)
    context = load_context(call.mapped)
    result = evaluator.evaluate(context)
    ctx = card_context(call)
    cards = []
    for recommendation in result["recommendations"]:
        for entry in recommendation["reasoning"]:
            name = entry["facts"].get("medication")
            if entry["rule"] in WORSENING_RULES and name in orders:
                cards.append(medication_card(vocabulary.by_name[name], entry, recommendation, result, ctx,
                                             call.new_id, evaluator.knowledge.by_id[entry["rule"]].strength,
                                             orders[name]))
    if call.mapped.unresolved_drafts:
        cards.append(unresolved_card(call.mapped.unresolved_drafts, result, ctx, call.new_id))
    if (cards or call.mapped.notes) and ctx.not_checked(result):  # anything dropped is said, even alone
        cards.append(unavailable_card(result, ctx, call.new_id))
    return Advice(result, context, cards)


def draft_entries(draft, vocabulary, mapped):
    """The medication entries of one draft order; a draft of the wrong shape has none (and is named)."""
    try:
        check_resource(draft)
    except MalformedResource as error:
        mapped.skip("resources", f"{reference_of(draft)}: {error}", f"{reference_of(draft)} could not be read ({error})")
        return []
    return medication_entries(draft, vocabulary, mapped.library)


def draft_words(entries, reference):
    """How an unresolved draft order is named on its card: its drug text or code, and its reference."""
    names = [entry.get("name") or f"RxNorm {entry.get('rxnorm')}" for entry in entries]
    what = ", ".join(names) if names else "a medication with no readable code or name"
    return f"{what} ({reference})" if reference else what
