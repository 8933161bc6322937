"""The OpenAPI 3 document, generated from the app's routes (url_map) and the schemas their views declare.

A view declares its contract with `@documented(...)` (request and response schemas, examples); every
other route still appears, with its docstring, so nothing the service answers is missing from the
document. Examples may be callables of the app: the evaluation examples are computed by the loaded
rules, so they can never drift from what the service answers.
"""
import json
import re
from dataclasses import dataclass, field, replace

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app

from cdss.config import ROOT
from schemas.context import PatientContextSchema
from schemas.evaluation import ErrorSchema, EvaluationSchema

bp = Blueprint("openapi", __name__)
OPENAPI_VERSION = "3.0.3"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PATH_ARGUMENT = re.compile(r"<(?:(?P<converter>[^:<>]+):)?(?P<name>[^<>]+)>")
CONVERTER_TYPES = {"int": "integer", "float": "number"}
ERROR_TEXT = {400: "invalid input; `fields` names each bad field", 401: "no valid credentials (the reason is only logged)",
              404: "not found", 412: "data the service needs could not be had; `fields` says which and why",
              413: "the body is larger than the configured limit", 415: "the body is not JSON",
              503: "not ready, or credentials cannot be checked right now (Retry-After)"}
ERROR_EXAMPLES = {
    400: {"error": {"code": "invalid_input", "message": "the patient context is invalid",
                    "fields": {"labs.ferritin.unit": ["unknown unit 'mg' for ferritin"]}}},
    401: {"error": {"code": "unauthorized", "message": "unauthorized"}},
    404: {"error": {"code": "not_found", "message": "no evaluation 0d1e2f"}},
    413: {"error": {"code": "request_entity_too_large", "message": "the body is larger than the 65536-byte limit",
                    "fields": {"_body": ["more than 65536 bytes"]}}},
    415: {"error": {"code": "unsupported_media_type",
                    "message": "the body must be JSON (Content-Type: application/json)"}},
}
EXAMPLE_EVALUATION_ID = "5b0e3c9a-8d3f-4f4e-9a61-2f0c1d7e8b42"
# Who may call what (cdss/access.py, cdss/hooks/views.py): path prefix -> the schemes, any one of which suffices.
SECURITY_SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "a key issued with `python -m cdss.access NAME`; configured as its SHA-256 digest"},
    "trustedJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "signed by a CDSS_TRUSTED_ISSUERS key; aud = the endpoint URL; jti used once"},
}
PROTECTED = {"/api/v1/": ("apiKey", "trustedJwt"), "/cds-services": ("trustedJwt",)}


@dataclass
class Operation:
    """What a view declares about itself for the document."""

    summary: str = ""
    request: object = None
    response: object = None
    status: int = 200
    errors: tuple = ()
    request_examples: dict = field(default_factory=dict)
    response_examples: dict = field(default_factory=dict)
    tags: tuple = ()
    alternatives: dict = field(default_factory=dict)  # other statuses with a body of their own: status -> schema


def documented(**declared):
    """Attach an Operation to a view: @documented(request=XSchema, response=YSchema, errors=(400,), ...)."""
    def attach(view):
        view.openapi = Operation(**declared)
        return view
    return attach


