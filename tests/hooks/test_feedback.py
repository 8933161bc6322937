"""Feedback: validated as the spec says, kept with the card's evaluation, rules and ruleset version."""
import uuid

import pytest

from cdss.storage import StorageError
from tests.hooks.conftest import fixture, post

EXT = "org.rls-cdss.reasoning"


@pytest.fixture()
def oral_iron_card(hooks):
    _, body = post(hooks, "rls-iron", fixture("anna-patient-view-full.json"))
    return next(card for card in body["cards"] if card["extension"][EXT]["recommendation"] == "oral_iron")


def send(client, items, service="rls-iron"):
    response = client.post(f"/cds-services/{service}/feedback", json={"feedback": items})
    return response.status_code, response.get_json()


def test_accepted_feedback_is_kept_with_evaluation_rules_and_ruleset(hooks, hooks_app, oral_iron_card):
    suggestion = oral_iron_card["suggestions"][0]["uuid"]
    item = {"card": oral_iron_card["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion}],
            "outcomeTimestamp": "2026-11-24T10:05:31Z"}
    assert send(hooks, [item]) == (200, {"received": 1, "stored": 1})
    (record,) = hooks_app.extensions["cdss.store"].feedback_for(oral_iron_card["uuid"])
    trace = oral_iron_card["extension"][EXT]
    assert record.evaluation_id == trace["evaluation_id"]
    assert record.rule_ids == [rule["rule"] for rule in trace["rules"]]
    assert record.ruleset_version == trace["ruleset"]["version"]
    assert record.accepted_suggestions == [suggestion]
    assert (record.outcome, record.service_id) == ("accepted", "rls-iron")


def test_overridden_with_a_reason_and_sent_twice_is_kept_once(hooks, hooks_app, oral_iron_card):
    item = {"card": oral_iron_card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-24T12:06:02+02:00",
            "overrideReason": {"reason": {"system": "http://cds-hooks.hl7.org/CodeSystem/non-adherence-reason",
                                          "code": "action-completed"}, "userComment": "Iron panel drawn yesterday"}}
    assert send(hooks, [item])[1]["stored"] == 1
    assert send(hooks, [item])[1]["stored"] == 0  # the client sent it again
    (record,) = hooks_app.extensions["cdss.store"].feedback_for(oral_iron_card["uuid"])
    assert record.override_reason["reason"]["code"] == "action-completed"
    assert record.outcome_timestamp.replace(tzinfo=None).isoformat() == "2026-11-24T10:06:02"  # kept in UTC


INVALID = {
    "accepted without suggestions": ({"outcome": "accepted"}, "feedback.0.acceptedSuggestions"),
    "unknown outcome": ({"outcome": "ignored"}, "feedback.0.outcome"),
    "no timestamp": ({"outcomeTimestamp": None}, "feedback.0.outcomeTimestamp"),
    "timestamp without zone": ({"outcomeTimestamp": "2026-11-24T10:05:31"}, "feedback.0.outcomeTimestamp"),
    "no card": ({"card": None}, "feedback.0.card"),
    "reason without code": ({"overrideReason": {"reason": {"system": "x"}}}, "feedback.0.overrideReason.reason.code"),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_invalid_feedback_is_refused_naming_the_field(hooks, case):
    change, field = INVALID[case]
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:05:31Z", **change}
    status, body = send(hooks, [{key: value for key, value in item.items() if value is not None}])
    assert status == 400 and field in body["error"]["fields"]


def test_an_empty_batch_is_refused(hooks):
    assert send(hooks, [])[0] == 400


def test_feedback_for_a_card_of_another_service_is_refused_and_nothing_stored(hooks, hooks_app, oral_iron_card):
    items = [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:05:31Z"},
             {"card": oral_iron_card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:05:31Z"}]
    status, body = send(hooks, items, service="rls-medication-safety")
    assert status == 400 and "feedback.1.card" in body["error"]["fields"]
    assert hooks_app.extensions["cdss.store"].feedback_for(items[0]["card"]) == []


def test_feedback_for_an_unknown_card_is_kept_without_evaluation(hooks, hooks_app):
    card = str(uuid.uuid4())
    assert send(hooks, [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:05:31Z"}])[0] == 200
    (record,) = hooks_app.extensions["cdss.store"].feedback_for(card)
    assert (record.evaluation_id, record.ruleset_version, record.rule_ids) == (None, None, [])


def test_feedback_that_cannot_be_stored_is_an_error(hooks, hooks_app, monkeypatch):
    def broken(**fields):
        raise StorageError("OperationalError")
    monkeypatch.setattr(hooks_app.extensions["cdss.store"], "record_feedback", broken)
    status, body = send(hooks, [{"card": str(uuid.uuid4()), "outcome": "overridden",
                                 "outcomeTimestamp": "2026-11-24T10:05:31Z"}])
    assert status == 503 and body["error"]["code"] == "feedback_not_stored"


def test_feedback_for_an_unknown_service_is_404(hooks):
    assert send(hooks, [{"card": "x", "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:05:31Z"}],
                service="nope")[0] == 404
