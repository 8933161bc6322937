"""Robustness: no input yields a 5xx, and every 4xx has the one error shape.

hypothesis drives the patient-context schema with JSON shaped like it (and not); schemathesis drives
every operation of /openapi.json. Both are bounded (examples per test) to stay within seconds.
"""
import io
import json
import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdss import create_app
from tests.conftest import API_KEY, make_patient

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
    "name": st.sampled_from(["pregnancy", "dialysis", "hemochromatosis", "not-a-condition", ""]),
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


def operations(app, prefix=""):
    """Every operation of the served document (under a path prefix), as schemathesis reads it."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return [operation for operation in (result.ok() for result in schema.get_all_operations())
            if operation.path.startswith(prefix)]


def fuzz_operations(found, headers):
    """Each operation with generated cases: never a 5xx; every error (native and CDS Hooks) in the one shape."""
    for operation in found:
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
            api = case.path.startswith(("/api/", "/cds-services"))
            assert not api or str(response.status_code) in operation.definition.raw["responses"], \
                f"{case.method} {case.formatted_path}: undocumented {response.status_code}"
            if response.status_code >= 400 and (api or case.path.startswith(("/healthz", "/readyz"))):
                error = json.loads(response.text)["error"]
                assert error["code"] and error["message"]

        check()


def test_schemathesis_finds_no_server_error_and_no_malformed_error(app):
    found = operations(app)
    assert len(found) >= 9
    fuzz_operations(found, {"X-API-Key": API_KEY})


def test_every_protected_operation_documents_and_answers_401(app, tmp_path):
    document = app.test_client().get("/openapi.json").get_json()
    secured = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "PATIENT_HASH_SALT": "s",
                          "API_KEYS": app.config["API_KEYS"], "TRUSTED_ISSUERS": {
                              "https://ehr.example.org": {"jwks": {"keys": []}}}}).test_client()
    checked = 0
    for path, methods in document["paths"].items():
        if not path.startswith(("/api/v1/", "/cds-services")):
            continue
        for method, operation in methods.items():
            assert "401" in operation["responses"] and operation["security"], (method, path)
            url = re.sub(r"{[^}]+}", "rls-iron", path)
            response = secured.open(url, method=method.upper(), json={}, headers={"X-API-Key": "not-a-key"})
            assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized", url
            checked += 1
    assert checked >= 7


def test_schemathesis_fuzzes_cds_hooks_bodies(hooks_fuzz_client):
    found = operations(hooks_fuzz_client.application, "/cds-services")
    assert {operation.method.upper() for operation in found} == {"GET", "POST"} and len(found) == 3
    assert all(operation.body for operation in found if operation.method.upper() == "POST")
    fuzz_operations(found, {})


# --- Input a JSON library lets through but the service must not reinterpret (issue 12, item 3) -------------
# A body is drawn, then one to three of its values (or objects) are replaced by text json.dumps cannot write:
# numbers past a double, NaN/Infinity, lone surrogates, a key given twice. Each body is also sent chunked.

class Raw:
    """JSON text written as is."""

    def __init__(self, text):
        self.text = text


class Pairs:
    """A JSON object written from its members in order (so a key may repeat)."""

    def __init__(self, pairs):
        self.pairs = pairs


def dump(value):
    """JSON text of a value that may hold Raw and Pairs."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(key)}:{dump(item)}" for key, item in value.pairs) + "}"
    if isinstance(value, dict):
        return dump(Pairs(list(value.items())))
    if isinstance(value, list):
        return "[" + ",".join(dump(item) for item in value) + "]"
    return json.dumps(value)


HUGE_NUMBERS = st.one_of(st.integers(min_value=309, max_value=5000).map(lambda digits: "9" * digits),
                         st.sampled_from(["1e400", "-1e400", "-" + "1" * 401, "1.5e309"]))
NOT_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity"])
SURROGATES = st.builds(lambda before, code, after: json.dumps(before)[:-1] + f"\\u{code:04x}" + json.dumps(after)[1:],
                       st.text(max_size=5), st.integers(min_value=0xD800, max_value=0xDFFF), st.text(max_size=5))
