"""CDS Hooks cards from an evaluation: a pure function of the evaluation, with ids and clock injected.

A card (spec §Card Attributes) has a summary under 140 characters, a markdown detail with the advice,
the reasoning and the facts used, an indicator, a source (label, guideline URL, topic), a uuid, and
where the advice is an order, suggestions whose actions *propose* FHIR resources (status draft, intent
proposal): the clinician accepts or declines them, the service never applies anything. Cards have no
reasoning field: the machine-readable trace goes in `extension` under a reverse-DNS key.
"""
from dataclasses import dataclass, field

EXTENSION = "org.rls-cdss.reasoning"
TOPIC_SYSTEM = "urn:rls-cdss:recommendation"  # this service's own code system for card topics
OVERRIDE_SYSTEM = "http://cds-hooks.hl7.org/CodeSystem/non-adherence-reason"  # CDS Hooks STU3 suggested set
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SUMMARY_LIMIT = 139  # "One-sentence, <140-character summary"

OVERRIDES = {
    "action-completed": "Recommended action was already completed",
    "indication-order-exists": "Patient has indication/order for intended action",
    "patient-ineligible": "Patient does not meet eligibility for recommended action",
    "need-more-info": "Could not address recommended action due to need for more information/pending results/pending consult",
    "risk-benefit-ratio": "Recipient assessment of risk/benefit ratio",
    "action-performed-no-adverse-effect": "Intended action was performed previously without adverse effect",
    "patient-contraindication": "Patient has contraindication to recommended action",
    "patient-refuses": "Patient refuses/declines (no context given)*",
}
ADVICE_OVERRIDES = ("action-completed", "indication-order-exists", "patient-ineligible", "need-more-info",
                    "patient-contraindication", "patient-refuses")
MEDICATION_OVERRIDES = ("risk-benefit-ratio", "action-performed-no-adverse-effect", "patient-ineligible")

IRON_STUDIES = (("2276-4", "Ferritin [Mass/volume] in Serum or Plasma"),
                ("2498-4", "Iron [Mass/volume] in Serum or Plasma"),
                ("2500-7", "Iron binding capacity [Mass/volume] in Serum or Plasma"))
# Oral iron is proposed only where the rule's own dose applies (adults and pregnancy: 65 mg elemental);
# children's doses are weight-based and the low-TSAT rule leaves the route open, so no order there.
ORAL_IRON_RULES = ("iron.oral.adult", "pregnancy.oral-iron")
FERROUS_SULFATE = "24947"  # RxNorm ingredient (shared/clinical/rxnorm-ingredients.json)
WORSENING_RULES = ("medications.worsening", "medications.worsening-lower", "medications.worsening-low-evidence")
WARNING_TIERS = ("high", "moderate")  # evidence tiers whose draft orders warn (rules/valuesets/medications.yaml)


@dataclass(frozen=True)
class CardContext:
    """What every card of one call needs besides the evaluation: who, what was used, what was not."""

    service_id: str
    patient_id: str | None = None
    encounter_id: str | None = None
    evidence: dict = field(default_factory=dict)  # "labs.ferritin" -> "Observation/x"
    notes: tuple = ()  # data that was present but could not be used
    unavailable: tuple = ()  # data that could not be had at all (human-readable)
    remarks: tuple = ()  # how reported values were read (a censored result used as its bound)
    withheld: tuple = ()  # tests on record that could not be used: never shown as "not recorded"
    unrecognized: dict = field(default_factory=dict)  # FHIR items received but not used, by section

    def not_checked(self, result):
        """Everything received or asked for but not used, in words: the notes and what the rules did not know."""
        return (*self.unavailable, *self.notes, *unrecognized_lines(result))


