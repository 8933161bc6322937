"""The CDS Hooks surface: discovery, service calls, feedback. Each view: load, one domain call, dump."""
import logging

from flask import Blueprint, current_app, g, request
from marshmallow import Schema, ValidationError, fields

from cdss.audit import record_evaluation
from cdss.body import json_body
from cdss.errors import InvalidInputError, NotFoundError, error_response, flatten
from cdss.hooks.errors import HookAuthError
from cdss.hooks.feedback import record_feedback
from cdss.hooks.invocation import invoke
from cdss.hooks.services import SERVICES, discovery
from cdss.openapi import documented
from schemas.hooks import CONTEXT_SCHEMAS, DiscoverySchema, FeedbackSchema, HookRequestSchema, HookResponseSchema

log = logging.getLogger(__name__)
bp = Blueprint("hooks", __name__)
# Schemas built once, at import: a fresh instance rebuilds its nested schemas on every request (~0.2 ms).
HOOK_REQUEST, HOOK_RESPONSE = HookRequestSchema(), HookResponseSchema()
HOOK_CONTEXTS = {hook: schema() for hook, schema in CONTEXT_SCHEMAS.items()}


class FeedbackReceiptSchema(Schema):
    received = fields.Integer(required=True, metadata={"description": "feedback items in the request"})
    stored = fields.Integer(required=True, metadata={"description": "items stored (feedback on unknown cards is not)"})


def hook_examples(app=None):
    """A patient-view call with everything prefetched (what the OpenAPI document and its fuzzing start from)."""
    return {"patient-view": {
        "hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "pat-1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "pat-1", "gender": "female",
                                 "birthDate": "1980-04-02"}}}}


def feedback_examples(app=None):
    """One card overridden by the clinician."""
    return {"overridden": {"feedback": [{"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "overridden",
                                         "outcomeTimestamp": "2026-11-24T10:00:00Z"}]}}


@bp.before_request
def authenticate():
    """Every call but a CORS preflight carries the client's JWT (spec: discovery included)."""
    request.max_content_length = current_app.config["HOOKS_MAX_BODY_BYTES"]  # prefetch is larger than a context
    if request.method == "OPTIONS":
        return
    if not current_app.config["AUTH_ENABLED"]:
        log.warning("CDS Hooks call accepted WITHOUT authentication (development only)")
        return
    claims = current_app.extensions["cdss.hooks.verifier"].verify(request.headers.get("Authorization"), audiences())
    g.cds_client = claims["iss"]


def caller_fhir_servers():
    """The FHIR base URLs the authenticated caller may send us to (None: authentication off, development)."""
    if not current_app.config["AUTH_ENABLED"]:
        return None
    return current_app.config["TRUSTED_ISSUERS"][g.cds_client].get("fhir_servers", [])


def audiences():
    """The URLs a JWT's aud may name: this endpoint (feedback: also its service), on the public base URL."""
    public = current_app.config["PUBLIC_URL"]
    endpoint = public.rstrip("/") + request.path if public else request.base_url
    accepted = [endpoint]
    if endpoint.endswith("/feedback"):
        accepted.append(endpoint[: -len("/feedback")])
    return accepted


@bp.errorhandler(HookAuthError)
def refuse(error):
    """401 with no detail; the reason goes to the log only."""
    log.warning("CDS Hooks call refused: %s", error.reason)
    response, status = error_response(401, error.code, error.message)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, status


def load(schema, data, message):
    """Validate with a schema; errors name each field."""
    try:
        return schema.load(data)
    except ValidationError as error:
        raise InvalidInputError(message, flatten(error.messages)) from None


def service_named(service_id):
    """The service with this id, or 404."""
    if service_id not in SERVICES:
        raise NotFoundError(f"no CDS service {service_id}")
    return SERVICES[service_id]


@bp.get("/cds-services")
@documented(summary="CDS Hooks discovery", response=DiscoverySchema, tags=("cds-hooks",))
def discover():
    """The discovery document, generated from the service definitions."""
    return DiscoverySchema().dump(discovery())


@bp.post("/cds-services/<service_id>")
@documented(summary="Call a CDS service (CDS Hooks 2.0)", request=HookRequestSchema, response=HookResponseSchema,
            errors=(400, 404, 412, 413, 415), tags=("cds-hooks",), request_examples=hook_examples)
def call(service_id):
    """A hook call: cards for the patient in context, or `{"cards": []}` when nothing applies."""
    service = service_named(service_id)
    hook_request = load(HOOK_REQUEST, json_body(), "the CDS Hooks request is invalid")
    if hook_request["hook"] not in service.hooks:
        raise InvalidInputError("this service does not answer that hook",
                                {"hook": [f"must be one of {', '.join(service.hooks)}"]})
    hook_request["context"] = load(HOOK_CONTEXTS[hook_request["hook"]], hook_request["context"],
                                   "the hook context is invalid")
    advice = invoke(service, hook_request, current_app.extensions["cdss"], current_app.config,
                    fhir_servers=caller_fhir_servers())
    if advice.result is not None:
        record(advice, service.id)
    return HOOK_RESPONSE.dump({"cards": [card for card, _, _ in advice.cards]})


def record(advice, service_id):
    """Audit the evaluation with its cards (kept for feedback), in the database or the outbox (cdss/audit.py)."""
    record_evaluation(advice.result, f"cds-hooks:{service_id}", advice.context, service_id,
                      [(card["uuid"], code, rules) for card, code, rules in advice.cards])


@bp.post("/cds-services/<service_id>/feedback")
@documented(summary="Feedback on cards (CDS Hooks 2.0)", request=FeedbackSchema, response=FeedbackReceiptSchema,
            errors=(400, 404, 413, 415), tags=("cds-hooks",), request_examples=feedback_examples)
def feedback(service_id):
    """Clinicians' responses to cards, kept with the card's evaluation and rules."""
    service = service_named(service_id)
    body = load(FeedbackSchema(), json_body(), "the feedback is invalid")
    stored = record_feedback(current_app.extensions["cdss.store"], service.id, body["feedback"])
    return {"received": len(body["feedback"]), "stored": stored}
