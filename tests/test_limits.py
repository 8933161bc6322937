"""Every limit on the input answers a clear 4xx in the one error shape, naming the field."""
import io
import json
from pathlib import Path

import pytest

from cdss import create_app

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


# --- Input that once made a 500 or was silently reinterpreted (issue 12, item 3) ---------------------------

HUGE = "9" * 401  # overflows a double: float() raises OverflowError


def raw_context(**sections):
    """A valid context as JSON text, with sections replaced by raw JSON text (for what json.dumps cannot write)."""
    text = json.dumps(make_patient(**{name: {} for name in sections}))
    for name, raw in sections.items():
        text = text.replace(f'"{name}": {{}}', f'"{name}": {raw}', 1)
    return text


@pytest.mark.parametrize("sections,field", [
    ({"patient": '{"id": "p", "age": %s}' % HUGE}, "patient.age"),
    ({"patient": '{"id": "p", "age": -%s}' % HUGE}, "patient.age"),
    ({"patient": '{"id": "p", "age": %s}' % ("9" * 5000)}, "patient.age"),  # past Python's int() digit limit
    ({"labs": '{"ferritin": {"value": %s, "unit": "ng/mL"}}' % HUGE}, "labs.ferritin.value"),
    ({"labs": '{"tsat": {"value": 1e400, "unit": "%"}}'}, "labs.tsat.value"),
    ({"rls": '{"onset_age": %s}' % HUGE}, "rls.onset_age"),
    ({"pregnancy": '{"status": "postpartum", "weeks_postpartum": %s}' % HUGE}, "pregnancy.weeks_postpartum"),
    ({"pregnancy": '{"status": "pregnant", "trimester": %s}' % HUGE}, "pregnancy.trimester"),
    ({"pregnancy": '{"status": "pregnant", "trimester": 1e400}'}, "pregnancy.trimester"),
    ({"pregnancy": '{"status": "pregnant", "trimester": -1e400}'}, "pregnancy.trimester"),
])
def test_a_number_too_large_for_a_double_is_400_naming_the_field(client, sections, field):
    error = error_of(post_raw(client, raw_context(**sections)), 400)
    assert error["code"] == "invalid_input" and list(error["fields"]) == [field]
    assert "finite" in error["fields"][field][0] or "1, 2 or 3" in error["fields"][field][0]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_not_json_and_are_named(client, literal):
    body = raw_context(pregnancy='{"status": "pregnant", "trimester": %s}' % literal)
    error = error_of(post_raw(client, body), 400)
    assert error["code"] == "malformed_json"
    assert error["fields"] == {"pregnancy.trimester": [f"{literal} is not a JSON number"]}


@pytest.mark.parametrize("raw,field", [
    ('{"id": "\\ud800", "age": 45}', "patient.id"),  # a lone high surrogate
    ('{"id": "ok\\udfff", "age": 45}', "patient.id"),  # a lone low surrogate
    ('{"id": "p", "\\ud800": 1}', "patient.\ufffd"),  # in a key: named with the replacement character
])
def test_an_unpaired_surrogate_is_400_naming_the_field(client, raw, field):
    error = error_of(post_raw(client, raw_context(patient=raw)), 400)
    assert error["code"] == "malformed_json" and field in error["fields"]


def test_a_surrogate_in_cesu_8_bytes_is_refused_too(client):
    body = raw_context(patient='{"id": "X", "age": 45}').encode().replace(b'"X"', b'"\xed\xa0\x80"')
    assert "patient.id" in error_of(post_raw(client, body), 400)["fields"]


def test_a_surrogate_pair_is_a_character_and_accepted(client):
    response = post_raw(client, raw_context(patient='{"id": "p-\\ud83d\\ude00", "age": 45}'))
    assert response.status_code == 200


@pytest.mark.parametrize("sections,field", [
    ({"labs": '{"ferritin": {"value": 10, "unit": "ng/mL", "value": 300}}'}, "labs.ferritin.value"),
    ({"patient": '{"id": "p", "age": 45, "sex": "female", "sex": "male"}'}, "patient.sex"),
    ({"rls": '{"criteria": {"urge_to_move": true, "urge_to_move": false}}'}, "rls.criteria.urge_to_move"),
])
def test_a_duplicate_key_is_400_naming_it_never_last_one_wins(client, sections, field):
    error = error_of(post_raw(client, raw_context(**sections)), 400)
    assert error["code"] == "malformed_json" and list(error["fields"]) == [field]