def unrecognized_lines(result):
    """The codes and names the rules did not know, in words (the evaluation's `unrecognized`)."""
    found = result.get("unrecognized") or {}
    lines = []
    if found.get("conditions"):
        shown = ", ".join(code_words(item) for item in found["conditions"][:20])
        lines.append(f"conditions not in the service's value sets (not used by the rules): {shown}")
    if found.get("medications"):
        shown = ", ".join(code_words(item) for item in found["medications"][:20])
        lines.append(f"medications the service does not recognise (not checked for effects on RLS): {shown}")
    if found.get("allergies"):
        shown = ", ".join(code_words(item) for item in found["allergies"][:20])
        lines.append(f"allergies the service does not recognise (not checked for IV iron): {shown}")
    return lines


def merged_unrecognized(ctx, result):
    """The FHIR items not used (by section) and the codes the rules did not know, in one object."""
    merged = {key: list(items) for key, items in ctx.unrecognized.items()}
    for key, items in (result.get("unrecognized") or {}).items():
        merged.setdefault(key, []).extend(item for item in items if item not in merged[key])
    return merged


def code_words(item):
    """'icd-10-cm|Q99.9' -> 'ICD-10-CM Q99.9'; names as they are."""
    system, bar, code = str(item).partition("|")
    if not bar:
        return system
    return f"{ {'icd-10-cm': 'ICD-10-CM', 'snomed': 'SNOMED CT', 'rxnorm': 'RxNorm'}.get(system, system)} {code}"


def build_cards(result, ctx, new_id, now, codes=None):
    """Cards for the recommendations of an evaluation (all, or those whose code is in `codes`).

    Returns [(card, recommendation code, rule ids)], the last two for the card store."""
    built = []
    for recommendation in result["recommendations"]:
        if codes is None or recommendation["code"] in codes:
            built.append(recommendation_card(recommendation, result, ctx, new_id, now))
    if ctx.not_checked(result):
        built.append(unavailable_card(result, ctx, new_id))
    return built


def recommendation_card(recommendation, result, ctx, new_id, now):
    """One card for one recommendation, with its reasoning, facts, source, links and proposals."""
    rules = rule_ids(recommendation["reasoning"])
    card = {
        "uuid": new_id(),
        "summary": shorten(recommendation["title"] + ".", SUMMARY_LIMIT),
        "indicator": recommendation["indicator"],
        "detail": detail(recommendation, result, ctx),
        "source": source(recommendation, result),
        "overrideReasons": override_reasons(ADVICE_OVERRIDES),
        "links": links(recommendation["references"]),
        "extension": {EXTENSION: trace(result, ctx, recommendation["code"], recommendation["reasoning"],
                                       recommendation.get("strength"))},
    }
    suggestions = proposals(recommendation["code"], rules, ctx, new_id, now)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    return prune(card), recommendation["code"], rules


def medication_card(ingredient, entry, recommendation, result, ctx, new_id, strength, order=None):
    """A warning for one draft medication that can worsen RLS, naming its class, evidence and alternatives."""
    summary = f"{ingredient.name.capitalize()} ({ingredient.label}) can worsen restless legs syndrome."
    lines = [f"{ingredient.name.capitalize()} is a {ingredient.label}; this patient has restless legs "
             "syndrome on the problem list.",
             "", f"**Evidence:** {evidence_text(ingredient.evidence)} ({escape(strength)}).",
             "", f"**Safer alternatives:** {ingredient.alternatives}." if ingredient.alternatives else ""]
    lines += reasoning_lines([entry]) + common_lines(result, ctx) + reference_lines(recommendation["references"])
    card = {
        "uuid": new_id(),
        "summary": shorten(summary, SUMMARY_LIMIT),
        "indicator": "warning" if ingredient.evidence in WARNING_TIERS else "info",
        "detail": markdown(lines),
        "source": source(recommendation, result),
        "overrideReasons": override_reasons(MEDICATION_OVERRIDES),
        "links": links(recommendation["references"]),
        "extension": {EXTENSION: trace(result, ctx, recommendation["code"], [entry], strength, order=order)},
    }
    if order:
        card["suggestions"] = [{"label": f"Remove the draft {ingredient.name} order", "uuid": new_id(),
                                "actions": [{"type": "delete", "resourceId": order,
                                             "description": f"Remove the draft order for {ingredient.name}"}]}]
        card["selectionBehavior"] = "at-most-one"
    return prune(card), recommendation["code"], [entry["rule"]]


