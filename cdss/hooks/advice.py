"""What each service advises: the native context from FHIR, the same rules, then cards.

Both services speak only for patients with restless legs syndrome on the problem list (the rules
assume diagnosed RLS); for anyone else the answer is `{"cards": []}`.
"""
from dataclasses import dataclass, field

from cdss.hooks.cards import WORSENING_RULES, CardContext, build_cards, medication_card, unavailable_card
from cdss.hooks.fhir import load_context, medication_entries

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
    return CardContext(service_id=call.service_id, patient_id=call.context.get("patientId"),
                       encounter_id=call.context.get("encounterId"), evidence=dict(call.mapped.sources),
                       notes=tuple(call.mapped.notes), unavailable=call.unavailable)


def iron_advice(call, evaluator):
    """patient-view: the whole evaluation, one card per recommendation."""
    if not has_rls(call.mapped.context, evaluator.vocabulary):
        return Advice()
    context = load_context(call.mapped)
    result = evaluator.evaluate(context)
    return Advice(result, context, build_cards(result, card_context(call), call.new_id, call.now))


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
    if not drafts or not has_rls(call.mapped.context, vocabulary):
        return Advice()
    orders = {}  # ingredient name -> the draft order that brings it
    medications = call.mapped.context.setdefault("medications", [])
    for draft in drafts:
        for entry in medication_entries(draft, vocabulary):
            for ingredient in vocabulary.ingredients(entry):
                orders.setdefault(ingredient.name, f"MedicationRequest/{draft['id']}" if draft.get("id") else None)
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
    if cards and (ctx.unavailable or ctx.notes):
        cards.append(unavailable_card(result, ctx, call.new_id))
    return Advice(result, context, cards)