REINTERPRETED = {"not_a_number": NOT_NUMBERS, "surrogate": SURROGATES}  # refused with 400 wherever they stand


def places(value, path=()):
    """Every (path, node) in a JSON value, the root included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from places(item, (*path, key))


def replaced(value, path, new):
    """A copy of value with the node at path replaced."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    return [replaced(item, rest, new) if index == head else item for index, item in enumerate(value)]


@st.composite
def injected(draw, bodies, numbers_only=False):
    """(kind, JSON text): a drawn body with one to three nodes replaced by one kind of troublesome text."""
    body = draw(bodies)
    kind = draw(st.sampled_from(["huge_number", "not_a_number", "surrogate", "duplicate_key"]))
    candidates = [(path, node) for path, node in places(body) if path or kind == "duplicate_key"]
    if kind == "duplicate_key":
        candidates = [(path, node) for path, node in candidates if isinstance(node, dict) and node]
    elif kind == "huge_number" and numbers_only:  # where a number stands (a ferritin, a gestational age)
        candidates = [(path, node) for path, node in candidates
                      if isinstance(node, (int, float)) and not isinstance(node, bool)]
    if not candidates:
        return "none", dump(body)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path, node = draw(st.sampled_from(candidates))
        if kind == "duplicate_key":
            key = draw(st.sampled_from(sorted(node)))
            new = Pairs([*node.items(), (key, draw(SCALARS))])
        else:
            new = Raw(draw(HUGE_NUMBERS if kind == "huge_number" else REINTERPRETED[kind]))
        body = replaced(body, path, new)
        candidates = [(path, node)]  # further draws land in the same place: the first replacement stays
    return kind, dump(body)


def send(client, path, text, chunked):
    """POST JSON text, with a Content-Length or chunked (no length; the server de-chunks)."""
    if chunked:
        return client.post(path, input_stream=io.BytesIO(text.encode("utf-8", "surrogatepass")),
                           content_type="application/json", environ_overrides={"wsgi.input_terminated": True})
    return client.post(path, data=text.encode("utf-8", "surrogatepass"), content_type="application/json")


@FUZZ
@given(case=injected(CONTEXT), chunked=st.booleans())
def test_native_bodies_with_huge_numbers_nan_surrogates_or_repeated_keys_are_refused(fuzz_client, case, chunked):
    kind, text = case
    response = send(fuzz_client, "/api/v1/evaluate", text, chunked)
    assert_no_server_error(response)
    if kind != "none":  # every value of a native context is read by a field that refuses all four
        assert 400 <= response.status_code < 500, (kind, text[:300])


HOOK_REQUEST = json.loads((Path(__file__).resolve().parent / "hooks" / "fixtures" / "dan-patient-view-full.json")
                          .read_text(encoding="utf-8"))
HOOK_BODIES = st.one_of(st.just(HOOK_REQUEST),
                        st.builds(lambda extra: {**HOOK_REQUEST, "extension": extra}, JSON))


@pytest.fixture(scope="module")
def hooks_fuzz_client(tmp_path_factory):
    """CDS Hooks with authentication off: the fuzzing is about bodies, not callers."""
    database = tmp_path_factory.mktemp("fuzz-hooks") / "cdss.sqlite3"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PATIENT_HASH_SALT": "s",
                       "AUTH_DISABLED": True}).test_client()


@FUZZ
@given(case=injected(HOOK_BODIES, numbers_only=True), chunked=st.booleans())
def test_cds_hooks_bodies_with_the_same_troubles_never_get_a_5xx(hooks_fuzz_client, case, chunked):
    kind, text = case
    response = send(hooks_fuzz_client, "/cds-services/rls-iron", text, chunked)
    assert_no_server_error(response)
    if kind in ("not_a_number", "surrogate", "duplicate_key"):  # not I-JSON: refused wherever they stand
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json", text[:300]