def unavailable_card(result, ctx, new_id):
    """An info card naming what could not be checked, so silence is never mistaken for a negative."""
    lines = ["The advice on the other cards did not take the following into account:", ""]
    lines += [f"- {escape(item)}" for item in ctx.not_checked(result)]
    card = {
        "uuid": new_id(),
        "summary": "Some patient data could not be checked by the RLS decision support.",
        "indicator": "info",
        "detail": markdown(lines),
        "source": {"label": source_label(result),
                   "topic": {"system": TOPIC_SYSTEM, "code": "data_unavailable", "display": "Data not checked"}},
        "extension": {EXTENSION: trace(result, ctx, "data_unavailable", [], None)},
    }
    return prune(card), "data_unavailable", []


def dropped_card(ruleset, ctx, new_id):
    """For a patient without RLS on the readable problem list: what could not be read, which may hide it.

    Said whenever anything was dropped: an unreadable Condition may be the RLS diagnosis itself (a DSTU2
    clinicalStatus on the only G25.81), so `{"cards": []}` would be mistaken for "no RLS"."""
    lines = ["No restless legs syndrome was found on the problem list, so the RLS decision support gave no "
             "advice. It could not read the following, so this may be incomplete:", ""]
    lines += [f"- {escape(item)}" for item in ctx.notes]
    card = {
        "uuid": new_id(),
        "summary": "Some patient data could not be checked by the RLS decision support.",
        "indicator": "info",
        "detail": markdown(lines),
        "source": {"label": f"RLS decision support (rules {ruleset['id']} {ruleset['version']})",
                   "topic": {"system": TOPIC_SYSTEM, "code": "data_unavailable", "display": "Data not checked"}},
        "extension": {EXTENSION: {"evaluation_id": None, "service": ctx.service_id, "ruleset": ruleset,
                                  "recommendation": "data_unavailable", "unrecognized": dict(ctx.unrecognized),
                                  "not_checked": list(ctx.notes)}},
    }
    return prune(card), "data_unavailable", []


def unresolved_card(drafts, result, ctx, new_id):
    """A card for draft orders whose drug the service could not identify, or identified in a class that bears on
    RLS which its medication lists do not cover (tramadol): not checked, and said so."""
    summary = "A draft medication order could not be checked for effects on restless legs syndrome."
    lines = ["The RLS decision support could not identify the drug of these draft orders, or its medication "
             "lists do not cover it, so it could "
             "not check whether they can worsen restless legs syndrome:", ""]
    lines += [f"- {escape(item)}" for item in drafts]
    lines += ["", "Check the drug against the medications known to worsen RLS (dopamine-antagonist "
              "antiemetics, antipsychotics, sedating antihistamines, serotonergic antidepressants, lithium)."]
    card = {
        "uuid": new_id(),
        "summary": summary,
        "indicator": "info",
        "detail": markdown(lines),
        "source": {"label": source_label(result),
                   "topic": {"system": TOPIC_SYSTEM, "code": "medication_not_checked",
                             "display": "Draft medication not checked"}},
        "extension": {EXTENSION: {**trace(result, ctx, "medication_not_checked", [], None), "drafts": list(drafts)}},
    }
    return prune(card), "medication_not_checked", []


def detail(recommendation, result, ctx):
    """The markdown detail: advice, classification, why (rules and their true conditions), facts, sources."""
    lines = [escape(recommendation["detail"]), "", classification_line(result["classification"]),
             "", f"**Strength of recommendation:** {escape(recommendation['strength'])}"]
    lines += reasoning_lines(recommendation["reasoning"]) + common_lines(result, ctx)
    lines += reference_lines(recommendation["references"])
    return markdown(lines)


def classification_line(classification):
    """'**Classification:** secondary RLS (Iron deficiency)', with the causes' labels."""
    labels = classification.get("cause_labels", {})
    causes = ", ".join(escape(labels.get(cause, cause)) for cause in classification["causes"])
    return f"**Classification:** {classification['type']} RLS" + (f" ({causes})" if causes else "")