def test_a_duplicate_top_level_section_is_named(client):
    body = raw_context()[:-1] + ', "labs": {}}'
    assert list(error_of(post_raw(client, body), 400)["fields"]) == ["labs"]


def test_duplicates_in_one_object_with_many_keys_are_found_quickly(client):
    members = ",".join(f'"k{index % 500}":1' for index in range(5000))  # ~50 KiB, within the limit
    error = error_of(post_raw(client, '{"extra": {%s}}' % members), 400)
    assert len(error["fields"]) == 500 and "extra.k0" in error["fields"]


@pytest.mark.parametrize("value", [0, 1, "true", "yes", 0.0])
def test_an_irlssg_criterion_is_true_false_or_null_only(client, value):
    criteria = {"urge_to_move": value, "worse_at_rest": True}
    error = error_of(client.post("/api/v1/evaluate", json=make_patient(rls={"criteria": criteria})), 400)
    assert error["fields"] == {"rls.criteria.urge_to_move": ["must be a boolean: true, false or null"]}


def test_family_history_is_true_false_or_null_only(client):
    error = error_of(client.post("/api/v1/evaluate", json=make_patient(rls={"family_history": 1})), 400)
    assert "rls.family_history" in error["fields"]


def test_null_criteria_are_still_unknown_not_false(client):
    assert client.post("/api/v1/evaluate", json=make_patient(rls={"criteria": {"urge_to_move": None}})).status_code == 200


def chunked(client, body, path="/api/v1/evaluate"):
    """POST without Content-Length, as a server that de-chunks the body presents it (wsgi.input_terminated)."""
    return client.post(path, input_stream=io.BytesIO(body), content_type="application/json",
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_413_not_cut_short(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps(make_patient()).encode() + b" " * limit  # the first `limit` bytes alone would parse
    error = error_of(chunked(client, body), 413)
    assert str(limit) in error["message"]


def test_a_chunked_body_within_the_limit_is_read_whole(app, client):
    body = json.dumps(make_patient()).encode()
    body += b" " * (app.config["MAX_CONTENT_LENGTH"] - len(body))  # exactly at the limit
    assert chunked(client, body).status_code == 200


# --- The same parsing guards CDS Hooks bodies (their FHIR values are the mapping's: dropped and named) ----

HOOK_REQUEST = Path(__file__).resolve().parent / "hooks" / "fixtures" / "dan-patient-view-full.json"


@pytest.fixture(scope="module")
def hooks_client(tmp_path_factory):
    """CDS Hooks with authentication off: these tests are about the body, not the caller."""
    database = tmp_path_factory.mktemp("limits-hooks") / "cdss.sqlite3"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PATIENT_HASH_SALT": "s",
                       "AUTH_DISABLED": True}).test_client()


def hook_text(old, new):
    """The fixture's hook request as JSON text with one piece of text replaced."""
    text = json.dumps(json.loads(HOOK_REQUEST.read_text(encoding="utf-8")))
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("old,new,field", [
    ('"patientId": "pat-dan"', '"patientId": "pat-dan", "patientId": "pat-eve"', "context.patientId"),
    ('"gender": "male"', '"gender": "male", "gender": "female"', "prefetch.patient.gender"),
    ('"gender": "male"', '"gender": "\\ud800"', "prefetch.patient.gender"),
    ('"total": 1', '"total": NaN', "prefetch.labs.total"),
])
def test_a_cds_hooks_body_is_parsed_as_strictly_as_a_native_one(hooks_client, old, new, field):
    response = hooks_client.post("/cds-services/rls-iron", data=hook_text(old, new), content_type="application/json")
    error = error_of(response, 400)
    assert error["code"] == "malformed_json" and list(error["fields"]) == [field]


def test_a_chunked_cds_hooks_body_over_its_limit_is_413(app, hooks_client):
    limit = app.config["HOOKS_MAX_BODY_BYTES"]
    body = hook_text('"hook"', '"hook"').encode() + b" " * limit
    error = error_of(chunked(hooks_client, body, "/cds-services/rls-iron"), 413)
    assert str(limit) in error["message"]


def test_feedback_bodies_are_parsed_strictly_too(hooks_client):
    body = '{"feedback": [], "feedback": [{"card": "x"}]}'
    response = hooks_client.post("/cds-services/rls-iron/feedback", data=body, content_type="application/json")
    assert list(error_of(response, 400)["fields"]) == ["feedback"]
