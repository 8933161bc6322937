"""Structured logs: one JSON line per request with a request id, status and duration; never PHI."""
import json
import logging
import uuid

import pytest

from cdss.logs import JsonFormatter
from tests.conftest import make_patient

SECRET_ID = "MRN-98765-PHI"


@pytest.fixture()
def request_lines(caplog):
    """The request log records captured during a test."""
    caplog.set_level(logging.INFO, logger="cdss.request")
    return lambda: [record for record in caplog.records if record.name == "cdss.request"]


def test_one_line_per_request_with_method_path_status_and_duration(client, request_lines):
    client.get("/healthz")
    client.post("/api/v1/evaluate", json={"labs": "not an object"})
    first, second = request_lines()
    assert (first.method, first.path, first.status) == ("GET", "/healthz", 200)
    assert (second.method, second.path, second.status) == ("POST", "/api/v1/evaluate", 400)
    assert isinstance(second.duration_ms, float) and second.duration_ms >= 0


def test_a_request_id_is_made_and_echoed(client, request_lines):
    response = client.get("/healthz")
    made = response.headers["X-Request-ID"]
    assert len(made) == 32
    assert request_lines()[-1].request_id == made


def test_the_callers_request_id_is_kept(client, request_lines):
    response = client.get("/healthz", headers={"X-Request-ID": "ehr-trace.42"})
    assert response.headers["X-Request-ID"] == "ehr-trace.42"
    assert request_lines()[-1].request_id == "ehr-trace.42"


@pytest.mark.parametrize("given", ["x" * 65, "patient 123", "id;X-Evil=1", ""])
def test_a_request_id_that_is_not_a_plain_token_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] != given
    assert len(response.headers["X-Request-ID"]) == 32


def test_errors_are_logged_with_their_status(client, request_lines):
    client.get("/api/v1/evaluations/no-such-id")
    assert request_lines()[-1].status == 404


def test_the_formatter_writes_one_json_object_per_line(client, request_lines):
    client.get("/healthz", headers={"X-Request-ID": "abc"})
    line = JsonFormatter().format(request_lines()[-1])
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["request_id"] == "abc" and parsed["status"] == 200 and parsed["path"] == "/healthz"
    assert parsed["level"] == "INFO" and parsed["time"].endswith("Z")


def test_no_patient_data_reaches_any_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    context = make_patient(patient={"id": SECRET_ID, "age": 52, "sex": "female"},
                           medications=[{"name": "sertraline"}])
    client.post("/api/v1/evaluate?patient=" + SECRET_ID, json=context)
    client.post("/api/v1/evaluate", json=dict(context, labs={"ferritin": {"value": 1, "unit": SECRET_ID}}))
    written = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "cdss.request" in written
    for secret in (SECRET_ID, "sertraline"):
        assert secret not in written


def test_made_ids_are_random_version_4_uuids(client):
    """Request ids (32 hex digits) and evaluation ids (the dashed form) are RFC 9562 version-4 UUIDs."""
    made = {client.get("/healthz").headers["X-Request-ID"] for _ in range(20)}
    evaluation_id = client.post("/api/v1/evaluate", json=make_patient()).get_json()["evaluation_id"]
    assert len(made) == 20
    for rid in made:
        assert uuid.UUID(hex=rid).version == 4 and uuid.UUID(hex=rid).hex == rid
    parsed = uuid.UUID(evaluation_id)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == evaluation_id