def reasoning_lines(reasoning):
    """'**Why**' and one bullet per rule that fired, with the chain of findings it used."""
    lines = ["", "**Why**", ""]
    for entry in walk(reasoning):
        lines.append(f"- `{entry['rule']}` {entry['version']}: {escape(entry['statement'])}")
    facts = readable_facts(reasoning)
    if facts:
        lines += ["", "**Facts used**", ""]
        lines += [f"- {escape(label)}: {escape(value)}" for label, value in facts.items()]
    return lines


def readable_facts(reasoning):
    """The facts of the reasoning as labels and value text (the evaluation's readable_facts), first wins."""
    facts = {}
    for entry in walk(reasoning):
        for fact in entry.get("readable_facts", []):
            facts.setdefault(fact["label"], fact["value"])
    return facts


def common_lines(result, ctx):
    """What was missing or not checked, and where the facts came from."""
    lines = []
    missing = not_recorded(result, ctx)
    if missing:
        labels = result.get("missing_labels", {})
        lines += ["", f"**Not recorded:** {escape(', '.join(labels.get(item, item) for item in missing))}"]
    if ctx.remarks:
        lines += ["", f"**As reported:** {escape('; '.join(ctx.remarks))}"]
    if ctx.not_checked(result):
        lines += ["", f"**Could not be checked:** {escape('; '.join(ctx.not_checked(result)))}"]
    sources = sorted({ref for refs in ctx.evidence.values() for ref in ([refs] if isinstance(refs, str) else refs)})
    if sources:
        lines += ["", f"**FHIR data used:** {escape(', '.join(sources))}"]
    return lines


def not_recorded(result, ctx):
    """The evaluation's missing items less those on record but not usable (those are "could not be checked")."""
    return [item for item in result["missing"] if item.split(".")[0] not in ctx.withheld]


def reference_lines(references):
    """The guideline citations behind the advice."""
    if not references:
        return []
    return ["", "**References**", ""] + [f"- {escape(item['citation'])}" for item in references]


def walk(reasoning):
    """Reasoning entries depth-first, chains included, each rule once."""
    seen, ordered = set(), []
    stack = list(reversed(reasoning))
    while stack:
        entry = stack.pop()
        if entry["rule"] not in seen:
            seen.add(entry["rule"])
            ordered.append(entry)
        stack.extend(reversed(entry.get("chain", [])))
    return ordered


def merged_facts(reasoning):
    """All facts of the reasoning (chains included), first value wins."""
    facts = {}
    for entry in walk(reasoning):
        for name, value in entry.get("facts", {}).items():
            facts.setdefault(name, value)
    return facts


def rule_ids(reasoning):
    """The ids of the rules behind a recommendation (chains included)."""
    return [entry["rule"] for entry in walk(reasoning)]


def source(recommendation, result):
    """The card's source: the ruleset, the guideline URL, and the recommendation as topic."""
    found = {"label": source_label(result),
             "topic": {"system": TOPIC_SYSTEM, "code": recommendation["code"], "display": recommendation["title"]}}
    if recommendation["references"]:
        found["url"] = recommendation["references"][0]["url"]
    return found


def source_label(result):
    """'RLS decision support (rules rls-iron 1.0.0)'."""
    return f"RLS decision support (rules {result['ruleset']['id']} {result['ruleset']['version']})"


def links(references):
    """One absolute link per guideline."""
    found, seen = [], set()
    for reference in references:
        if reference["url"] not in seen:
            seen.add(reference["url"])
            found.append({"label": shorten(reference["citation"], 80), "url": reference["url"], "type": "absolute"})
    return found


def override_reasons(codes):
    """Override reasons as Codings with the display the spec requires."""
    return [{"system": OVERRIDE_SYSTEM, "code": code, "display": OVERRIDES[code]} for code in codes]


