"""The native JSON API: evaluate a patient context, list the rules and the vocabulary."""
from flask import Blueprint, current_app, request
from marshmallow import ValidationError

from cdss.access import authenticate_native
from cdss.audit import record_evaluation
from cdss.body import json_body
from cdss.errors import InvalidInputError, NotFoundError, flatten
from cdss.explain import describe
from cdss.facts import UnknownConditionError
from cdss.openapi import (documented, evaluated_examples, example_contexts, knowledge_examples, stored_examples,
                          vocabulary_examples)
from cdss.units import TESTS
from schemas.context import PatientContextSchema
from schemas.evaluation import EvaluationSchema, KnowledgeBaseSchema, StoredEvaluationSchema, VocabularySchema

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_native)  # an API key or a trusted issuer's JWT (cdss/access.py)
context_schema = PatientContextSchema()


def evaluator():
    """The application's evaluator (rules compiled at start-up)."""
    return current_app.extensions["cdss"]


def load_context(body):
    """Validate a native patient context; errors name each field."""
    try:
        return context_schema.load(body)
    except ValidationError as error:
        raise InvalidInputError("the patient context is invalid", flatten(error.messages)) from None


@bp.post("/evaluate")
@documented(summary="Evaluate a patient context", request=PatientContextSchema, response=EvaluationSchema,
            errors=(400, 413, 415), request_examples=example_contexts, response_examples=evaluated_examples)
def evaluate():
    """Classify the RLS case and return recommendations with their reasoning."""
    context = load_context(json_body())
    try:
        result = evaluator().evaluate(context)
    except UnknownConditionError as error:
        raise InvalidInputError("the patient context is invalid", error.fields) from None
    record_evaluation(result, "native", context)
    # The evaluation is already plain JSON data in EvaluationSchema's shape (tests/test_golden.py checks
    # every golden response against it); dumping it again cost ~0.3 ms a request (bench/).
    return result


@bp.get("/evaluations/<evaluation_id>")
@documented(summary="The audit record of one evaluation", response=StoredEvaluationSchema, errors=(404,),
            response_examples=stored_examples)
def stored_evaluation(evaluation_id):
    """The audit record of one evaluation."""
    record = current_app.extensions["cdss.store"].get_evaluation(evaluation_id)
    if record is None:
        raise NotFoundError(f"no evaluation {evaluation_id}")
    return StoredEvaluationSchema().dump(record)


@bp.get("/rules")
@documented(summary="The knowledge base", response=KnowledgeBaseSchema, response_examples=knowledge_examples)
def rules():
    """The knowledge base: every rule with its condition, outputs, strength and citations."""
    knowledge = evaluator().knowledge
    listed = []
    for rule in knowledge.rules:
        listed.append({
            "id": rule.id, "version": rule.version, "title": rule.title, "topic": rule.topic,
            "condition": rule.when,
            "condition_text": " and ".join(f"{alias}: {describe(knowledge, kind, pattern)}"
                                           for alias, kind, pattern in rule.aliases()),
            "outputs": rule.then, "strength": rule.strength, "rationale": rule.rationale, "note": rule.note,
            "citations": [knowledge.references[key] for key in rule.citations], "reviewed_for": rule.reviewed_for})
    return KnowledgeBaseSchema().dump({"ruleset": evaluator().ruleset,
                                       "last_reviewed": str(knowledge.manifest["last_reviewed"]),
                                       "rules": listed})


@bp.get("/vocabulary")
@documented(summary="The accepted vocabulary", response=VocabularySchema, response_examples=vocabulary_examples)
def vocabulary():
    """The names the API accepts: conditions (with their codes), medications (by class), lab units."""
    knowledge = evaluator().knowledge
    sets = evaluator().vocabulary.index.sets
    return VocabularySchema().dump({
        "conditions": {name: {"label": spec["label"], "role": spec["role"], "cause": spec.get("cause"),
                              "icd10cm": spec["icd10cm"], "icd10cm_exclude": spec.get("icd10cm_exclude", []),
                              "snomed": spec["snomed"], "snomed_exclude": spec.get("snomed_exclude", []),
                              "snomed_sets": {set_name: len(sets.get(set_name, {}))
                                              for set_name in spec.get("snomed_sets", [])},
                              "synonyms": spec.get("synonyms", []), "implies": spec.get("implies", [])}
                       for name, spec in knowledge.conditions.items()},
        "medications": {code: {"label": spec["label"], "worsens_rls": spec["worsens_rls"],
                               "evidence": spec["evidence"],
                               "ingredients": {name: ingredient.get("rxnorm")
                                               for name, ingredient in spec["ingredients"].items()}}
                        for code, spec in knowledge.medications.items()},
        "labs": {test: {"canonical_unit": spec.canonical, "accepted_units": list(spec.factors)}
                 for test, spec in TESTS.items()},
    })
