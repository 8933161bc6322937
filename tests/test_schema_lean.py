"""LeanSchema loads exactly as marshmallow's own Schema does: the same data, the same errors at the same paths.

Each body is loaded twice, by the patient-context schema as it runs and by one built with marshmallow's
own `_deserialize` and validation (the lean plan switched off), and the outcomes are compared as text,
so types (1 vs 1.0) and the order of keys and messages count too.
"""
import contextlib
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from bench.cases import make_cases
from schemas.context import LabSchema, PatientContextSchema
from schemas.lean import LeanSchema
from tests.conftest import make_patient
from tests.test_fuzz import CONTEXT, JSON, SCALARS

SCHEMA = PatientContextSchema()
ALLERGY = st.one_of(st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["penicillin", "", "iron sucrose"]), "rxnorm": st.sampled_from(["7980", "x", ""]),
    "reaction": st.one_of(st.just("rash"), SCALARS), "severity": st.sampled_from(["mild", "severe", "fatal"])}), JSON)
MORE = st.fixed_dictionaries({}, optional={
    "allergies": st.one_of(st.lists(ALLERGY, max_size=3), JSON),
    "as_of": st.one_of(st.dates().map(str), st.text(max_size=12), SCALARS),
    "conditions": st.lists(st.fixed_dictionaries({}, optional={
        "text": st.sampled_from(["Hereditary hemochromatosis", " ", "", "anything"]),
        "name": st.sampled_from(["pregnancy", "dialysis"]), "system": st.just("icd-10-cm"),
        "code": st.sampled_from(["N18.6", "!"])}), max_size=3),
    "rls": st.fixed_dictionaries({}, optional={"clinically_significant": SCALARS, "onset_age": SCALARS}),
})


@contextlib.contextmanager
def marshmallow_own_path():
    """Schemas built and loaded inside run marshmallow's Schema._deserialize and per-call validation."""
    with mock.patch.object(LeanSchema, "_deserialize", Schema._deserialize), \
            mock.patch.object(LeanSchema, "compile_plan", lambda self: None):
        yield


def outcome(schema, body):
    """The loaded data, or the error messages and the valid part, as text."""
    try:
        return repr(("loaded", schema.load(body)))
    except ValidationError as error:
        return repr(("invalid", error.messages, error.valid_data))


def assert_same_as_marshmallow(body):
    """The running schema and a marshmallow-path one give the same outcome for `body`."""
    with marshmallow_own_path():
        expected = outcome(PatientContextSchema(), body)
    assert outcome(SCHEMA, body) == expected


def test_the_reference_really_takes_marshmallows_path():
    """Guard: the reference schema has no plan and validates per call (else the comparison proves nothing)."""
    with marshmallow_own_path():
        reference = PatientContextSchema()
        reference.load(make_patient())
        assert not hasattr(reference, "_plan")
        assert "_validate" not in reference.fields["patient"].schema.fields["id"].__dict__
    assert SCHEMA._plan and "_validate" in SCHEMA.fields["patient"].schema.fields["id"].__dict__


@pytest.mark.parametrize("body", make_cases(60, seed=3), ids=lambda body: body["patient"]["id"])
def test_generated_cohort_patients_load_the_same(body):
    assert_same_as_marshmallow(body)


@pytest.mark.parametrize("body", [
    make_patient(), {}, [], "text", {"unknown": 1, "other": 2, "patient": {"x": 1}},
    make_patient(patient={"id": "", "age": 200, "sex": "F", "weight_kg": 0}),
    make_patient(labs={"ferritin": {"value": 5}, "tsat": {"unit": "%"}, "other": {}}),
    make_patient(labs={"serum_iron": {"value": 300, "unit": "ug/dL"}, "tibc": {"value": 200, "unit": "ug/dL"}}),
    make_patient(medications=[{}, {"name": ""}, {"rxnorm": "abc"}, "x"], conditions=[{"system": "snomed"}]),
    make_patient(pregnancy={"status": "postpartum", "trimester": 2}, patient={"sex": "male", "age": 30}),
    make_patient(medications=[{"name": "sertraline", "start_date": "2999-01-01"}], as_of="2026-01-01"),
], ids=lambda body: str(body)[:40])
def test_chosen_valid_and_invalid_bodies_load_the_same(body):
    assert_same_as_marshmallow(body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(context=CONTEXT, more=MORE)
def test_generated_bodies_load_the_same(context, more):
    assert_same_as_marshmallow({**context, **more})


def test_partial_and_many_loads_take_marshmallows_path():
    """Options the plan does not cover still work: they run marshmallow's own code."""
    loaded = SCHEMA.load([make_patient(), {"patient": {"age": 3}}], many=True)
    assert [item["patient"]["age"] for item in loaded] == [45, 3]
    assert LabSchema().load({"unit": "%"}, partial=True) == {"unit": "%"}  # `value` is required otherwise


def test_a_dotted_attribute_falls_back_to_marshmallow():
    """marshmallow nests a dotted attribute ({"a": {"b": 1}}); the plan does not, so it is not used."""
    class DottedSchema(LeanSchema):
        value = fields.Integer(attribute="a.b")

    schema = DottedSchema()
    assert schema._plan is None and schema.load({"value": 1}) == {"a": {"b": 1}}