def trace(result, ctx, code, reasoning, strength, order=None):
    """The machine-readable reasoning: evaluation, ruleset, rules with versions, facts, evidence."""
    return {
        "evaluation_id": result["evaluation_id"], "service": ctx.service_id,
        "ruleset": result["ruleset"], "recommendation": code, "strength": strength,
        "rules": [{"rule": entry["rule"], "version": entry["version"]} for entry in walk(reasoning)],
        "reasoning": reasoning, "facts": merged_facts(reasoning),
        "classification": {"type": result["classification"]["type"], "causes": result["classification"]["causes"]},
        "missing": not_recorded(result, ctx), "unrecognized": merged_unrecognized(ctx, result),
        "evidence": sorted({ref for refs in ctx.evidence.values()
                            for ref in ([refs] if isinstance(refs, str) else refs)}),
        "not_checked": list(ctx.not_checked(result)), "reported_as": list(ctx.remarks), "draft_order": order,
    }


def proposals(code, rules, ctx, new_id, now):
    """FHIR resources proposed for the advice, as suggestions (never applied by the service)."""
    if code == "order_iron_studies":
        actions = [{"type": "create", "description": f"Propose a {display.split(' [')[0].lower()} test",
                    "resource": service_request(loinc, display, ctx, now)} for loinc, display in IRON_STUDIES]
        return [{"label": "Order iron studies (ferritin, serum iron, TIBC)", "uuid": new_id(),
                 "isRecommended": True, "actions": actions}]
    if code == "oral_iron" and set(rules) & set(ORAL_IRON_RULES):
        return [{"label": "Prescribe ferrous sulfate 325 mg (65 mg elemental iron)", "uuid": new_id(),
                 "isRecommended": True,
                 "actions": [{"type": "create", "description": "Propose a draft prescription of oral iron",
                              "resource": oral_iron_request(ctx, now)}]}]
    return []


def subject(ctx):
    """The subject (and encounter) references of a proposed resource."""
    found = {"subject": {"reference": f"Patient/{ctx.patient_id}"}} if ctx.patient_id else {}
    if ctx.encounter_id:
        found["encounter"] = {"reference": f"Encounter/{ctx.encounter_id}"}
    return found


def service_request(loinc, display, ctx, now):
    """A draft ServiceRequest for one laboratory test."""
    return {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "108252007",
                                      "display": "Laboratory procedure"}]}],
            "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
            **subject(ctx), "authoredOn": now.isoformat(),
            "patientInstruction": "Morning, fasting sample; no iron supplements for 24 hours before."}


def oral_iron_request(ctx, now):
    """A draft MedicationRequest for oral ferrous sulfate as the rule advises."""
    return {"resourceType": "MedicationRequest", "status": "draft", "intent": "proposal",
            "medicationCodeableConcept": {
                "coding": [{"system": RXNORM, "code": FERROUS_SULFATE, "display": "ferrous sulfate"}],
                "text": "ferrous sulfate 325 mg (65 mg elemental iron) oral tablet"},
            **subject(ctx), "authoredOn": now.isoformat(),
            "dosageInstruction": [{"text": "325 mg by mouth once daily or every other day, on an empty "
                                           "stomach, with 100-200 mg vitamin C", "route": {"text": "oral"}}]}


def evidence_text(tier):
    """How strong the link to RLS is, in words."""
    return {"high": "the highest reported risk of new or worse RLS (case series and prospective studies)",
            "moderate": "a recognised exacerbating factor of RLS (clinical reports)",
            "lower": "new or worse RLS after starting it is uncommon (systematic review)",
            "case_reports": "linked to RLS in case reports only"}.get(tier, "not known to worsen RLS")


def escape(text):
    """Text safe inside GitHub-flavoured markdown: no HTML, no links or emphasis from data."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\`*_[]|":
        text = text.replace(char, "\\" + char)
    return text


def markdown(lines):
    """Join markdown lines, without runs of blank lines."""
    text = "\n".join(lines).strip()
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def shorten(text, limit):
    """Text cut at a word boundary to at most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def prune(value):
    """Drop None, empty strings, lists and objects (spec §Use of JSON); keep false and 0."""
    if isinstance(value, dict):
        pruned = {key: prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        return [prune(item) for item in value if prune(item) not in (None, "", [], {})]
    return value