def operation_of(view):
    """The view's declared Operation, or one made from its docstring."""
    declared = getattr(view, "openapi", None)
    if declared is not None:
        return declared
    return Operation(summary=(view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else "")


def openapi_path(rule):
    """A werkzeug rule as an OpenAPI path: /evaluations/<evaluation_id> -> /evaluations/{evaluation_id}."""
    return PATH_ARGUMENT.sub(lambda match: "{" + match.group("name") + "}", rule.rule)


def path_parameters(rule):
    """The rule's path arguments as OpenAPI parameters."""
    return [{"name": match.group("name"), "in": "path", "required": True,
             "schema": {"type": CONVERTER_TYPES.get(match.group("converter"), "string")}}
            for match in PATH_ARGUMENT.finditer(rule.rule)]


def resolve(examples, app):
    """Examples by name: a mapping of values, or a callable of the app that returns one."""
    if callable(examples):
        examples = examples(app)
    return {name: {"value": value} for name, value in examples.items()}


def operation_body(spec_operation, app, rule):
    """The OpenAPI operation object of one method of one route."""
    body = {"summary": spec_operation.summary, "responses": {}}
    schemes = next((names for prefix, names in PROTECTED.items() if rule.rule.startswith(prefix)), ())
    if schemes:  # with authentication on (any credential configured); a refusal is 401, a jti store outage 503
        body["security"] = [{name: []} for name in schemes]
        spec_operation = replace(spec_operation, errors=tuple(sorted({*spec_operation.errors, 401, 503})))
    if spec_operation.tags:
        body["tags"] = list(spec_operation.tags)
    parameters = path_parameters(rule)
    if parameters:
        body["parameters"] = parameters
    if spec_operation.request is not None:
        body["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": spec_operation.request, "examples": resolve(spec_operation.request_examples, app)}}}
    success = {"description": spec_operation.summary or "success"}
    if spec_operation.response is not None:
        success["content"] = {"application/json": {
            "schema": spec_operation.response, "examples": resolve(spec_operation.response_examples, app)}}
    body["responses"][str(spec_operation.status)] = success
    for status, schema in spec_operation.alternatives.items():
        body["responses"][str(status)] = {"description": ERROR_TEXT.get(status, "see the schema"),
                                          "content": {"application/json": {"schema": schema}}}
    for status in spec_operation.errors:
        content = {"schema": ErrorSchema}
        if status in ERROR_EXAMPLES:
            content["examples"] = {"error": {"value": ERROR_EXAMPLES[status]}}
        body["responses"][str(status)] = {"description": ERROR_TEXT.get(status, "error"),
                                          "content": {"application/json": content}}
    return body


def example_contexts(app=None):
    """The patient contexts in examples/, by file name."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((ROOT / "examples").glob("*.json"))}


def evaluated_examples(app):
    """What the loaded rules answer for each example context (the id fixed: no audit record is made)."""
    evaluator, answers = app.extensions["cdss"], {}
    for name, body in example_contexts().items():
        result = evaluator.evaluate(PatientContextSchema().load(body))
        answers[name] = EvaluationSchema().dump(dict(result, evaluation_id=EXAMPLE_EVALUATION_ID))
    return answers


def stored_examples(app):
    """The audit record the first example evaluation would leave (the patient only as a salted hash)."""
    name, result = next(iter(evaluated_examples(app).items()))
    return {name: {
        "id": result["evaluation_id"], "created_at": "2026-01-05T09:30:00+00:00", "source": "native",
        "ruleset_id": result["ruleset"]["id"], "ruleset_version": result["ruleset"]["version"],
        "ruleset_digest": result["ruleset"]["digest"], "fired_rules": result["fired_rules"],
        "classification": result["classification"]["type"], "causes": result["classification"]["causes"],
        "recommendation_codes": [item["code"] for item in result["recommendations"]],
        "patient_hash": "9c1f" * 16}}


def knowledge_examples(app):
    """The knowledge base as GET /api/v1/rules answers it, cut to its first two rules."""
    with app.test_request_context():
        body = app.view_functions["api.rules"]()
    return {"first-two-rules": dict(body, rules=body["rules"][:2])}


def vocabulary_examples(app):
    """The vocabulary as GET /api/v1/vocabulary answers it, cut to two entries of each part."""
    with app.test_request_context():
        body = app.view_functions["api.vocabulary"]()
    return {"two-of-each": {part: dict(list(entries.items())[:2]) for part, entries in body.items()}}


def build_spec(app):
    """The OpenAPI document of every route the app serves (static files excepted)."""
    spec = APISpec(title="rls-cdss", version=str(app.extensions["cdss"].ruleset["version"]),
                   openapi_version=OPENAPI_VERSION, plugins=[MarshmallowPlugin()],
                   info={"description": "Clinical decision support for restless legs syndrome."})
    paths = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if rule.endpoint.rsplit(".", 1)[-1] == "static":
            continue  # static files (the app's or a blueprint's) are not API operations
        view = app.view_functions[rule.endpoint]
        operations = paths.setdefault(openapi_path(rule), {})
        for method in sorted(rule.methods - IGNORED_METHODS):
            operations[method.lower()] = operation_body(operation_of(view), app, rule)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def spec_of(app):
    """The document, built once per app (the routes and rules do not change while it runs)."""
    if "cdss.openapi" not in app.extensions:
        app.extensions["cdss.openapi"] = build_spec(app)
    return app.extensions["cdss.openapi"]


@bp.get("/openapi.json")
def openapi_document():
    """This document: OpenAPI 3 of every route, generated from the marshmallow schemas."""
    return spec_of(current_app._get_current_object())
