"""The quick body parse (orjson) reads exactly what the careful one (json, a hook per object) reads, or steps aside.

quick_parse may only ever return None (the careful parse then decides) or the careful parse's very value, types
included (1 is not 1.0): a duplicate key it kept silently, or an integer it turned into a float, would change
the advice. hypothesis writes JSON texts, some with a key repeated at any depth or a huge integer.
"""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdss.body import careful_parse, quick_parse
from cdss.errors import MalformedJsonError

KEYS = st.one_of(st.text(max_size=8), st.sampled_from(['a', 'a:b', 'say "hi"', 'back\\slash', ':', '\\":']))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                    st.sampled_from(['a:b', '"', '\\', 'x":1,"y', 'é', '\u2028']))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(KEYS, inner, max_size=4)), max_leaves=15)


def same(left, right):
    """Equal values of the same types all the way down (True == 1 == 1.0 in Python; not here)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    return left == right


def careful(raw):
    try:
        return careful_parse(raw)
    except MalformedJsonError:
        return MalformedJsonError


def repeat_a_key(text):
    """The text with its first object's first member written twice (another value the second time)."""
    start = text.find("{")
    if start < 0 or text[start + 1] == "}":
        return text
    value = json.loads(text)
    node = value
    while not isinstance(node, dict) or not node:  # the first non-empty object, in text order
        node = next(child for child in (node if isinstance(node, list) else node.values())
                    if isinstance(child, (dict, list)))
    key = json.dumps(next(iter(node)))
    return text.replace("{" + key + ":", "{" + key + ': "first", ' + key + ":", 1)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES, st.booleans(), st.booleans())
def test_the_quick_parse_reads_what_the_careful_one_reads_or_steps_aside(value, ascii_only, repeated):
    text = json.dumps(value, ensure_ascii=ascii_only)
    if repeated:
        try:
            text = repeat_a_key(text)
        except StopIteration:
            pass
    raw = text.encode()
    quick, expected = quick_parse(raw), careful(raw)
    assert quick is None or (expected is not MalformedJsonError and same(quick, expected)), text


@pytest.mark.parametrize("raw", [
    b'{"a": 1, "a": 2}', b'[{"x": {"k": 1, "k": 1}}]', b'{"a": 12345678901234567890123}', b'{"a": -9223372036854775809}',
    b'{"a": NaN}', b'{"a": 1e400}', b'{"a": "\\ud800"}', b'\xef\xbb\xbf{"a": 1}', '{"a": 1}'.encode("utf-16"),
    b'{"a:": "b", "a:": "c"}', b'{"\\"": 1, "\\"": 2}'])
def test_what_the_quick_parse_cannot_judge_goes_to_the_careful_one(raw):
    assert quick_parse(raw) is None


def test_a_plain_context_is_read_by_the_quick_parse():
    raw = b'{"patient": {"age": 40, "sex": "female"}, "labs": {"ferritin": {"value": 12.5, "unit": "ng/mL"}}, ' \
          b'"medications": [{"name": "a:b \\" c"}], "conditions": []}'
    assert same(quick_parse(raw), json.loads(raw))
