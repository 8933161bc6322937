"""Robustness: no input yields a 5xx, and every 4xx has the one error shape.

hypothesis drives the patient-context schema with JSON shaped like it (and not); schemathesis drives
every operation of /openapi.json. Both are bounded (examples per test) to stay within seconds.
"""
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_patient

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The session's app with one test client for all examples (hypothesis reruns a test body, not its fixtures).
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                    max_leaves=12)
NUMBERS = st.one_of(st.integers(min_value=-1000, max_value=10**6), st.floats(min_value=-1e6, max_value=1e6),
                    st.just(75), st.just(100), st.just(45), st.text(max_size=5), st.none(), st.booleans())
UNITS = st.sampled_from(["ng/mL", "ug/L", "pmol/L", "%", "nmol/L", "g/dL", "g/L", "mmol/L", "ug/dL", "umol/L",
                         "mg", "", "NG/ML"])
LAB = st.fixed_dictionaries({"value": NUMBERS, "unit": UNITS},
                            optional={"taken_at": st.one_of(st.text(max_size=30), st.just("2026-01-02T03:04:05Z"))})
LABS = st.dictionaries(st.sampled_from(["ferritin", "tsat", "folate", "hemoglobin", "serum_iron", "tibc", "other"]),
                       st.one_of(LAB, JSON), max_size=6)
MEDICATION = st.one_of(st.fixed_dictionaries({}, optional={"name": st.one_of(st.sampled_from(
    ["sertraline", "Zoloft", "ferrous sulfate", "pramipexole", "unknown-drug", ""]), st.text(max_size=30)),
    "rxnorm": st.one_of(st.sampled_from(["36437", "6809", "x", ""]), st.text(max_size=12))}), JSON)
CONDITION = st.one_of(st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["pregnancy", "esrd_dialysis", "hemochromatosis", "not-a-condition", ""]),
    "system": st.sampled_from(["icd-10-cm", "snomed", "loinc"]), "code": st.sampled_from(["N18.6", "Z99.2", "E83.110",
                                                                                          "73211009", "!!", ""])}),
    JSON)
CONTEXT = st.fixed_dictionaries({}, optional={
    "patient": st.one_of(st.fixed_dictionaries({}, optional={
        "id": st.one_of(st.text(max_size=20), SCALARS), "age": NUMBERS,
        "birth_date": st.one_of(st.dates().map(str), st.text(max_size=12)),
        "sex": st.sampled_from(["female", "male", "other", "unknown", "F", ""])}), JSON),
    "labs": st.one_of(LABS, JSON),
    "pregnancy": st.one_of(st.fixed_dictionaries({"status": st.sampled_from(
        ["pregnant", "postpartum", "not_pregnant", "maybe"])}, optional={"trimester": NUMBERS,
                                                                          "weeks_postpartum": NUMBERS}), JSON),
    "medications": st.one_of(st.lists(MEDICATION, max_size=4), JSON),
    "conditions": st.one_of(st.lists(CONDITION, max_size=4), JSON),
    "rls": st.one_of(st.fixed_dictionaries({}, optional={"onset_age": NUMBERS, "family_history": SCALARS,
                                                         "criteria": st.dictionaries(st.sampled_from(
                                                             ["urge_to_move", "worse_at_rest", "other"]), SCALARS)}),
                     JSON),
    "extra": JSON,
})


def assert_no_server_error(response):
    """Below 500; a 4xx is the one error shape, with `fields` naming fields when present."""
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        error = response.get_json()["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        for field, messages in error.get("fields", {}).items():
            assert isinstance(field, str) and messages and all(isinstance(text, str) for text in messages)


@pytest.fixture(scope="module")
def fuzz_client(app):
    return app.test_client()


@FUZZ
@given(context=CONTEXT)
def test_patient_contexts_shaped_like_the_schema_never_get_a_5xx(fuzz_client, context):
    assert_no_server_error(fuzz_client.post("/api/v1/evaluate", json=context))


@FUZZ
@given(body=JSON)
def test_any_json_body_never_gets_a_5xx(fuzz_client, body):
    assert_no_server_error(fuzz_client.post("/api/v1/evaluate", json=body))


@FUZZ
@given(raw=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_any_bytes_never_get_a_5xx(fuzz_client, raw, content_type):
    assert_no_server_error(fuzz_client.post("/api/v1/evaluate", data=raw, content_type=content_type))


@FUZZ
@given(section=st.sampled_from(["patient", "labs", "pregnancy", "rls"]), value=JSON)
def test_a_valid_context_with_one_section_replaced_never_gets_a_5xx(fuzz_client, section, value):
    assert_no_server_error(fuzz_client.post("/api/v1/evaluate", json=make_patient(**{section: value})))


def test_the_strategies_reach_valid_contexts(client):
    """Guard against a fuzzer that only ever produces rejections: some generated contexts evaluate."""
    statuses = set()

    @settings(max_examples=150, deadline=None, database=None)
    @given(context=CONTEXT)
    def collect(context):
        statuses.add(client.post("/api/v1/evaluate", json=context).status_code)

    collect()
    assert {200, 400} <= statuses


def operations(app):
    """Every operation of the served document, as schemathesis reads it."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_schemathesis_finds_no_server_error_and_no_malformed_error(app):
    found = operations(app)
    assert len(found) >= 7
    for operation in found:
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call()
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
            native = case.path.startswith(("/api/", "/healthz", "/readyz"))
            if native and response.status_code >= 400:
                error = json.loads(response.text)["error"]
                assert error["code"] and error["message"]

        check()
