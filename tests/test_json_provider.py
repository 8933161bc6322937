"""Answers are written by orjson (cdss/json_provider.py) and say exactly what Flask's own provider would."""
import dataclasses
import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

from flask.json.provider import DefaultJSONProvider

from cdss.json_provider import OrjsonProvider

CASES = sorted((Path(__file__).parent / "golden" / "cases").glob("*.json"))


@dataclasses.dataclass
class Point:
    x: int


def both(app, value, **kwargs):
    """(orjson's text, Flask's text) of one value."""
    flask = DefaultJSONProvider(app)
    flask.sort_keys = False
    return OrjsonProvider(app).dumps(value, **kwargs), flask.dumps(value, **kwargs)


def test_every_golden_answer_is_the_same_json(app, client):
    assert isinstance(app.json, OrjsonProvider)
    for path in CASES:
        response = client.post("/api/v1/evaluate", json=json.loads(path.read_text())["request"])
        body = response.get_data(as_text=True)
        ours, flask = both(app, response.json)
        assert json.loads(body) == json.loads(flask) and ours == body.rstrip("\n")
        assert list(json.loads(body)) == list(json.loads(flask))  # the same key order


def test_values_orjson_writes_differently_are_written_as_flask_writes_them(app):
    moment = dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.timezone.utc)
    value = {"when": moment, "day": dt.date(2026, 12, 2), "point": Point(1), "id": uuid.UUID(int=5),
             "amount": Decimal("1.50"), "big": 2**70, "text": "µg/L ≥ 75", 3: "an integer key"}
    ours, flask = both(app, value)
    assert json.loads(ours) == json.loads(flask)
    assert json.loads(ours)["when"] == "Wed, 02 Dec 2026 08:30:00 GMT"


def test_arguments_it_does_not_take_go_to_flask(app):
    ours, flask = both(app, {"b": 1, "a": [1, 2]}, sort_keys=True, indent=4)
    assert ours == flask
    assert both(app, {"a": 1}, indent=2)[0] == '{\n  "a": 1\n}'
