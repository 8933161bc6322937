"""The OpenAPI document: every route is in it, and every example in it validates against its schema."""
import pytest
from marshmallow import ValidationError

from cdss.openapi import openapi_path, operation_of
from schemas.evaluation import ErrorSchema

# Routes served without a marshmallow schema, and where their contract is written instead.
SCHEMA_FREE = {
    "/openapi.json": "the document itself (OpenAPI 3.0)",
    "/api/v1/vocabulary": "a free-form map of the accepted names; described by its summary",
}
SCHEMA_FREE_PREFIXES = {"/cds-services": "specified by HL7 CDS Hooks 2.0"}
SCHEMA_FREE_BLUEPRINTS = {"web": "the demo page (HTML), not part of the API"}
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document(app):
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def api_rules(app):
    """Every (rule, method) the app serves, static files excepted."""
    return [(rule, method.lower()) for rule in app.url_map.iter_rules()
            if rule.endpoint.rsplit(".", 1)[-1] != "static"
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def schema_free(rule):
    """Why a route has no schema in the document, or None when it must have one."""
    path = rule.rule
    blueprint = rule.endpoint.split(".", 1)[0] if "." in rule.endpoint else None
    return (SCHEMA_FREE.get(path) or SCHEMA_FREE_BLUEPRINTS.get(blueprint)
            or next((why for prefix, why in SCHEMA_FREE_PREFIXES.items() if path.startswith(prefix)), None))


def test_the_document_is_openapi_3_and_names_the_service(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "rls-cdss"
    assert "PatientContext" in document["components"]["schemas"]


def test_every_registered_route_and_method_is_in_the_document(app, document):
    for rule, method in api_rules(app):
        assert method in document["paths"].get(openapi_path(rule), {}), f"{method.upper()} {rule.rule} undocumented"


def test_every_route_with_a_json_contract_declares_its_schemas(app, document):
    for rule, method in api_rules(app):
        if schema_free(rule):
            continue
        operation = document["paths"][openapi_path(rule)][method]
        success = next(iter(operation["responses"].values()))
        assert "$ref" in success["content"]["application/json"]["schema"], rule.rule


def test_the_documented_paths_are_exactly_the_served_ones(app, document):
    served = {openapi_path(rule) for rule, _ in api_rules(app)}
    assert set(document["paths"]) == served


def test_path_arguments_become_parameters(document):
    operation = document["paths"]["/api/v1/evaluations/{evaluation_id}"]["get"]
    assert operation["parameters"] == [{"name": "evaluation_id", "in": "path", "required": True,
                                        "schema": {"type": "string"}}]


def declared_examples(app, document):
    """(where, schema class, example value) for every example of every declared schema."""
    found = []
    for rule, method in api_rules(app):
        declared = operation_of(app.view_functions[rule.endpoint])
        operation = document["paths"][openapi_path(rule)][method]
        if declared.request is not None:
            for name, example in operation["requestBody"]["content"]["application/json"]["examples"].items():
                found.append((f"{rule.rule} request {name}", declared.request, example["value"]))
        for status, response in operation["responses"].items():
            schema = declared.response if status == str(declared.status) else \
                declared.alternatives.get(int(status), ErrorSchema)
            for name, example in response.get("content", {}).get("application/json", {}).get("examples", {}).items():
                found.append((f"{rule.rule} {status} {name}", schema, example["value"]))
    return found


def test_the_main_operations_have_examples(app, document):
    where = {entry[0].split(" ")[0] + " " + entry[0].split(" ")[1] for entry in declared_examples(app, document)}
    for expected in ("/api/v1/evaluate request", "/api/v1/evaluate 200", "/api/v1/evaluate 400",
                     "/api/v1/evaluations/<evaluation_id> 200", "/api/v1/rules 200", "/readyz 200"):
        assert expected in where


def test_every_example_validates_against_its_schema(app, document):
    examples = declared_examples(app, document)
    assert len(examples) >= 8
    for where, schema, value in examples:
        try:
            schema().load(value)
        except ValidationError as error:
            pytest.fail(f"example {where} does not validate: {error.messages}")


def test_request_examples_are_answered_as_their_response_examples_say(app, client, document):
    content = document["paths"]["/api/v1/evaluate"]["post"]
    requests = content["requestBody"]["content"]["application/json"]["examples"]
    responses = content["responses"]["200"]["content"]["application/json"]["examples"]
    assert set(requests) == set(responses)
    for name, example in requests.items():
        answer = client.post("/api/v1/evaluate", json=example["value"]).get_json()
        expected = responses[name]["value"]
        assert dict(answer, evaluation_id=None) == dict(expected, evaluation_id=None)


def test_a_broken_example_would_be_caught(app, document):
    request_schema = operation_of(app.view_functions["api.evaluate"]).request
    with pytest.raises(ValidationError):
        request_schema().load({"labs": {"ferritin": {"value": 30, "unit": "furlongs"}}})
