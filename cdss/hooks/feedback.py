"""Feedback (spec §Feedback): each item is kept with the card's evaluation, rule ids and ruleset version.

Feedback may come several times for one card and batched across hooks, so an item already stored
(same card, outcome, time and suggestions) is not stored twice. A card this service never issued is
still kept (without evaluation) so no clinician's answer is lost; a card issued by another service
is refused. Nothing is stored from a batch that has a refused item, and a storage failure is an error.
"""
import datetime as dt
import logging

from cdss.errors import InvalidInputError
from cdss.hooks.errors import FeedbackNotStoredError
from cdss.storage import StorageError

log = logging.getLogger(__name__)


def record_feedback(store, service_id, items):
    """Store a validated feedback batch; returns how many items were new."""
    try:
        planned = [plan(store, service_id, index, item) for index, item in enumerate(items)]
        refused = {key: value for key, value, _ in planned if key}
        if refused:
            raise InvalidInputError("the feedback is invalid", refused)
        stored = 0
        for _, _, fields in planned:
            if fields is not None:
                store.record_feedback(**fields)
                stored += 1
    except StorageError as error:
        log.error("feedback for %s not stored: %s", service_id, error)
        raise FeedbackNotStoredError("the feedback could not be stored; send it again") from None
    return stored


def plan(store, service_id, index, item):
    """(error field, messages, None) for a refused item; (None, None, fields or None if stored before)."""
    card = store.get_card(item["card"])
    if card is not None and card.service_id != service_id:
        return f"feedback.{index}.card", ["was not issued by this service"], None
    if card is None:
        log.warning("feedback for a card this service has no record of (service %s)", service_id)
    fields = {
        "service_id": service_id, "card_uuid": item["card"], "outcome": item["outcome"],
        "evaluation_id": card.evaluation_id if card else None,
        "rule_ids": list(card.rule_ids) if card else [],
        "ruleset_version": ruleset_version(store, card),
        "accepted_suggestions": [entry["id"] for entry in item.get("acceptedSuggestions", [])],
        "override_reason": item.get("overrideReason"),
        "outcome_timestamp": item["outcomeTimestamp"].astimezone(dt.timezone.utc),
    }
    return None, None, (None if already_stored(store, fields) else fields)


def ruleset_version(store, card):
    """The version of the ruleset that produced a card, from its evaluation's audit record."""
    if card is None:
        return None
    evaluation = store.get_evaluation(card.evaluation_id)
    return evaluation.ruleset_version if evaluation else None


def already_stored(store, fields):
    """Whether the same feedback item was stored before (clients may send it again)."""
    for record in store.feedback_for(fields["card_uuid"]):
        stamp = record.outcome_timestamp
        if stamp.tzinfo is None:  # SQLite returns naive UTC datetimes
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        if (record.outcome, stamp, list(record.accepted_suggestions), record.override_reason) == (
                fields["outcome"], fields["outcome_timestamp"], fields["accepted_suggestions"],
                fields["override_reason"]):
            return True
    return False
