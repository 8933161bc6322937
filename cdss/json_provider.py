"""Responses encoded with orjson: the same JSON Flask's provider writes, in a tenth of the time.

An evaluation answer is ~10 KB of nested reasoning; json.dumps took ~120 µs of a ~1.3 ms request (bench/ladder.py).
orjson writes the same values (UTF-8 instead of \\u escapes, which JSON readers treat alike). Whatever it does not
encode the way Flask's provider would -- dates (Flask writes HTTP dates), dataclasses, a value outside its range,
an argument such as sort_keys -- goes to Flask's provider, so no answer changes meaning.
"""
import orjson
from flask.json.provider import DefaultJSONProvider

OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider, with orjson writing the compact (and indented) forms it supports."""

    sort_keys = False

    def dumps(self, obj, **kwargs):
        """JSON text of `obj`; Flask's provider for any argument or value orjson does not take as it would."""
        indent, separators = kwargs.pop("indent", None), kwargs.pop("separators", None)
        if kwargs or self.sort_keys or indent not in (None, 2) or separators not in (None, (",", ":")):
            return super().dumps(obj, **kwargs, **({"indent": indent} if indent else {}),
                                 **({"separators": separators} if separators else {}))
        try:
            return orjson.dumps(obj, default=self.default, option=OPTIONS | (orjson.OPT_INDENT_2 if indent else 0)
                                ).decode()
        except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits, a key that is not a string
            return super().dumps(obj, **({"indent": indent} if indent else {}))
