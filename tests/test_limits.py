"""Every limit on the input answers a clear 4xx in the one error shape, naming the field."""
import json

import pytest

from schemas.context import MAX_ITEMS
from tests.conftest import make_patient


def post_raw(client, body, content_type="application/json"):
    return client.post("/api/v1/evaluate", data=body, content_type=content_type)


def error_of(response, status):
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    return error


def test_a_body_over_the_size_limit_is_413(app, client):
    body = json.dumps(make_patient(patient={"id": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)}))
    error = error_of(post_raw(client, body), 413)
    assert error["code"] == "request_entity_too_large"
    limit = str(app.config["MAX_CONTENT_LENGTH"])
    assert limit in error["message"] and limit in error["fields"]["_body"][0]


@pytest.mark.parametrize("section,item", [("medications", {"name": "sertraline"}),
                                          ("conditions", {"name": "pregnancy"})])
def test_more_than_the_maximum_number_of_items_is_400_naming_the_list(client, section, item):
    error = error_of(client.post("/api/v1/evaluate", json=make_patient(**{section: [item] * (MAX_ITEMS + 1)})), 400)
    assert section in error["fields"]


def test_the_maximum_number_of_items_is_accepted(client):
    response = client.post("/api/v1/evaluate", json=make_patient(medications=[{"name": "sertraline"}] * MAX_ITEMS))
    assert response.status_code == 200


@pytest.mark.parametrize("overrides,field", [
    ({"patient": {"id": "p" * 129}}, "patient.id"),
    ({"medications": [{"name": "m" * 201}]}, "medications.0.name"),
    ({"medications": [{"rxnorm": "1" * 11}]}, "medications.0.rxnorm"),
    ({"conditions": [{"name": "c" * 65}]}, "conditions.0.name"),
    ({"conditions": [{"system": "snomed", "code": "1" * 21}]}, "conditions.0.code"),
    ({"labs": {"ferritin": {"value": 30, "unit": "u" * 33}}}, "labs.ferritin.unit"),
])
def test_a_string_over_its_length_is_400_naming_the_field(client, overrides, field):
    error = error_of(client.post("/api/v1/evaluate", json=make_patient(**overrides)), 400)
    assert field in error["fields"]


def nested(depth):
    """A JSON object whose `patient` value nests `depth` levels in all."""
    return '{"patient": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_nesting_deeper_than_twenty_is_400_before_the_schema_runs(client):
    error = error_of(post_raw(client, nested(21)), 400)
    assert error["fields"] == {"_body": ["JSON nesting deeper than 20 levels"]}


def test_nesting_of_twenty_reaches_the_schema(client):
    error = error_of(post_raw(client, nested(20)), 400)
    assert "patient" in error["fields"]  # rejected by the schema (not an object), not by the depth check


def test_nesting_deep_enough_to_break_the_parser_is_still_a_400(client):
    error = error_of(post_raw(client, "[" * 30000 + "]" * 30000), 400)
    assert error["fields"] == {"_body": ["JSON nesting deeper than 20 levels"]}


@pytest.mark.parametrize("body,code", [("{", "malformed_json"), ("[]", "invalid_input"), ("3", "invalid_input"),
                                       ("\xff", "malformed_json")])
def test_a_body_that_is_not_a_json_object_is_400(client, body, code):
    assert error_of(post_raw(client, body.encode("latin-1")), 400)["code"] == code


def test_a_body_that_is_not_declared_json_is_415(client):
    assert error_of(post_raw(client, "{}", "text/plain"), 415)["code"] == "unsupported_media_type"


def test_unknown_fields_are_400_naming_them(client):
    error = error_of(client.post("/api/v1/evaluate", json=make_patient(extra={"a": 1})), 400)
    assert "extra" in error["fields"]
