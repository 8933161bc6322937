"""Request bodies: read within the route's byte limit and parsed as I-JSON (RFC 7493), every problem named.

I-JSON is the interoperable subset of JSON: no duplicate member names (a parser keeping the last one
would silently change the advice), no unpaired surrogates (not Unicode; they cannot be hashed or
stored), and no NaN or Infinity (not JSON at all). Each is a 400 naming where it is. Numbers too large
for a double stay as parsed (1e400 is infinity, a 401-digit integer an int): the schema that reads the
field refuses them by name, and inside FHIR data the mapping drops the one value and says so.
"""
import json
import math
import re
from collections import Counter

import orjson
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from cdss.errors import InvalidInputError, MalformedJsonError, UnsupportedMediaTypeError

MAX_JSON_DEPTH = 20  # a patient context nests 4 deep, a CDS Hooks call with its FHIR Bundles about 10
MAX_INTEGER_DIGITS = 4300  # Python's own limit on int(); a longer integer is read as an infinity, named later
# A surrogate can only come from a \uD800-\uDFFF escape or from CESU-8 bytes (json decodes with surrogatepass).
MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
SURROGATE = re.compile("[\ud800-\udfff]")
BIG_FLOAT = 2.0 ** 63  # orjson reads an integer beyond 64 bits as a float at least this large


class NotANumber:
    """Where a NaN, Infinity or -Infinity literal stood (Python's json accepts them; JSON does not)."""

    def __init__(self, text):
        self.text = text


class RepeatedKeys(dict):
    """A JSON object that named some member more than once (the last value kept, as json would)."""

    repeated = ()


def read_body(limit, current=None):
    """The raw body, refused with 413 past `limit` bytes whether it has a Content-Length or is chunked."""
    if current is None:
        current = request._get_current_object()  # one proxy lookup, not three
    environ = current.environ
    if current.content_length is None and limit is not None and environ.get("wsgi.input_terminated"):
        # Chunked: werkzeug would stop reading at the limit and hand on a truncated body. Read one byte past it.
        raw = environ["wsgi.input"].read(limit + 1)
        if len(raw) > limit:
            raise RequestEntityTooLarge()
        return raw
    return current.get_data(cache=False)


def json_body():
    """The request body as a JSON object, or a 413/415/400 naming what is wrong."""
    current = request._get_current_object()
    if not current.is_json:
        raise UnsupportedMediaTypeError("the body must be JSON (Content-Type: application/json)")
    body = parse_json(read_body(current.max_content_length, current) or b"null")
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object", {"_body": ["must be a JSON object"]})
    return body


def parse_json(raw):
    """Parse bytes as I-JSON; MalformedJsonError names each duplicate key, surrogate or NaN by its path."""
    value = quick_parse(raw)
    if value is None:
        return careful_parse(raw)
    check_depth(raw, value)
    return value


def check_depth(raw, value):
    """A value nests no deeper than the body has brackets: most bodies cannot be too deep, and are not walked."""
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise too_deep()


def quick_parse(raw):
    """orjson's reading of a body that is plainly I-JSON (~14 us for a patient context, against ~36 us with the
    per-object hook below); None whenever the careful parse must decide. orjson refuses what is not I-JSON or
    not UTF-8 (NaN, 1e400, a lone surrogate, a BOM, UTF-16), but keeps the last of a repeated key and reads an
    integer beyond 64 bits as a float: so a body with a \\u escape, a float that could be such an integer,
    or a repeated key goes to the careful parse. Repeated keys: without escapes, every ':' of the body is a
    member separator or a ':' inside a string that was read, so the count falls short only when a member
    was dropped."""
    if b"\\u" in raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if raw.count(b":") == separators_read(value) else None


def separators_read(value):
    """The object members plus the ':' in the keys and strings of a parsed JSON value; -1 for a float of 2**63 or
    more (it may have been an integer that orjson did not keep)."""
    count, pending, strings = 0, [[value]], []
    while pending:
        node = pending.pop()
        if type(node) is dict:
            count += len(node)
            strings.extend(node)
            children = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is str:
                strings.append(child)
            elif kind is dict or kind is list:
                pending.append(child)
            elif kind is float and not -BIG_FLOAT < child < BIG_FLOAT:
                return -1
    return count + "".join(strings).count(":")


def careful_parse(raw):
    """Python's json with a hook per object: every duplicate key, surrogate and NaN found and named."""
    flagged = []

    def pairs_hook(pairs):
        kept = dict(pairs)
        if len(kept) == len(pairs):
            return kept
        flagged.append(True)
        repeated = RepeatedKeys(kept)
        repeated.repeated = sorted(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        return repeated

    def constant(text):
        flagged.append(True)
        return NotANumber(text)

    try:
        try:
            value = json.loads(raw, object_pairs_hook=pairs_hook, parse_constant=constant)
        except ValueError as error:  # rare: only then pay for a Python call per integer
            if "digits" not in str(error):  # "Exceeds the limit (4300 digits) for integer string conversion"
                raise
            value = json.loads(raw, object_pairs_hook=pairs_hook, parse_constant=constant, parse_int=integer)
    except RecursionError:
        raise too_deep() from None
    except ValueError:
        raise MalformedJsonError("the body is not valid JSON") from None
    check_depth(raw, value)
    if flagged or MAYBE_SURROGATE.search(raw):
        found = problems(value)
        if found:
            raise MalformedJsonError("the body is not interoperable JSON (RFC 7493)", found)
    return value


def integer(text):
    """A JSON integer; one longer than Python will convert is read as an infinity of its sign."""
    if len(text) <= MAX_INTEGER_DIGITS:
        return int(text)
    return -math.inf if text.startswith("-") else math.inf


def problems(value, path=""):
    """{path: [message]} for every duplicate key, unpaired surrogate and NaN/Infinity literal in a value."""
    found = {}
    if isinstance(value, NotANumber):
        found[path or "_body"] = [f"{value.text} is not a JSON number"]
    elif isinstance(value, str):
        if SURROGATE.search(value):
            found[path or "_body"] = ["contains an unpaired UTF-16 surrogate (not Unicode text)"]
    elif isinstance(value, (dict, list)):
        for key in getattr(value, "repeated", ()):
            found[join(path, key)] = ["this key appears more than once in the same object"]
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(key, str) and SURROGATE.search(key):
                found[join(path, key)] = ["the key contains an unpaired UTF-16 surrogate"]
            found.update(problems(item, join(path, str(key))))
    return found


def join(path, key):
    """A field path as the error shape writes it: labs.ferritin.value, medications.0.name."""
    key = SURROGATE.sub("\ufffd", key)  # the path itself must be encodable to be sent back
    return f"{path}.{key}" if path else key


def too_deep():
    """The 400 for a body nested deeper than any request this service takes (checked before any schema)."""
    return InvalidInputError("the body is nested too deeply",
                             {"_body": [f"JSON nesting deeper than {MAX_JSON_DEPTH} levels"]})


def json_depth(value, limit):
    """How deeply a parsed JSON value nests (objects and arrays), counted breadth-first up to limit + 1."""
    depth, level = 0, [value] if isinstance(value, (dict, list)) else []
    while level and depth <= limit:
        depth += 1
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
    return depth
